package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"keyport/web/webtest"
)

// TestBrowserRotation is issue 6's story in a real browser against
// `keyport dev`: register the demo key, set a rotation policy, see the next
// date and the planned notices, rotate now, see the new version, and find
// the "rotated" email on the mail catcher page (delivered by the job
// worker through the outbox over SMTP).
func TestBrowserRotation(t *testing.T) {
	ctx := webtest.Browser(t, 150*time.Second)
	base := startDev(t, nil)
	p := webtest.Page{T: t, Ctx: ctx, Prefix: "rotation-"}

	p.Step("sign in", then(signIn(base, "erin@rotate.test", "Erin Owner"),
		actions{chromedp.WaitVisible(chromedp.CSS(`[data-testid="devbar-aws"]`))})...)
	p.Step("open the connection form",
		chromedp.Navigate(base+"/connections/new"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="demo-aws"]`)),
	)
	account, akid, secret := p.Text(`[data-testid="demo-account"]`), p.Text(`[data-testid="demo-akid"]`), p.Text(`[data-testid="demo-secret"]`)
	p.Step("connect the demo account and register the demo key",
		chromedp.SendKeys(chromedp.CSS(`#name`), "demo account"),
		chromedp.SendKeys(chromedp.CSS(`#account_id`), account),
		chromedp.Click(chromedp.CSS(`[data-testid="kind-access-key"]`)),
		chromedp.SendKeys(chromedp.CSS(`#access_key_id`), akid),
		chromedp.SendKeys(chromedp.CSS(`#secret_access_key`), secret),
		chromedp.Click(chromedp.CSS(`[data-testid="save-connection"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="connection"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="register-with"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="policy-statement"]`)),
		chromedp.SetValue(chromedp.CSS(`#name`), "billing"),
		chromedp.Click(chromedp.CSS(`[data-testid="submit-register"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="key"]`)),
	)
	keyURL, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	keyURL, _, _ = strings.Cut(keyURL, "?")

	p.Step("set a policy",
		chromedp.Navigate(keyURL+"/rotation"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="policy-form"]`)),
		chromedp.SetValue(chromedp.CSS(`#period_days`), "90"),
		chromedp.SetValue(chromedp.CSS(`#notice_days`), "14, 2"),
		chromedp.SetValue(chromedp.CSS(`#window_start_hour`), "4"),
		chromedp.Click(chromedp.CSS(`[data-testid="save-policy"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="rotation-flash"]`)),
	)
	want := time.Now().UTC().AddDate(0, 0, 90)
	if next := p.Text(`[data-testid="next-rotation"]`); next != want.Format("2006-01-02")+" 04:00 UTC" &&
		next != want.AddDate(0, 0, -1).Format("2006-01-02")+" 04:00 UTC" { // the key may have been made just before midnight
		t.Errorf("next rotation shown %q, want %s at 04:00 UTC", next, want.Format("2006-01-02"))
	}
	if n := p.Count(`[data-testid="planned-notice"]`); n != 2 {
		t.Errorf("planned notices = %d; want 2 (14 and 2 days before)", n)
	}
	if got := p.Text(`[data-testid="current-version"]`); got != "1" {
		t.Errorf("current version before rotating = %q", got)
	}
	webtest.Screenshot(t, ctx, "rotation-policy")

	p.Step("rotate now",
		chromedp.Click(chromedp.CSS(`[data-testid="rotate-now"]`)),
		// Rotate now asks first, naming what it does and costs.
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="confirm-rotate"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="confirm-rotate"]`)),
		chromedp.WaitVisible(chromedp.CSS(`tbody tr:nth-child(2)[data-testid="version-row"]`)),
	)
	if got := p.Text(`[data-testid="current-version"]`); got != "2" {
		t.Errorf("current version after rotating = %q, want 2", got)
	}
	if flash := p.Text(`[data-testid="rotation-flash"]`); !strings.Contains(flash, "Key rotated") {
		t.Errorf("flash = %q", flash)
	}
	if n := p.Count(`[data-testid="version-row"]`); n != 2 {
		t.Errorf("version rows = %d, want 2", n)
	}

	// The demo key is AWS-generated (mode 1): its KMS material rotates on
	// demand, after a confirmation, and a new data-key version follows.
	p.Step("rotate the KMS key material",
		chromedp.Click(chromedp.CSS(`[data-testid="rotate-kms-open"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="rotate-kms-confirm"]`)),
	)
	webtest.Screenshot(t, ctx, "rotation-kms-confirm")
	p.Step("confirm",
		chromedp.Click(chromedp.CSS(`[data-testid="rotate-kms-confirm"]`)),
		chromedp.WaitVisible(chromedp.CSS(`tbody tr:nth-child(3)[data-testid="version-row"]`)),
	)
	if flash := p.Text(`[data-testid="rotation-flash"]`); !strings.Contains(flash, "KMS key material rotated: data-key version 3") {
		t.Errorf("flash after the KMS rotation = %q", flash)
	}

	// The worker delivers the outbox within its poll interval.
	deadline := time.Now().Add(20 * time.Second)
	for {
		p.Step("mail page", chromedp.Navigate(base+"/dev/mail"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="dev-mail"]`)))
		if strings.Contains(p.Text(`[data-testid="dev-mail"]`), "Key billing was rotated to version 2") {
			break
		}
		if time.Now().After(deadline) {
			webtest.Screenshot(t, ctx, "rotation-mail")
			t.Fatal("the rotated email did not reach the mail catcher in 20s")
		}
		time.Sleep(500 * time.Millisecond)
	}
	webtest.Screenshot(t, ctx, "rotation-mail")
}
