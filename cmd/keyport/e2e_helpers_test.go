package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"keyport/web/webtest"
)

type actions = []chromedp.Action[chromedp.Void]

// page is one browser tab of a browser test: step runs actions under a
// per-step timeout and screenshots a failure as prefix+name; text reads a
// selector's trimmed text.
type page struct {
	t      *testing.T
	ctx    context.Context
	prefix string
}

func (p page) step(name string, acts ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	sctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, acts...); err != nil {
		webtest.Screenshot(p.t, p.ctx, p.prefix+name)
		p.t.Fatalf("%s: %v", name, err)
	}
}

func (p page) text(sel string) string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		p.t.Fatalf("read %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

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
