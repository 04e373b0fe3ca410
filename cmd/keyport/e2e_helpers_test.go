package main

import (
	"context"
	"regexp"
	"testing"

	"github.com/chromedp/chromedp"

	"keyport/web/webtest"
)

type actions = []chromedp.Action[chromedp.Void]

// signIn opens base, follows "sign in" and fills the development IdP's
// form (name left alone when empty). Callers append what to wait for.
func signIn(base, email, name string) actions {
	return then(actions{chromedp.Navigate(base), chromedp.Click(chromedp.CSS(`[data-testid="signin"]`))},
		idpSignIn(email, name))
}

// idpSignIn fills the development IdP's form.
func idpSignIn(email, name string) actions {
	acts := actions{
		chromedp.WaitVisible(chromedp.CSS(`#email`)),
		chromedp.SendKeys(chromedp.CSS(`#email`), email),
	}
	if name != "" {
		acts = append(acts, chromedp.SendKeys(chromedp.CSS(`#name`), name))
	}
	return append(acts, chromedp.Click(chromedp.CSS(`#signin`)))
}

// then joins action lists.
func then(parts ...actions) actions {
	var out actions
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// newPerson opens a tab in a new browser context of parent's Chromium:
// another person, with a cookie jar of their own.
func newPerson(t *testing.T, parent context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(parent, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// Start the tab on its own context: a tab first used under a step's
	// timeout would close when that step ends.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("new browser context: %v", err)
	}
	return ctx
}

var invitationLink = regexp.MustCompile(`http://\S+/invite\?token=[A-Za-z0-9_-]+`)

// inviteByEmail has the owner signed in on p invite email as role, opens
// the invitation in the development mail catcher and returns its text and
// the link in it.
func inviteByEmail(p webtest.Page, base, email, role string) (text, link string) {
	p.T.Helper()
	p.Step("owner invites "+email+" as "+role,
		chromedp.Navigate(base+"/members"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="invite"]`)),
		chromedp.SendKeys(chromedp.CSS(`#invite-email`), email),
		chromedp.SetValue(chromedp.CSS(`#invite-role`), role),
		chromedp.Click(chromedp.CSS(`[data-testid="invite-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-testid="invitation-row"][data-email="`+email+`"]`)),
	)
	p.Step("the email arrives at the mail catcher",
		chromedp.Navigate(base+"/dev/mail"),
		chromedp.Click(chromedp.CSS(`a[href^="/dev/mail/"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="mail-text"]`)),
	)
	text = p.Text(`[data-testid="mail-text"]`)
	if link = invitationLink.FindString(text); link == "" {
		p.T.Fatalf("no invitation link in the email:\n%s", text)
	}
	return text, link
}

// signInAndAccept goes on from an open invitation: sign in at the
// development IdP as email, accept, and land on the dashboard.
func signInAndAccept(email, name string) actions {
	return then(actions{chromedp.Click(chromedp.CSS(`[data-testid="invitation-signin"]`))},
		idpSignIn(email, name),
		actions{chromedp.WaitVisible(chromedp.CSS(`[data-testid="invitation-accept"]`)),
			chromedp.Click(chromedp.CSS(`[data-testid="invitation-accept"]`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="dashboard"]`))})
}
