package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"keyport/web/webtest"
)

// TestBrowserRegisterDemoKey is the registration flow in a real
// browser against `keyport dev`: sign in, connect the demo AWS account
// (kmslocal) with the access key the page shows, test the connection,
// register the demo key and see every validation check pass.
func TestBrowserRegisterDemoKey(t *testing.T) {
	ctx := webtest.Browser(t, 150*time.Second)
	base := startDev(t, nil)
	p := webtest.Page{T: t, Ctx: ctx, Prefix: "keys-"}
	failing := func() int {
		t.Helper()
		nodes, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSS(`[data-testid="check"][data-ok="false"]`), chromedp.AtLeast(0)))
		if err != nil {
			t.Fatalf("count failing checks: %v", err)
		}
		return len(nodes)
	}

	p.Step("sign in", then(signIn(base, "dana@demo.test", "Dana Admin"), actions{
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="dashboard"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="devbar-aws"]`)),
	})...)
	p.Step("open the connection form",
		chromedp.Click(chromedp.CSS(`a[href="/connections"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="connections-empty"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="add-connection"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="demo-aws"]`)),
	)
	account, akid, secret := p.Text(`[data-testid="demo-account"]`), p.Text(`[data-testid="demo-akid"]`), p.Text(`[data-testid="demo-secret"]`)
	if account != "111122223333" || !strings.HasPrefix(akid, "AKIA") || len(secret) != 40 {
		t.Fatalf("demo account shown: %q %q (%d-character secret)", account, akid, len(secret))
	}
	p.Step("connect the demo account",
		chromedp.SendKeys(chromedp.CSS(`#name`), "demo account"),
		chromedp.SendKeys(chromedp.CSS(`#account_id`), account),
		chromedp.Click(chromedp.CSS(`[data-testid="kind-access-key"]`)),
		chromedp.SendKeys(chromedp.CSS(`#access_key_id`), akid),
		chromedp.SendKeys(chromedp.CSS(`#secret_access_key`), secret),
		chromedp.Click(chromedp.CSS(`[data-testid="save-connection"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="connection"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="test-connection"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="checks"]`)),
	)
	if n := failing(); n != 0 {
		webtest.Screenshot(t, ctx, "keys-connection-test")
		t.Fatalf("%d connection checks failed", n)
	}
	if got := p.Text(`[data-testid="access-key-last4"]`); got != "…"+akid[len(akid)-4:] {
		t.Errorf("access key shown as %q", got)
	}
	p.Step("register the demo key",
		chromedp.Click(chromedp.CSS(`[data-testid="register-with"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="policy-statement"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="submit-register"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="key"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="checks"]`)),
	)
	if n := failing(); n != 0 {
		webtest.Screenshot(t, ctx, "keys-validation")
		t.Fatalf("%d validation checks failed", n)
	}
	if h := p.Text(`[data-testid="key"] [data-testid="status"]`); h != "Active" {
		t.Errorf("status shown = %q", h)
	}
	webtest.Screenshot(t, ctx, "key-registered")
	p.Step("dashboard shows key health",
		chromedp.Navigate(base+"/dashboard"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="key-health"]`)),
	)
}
