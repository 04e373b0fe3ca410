package main

import (
	"github.com/chromedp/chromedp"
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
