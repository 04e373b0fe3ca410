package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"keyport/web/webtest"
)

// TestBrowserInviteAuditor is the story: an owner invites a
// colleague as auditor, the email reaches the mail catcher, the link is
// refused to someone signed in with another email, the colleague signs in
// and sees the tenant read-only, and when the owner removes them their open
// session ends.
func TestBrowserInviteAuditor(t *testing.T) {
	owner := webtest.Browser(t, 150*time.Second)
	base := startDev(t, nil)
	step := func(ctx context.Context, name string, acts ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		webtest.Page{T: t, Ctx: ctx, Prefix: "members-"}.Step(name, acts...)
	}

	step(owner, "owner signs in", then(signIn(base, "carol@acme.test", "Carol Owner"),
		actions{chromedp.WaitVisible(chromedp.CSS(`[data-testid="dashboard"]`))})...)
	text, link := inviteByEmail(webtest.Page{T: t, Ctx: owner, Prefix: "members-"}, base, "dave@partner.test", "auditor")
	for _, want := range []string{"Carol Owner", "acme.test", "auditor", "changes nothing", "expires on"} {
		if !strings.Contains(text, want) {
			t.Errorf("invitation email lacks %q:\n%s", want, text)
		}
	}

	// Someone else with the link is refused, whatever they sign in as.
	// Separate browser contexts: separate cookie jars in one Chromium.
	eve := newPerson(t, owner)
	step(eve, "another email is refused", then(
		actions{chromedp.Navigate(link),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="invitation-signin"]`)),
			chromedp.Click(chromedp.CSS(`[data-testid="invitation-signin"]`))},
		idpSignIn("eve@elsewhere.test", "Eve"),
		actions{chromedp.WaitVisible(chromedp.CSS(`[data-testid="problem"][data-status="403"]`))},
	)...)
	if heading, _ := chromedp.Run(eve, chromedp.Text(chromedp.CSS(`[data-testid="problem"] h1`))); heading != "This invitation is for someone else" {
		t.Errorf("eve sees %q", heading)
	}

	// The colleague accepts; the token is gone from the address bar.
	dave := newPerson(t, owner)
	step(dave, "the colleague opens the link",
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="invitation"]`)),
	)
	if loc, _ := chromedp.Run(dave, chromedp.Location()); loc != base+"/invite" {
		t.Errorf("after the link the address is %s", loc)
	}
	step(dave, "the colleague signs in and accepts", signInAndAccept("Dave@Partner.test", "Dave Auditor")...)
	if tenant, _ := chromedp.Run(dave, chromedp.Text(chromedp.CSS(`[data-testid="tenant-name"]`))); tenant != "acme.test" {
		t.Errorf("colleague's tenant = %q", tenant)
	}
	step(dave, "the colleague sees members read-only",
		chromedp.Navigate(base+"/members"),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-email="carol@acme.test"]`)),
	)
	if n, _ := chromedp.Run(dave, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="invite"], [data-testid="remove-member"], [data-testid="change-role"]').length`)); n != 0 {
		t.Errorf("auditor sees %d management controls", n)
	}
	webtest.Screenshot(t, dave, "members-auditor")

	step(owner, "the owner removes the colleague",
		chromedp.Navigate(base+"/members"),
		// Dave signed in as Dave@Partner.test: the IdP's spelling is kept.
		chromedp.WaitVisible(chromedp.CSS(`tr[data-email="dave@partner.test" i]`)),
		// Remove asks first: the fold-out names the member, then removes.
		chromedp.Click(chromedp.CSS(`tr[data-email="dave@partner.test" i] [data-testid="remove-member"]`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-email="dave@partner.test" i] [data-testid="confirm-remove"]`)),
		chromedp.Click(chromedp.CSS(`tr[data-email="dave@partner.test" i] [data-testid="confirm-remove"]`)),
		chromedp.WaitVisible(chromedp.CSS(`p.flash`)),
	)
	step(dave, "the colleague's open session has ended",
		chromedp.Navigate(base+"/members"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="signin-page"]`)),
	)
}
