package web_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"keyport/keysvc"
	"keyport/keysvc/awskms"
	"keyport/web/webtest"
)

// TestBrowserUndoSequence is issue 14's bug in Chromium at 1366 px:
// Create -> Renew -> Undo -> Rotate material in place, after which "Undo
// renewal" must not be offered (it made the abandoned KMS key current and
// discarded the in-place rotation). It then walks the Rotate page and
// Rotate now, and reads the versions timeline. Screenshots:
// timeline-key-page, timeline-rotate-page, timeline-after-rotate-now.
func TestBrowserUndoSequence(t *testing.T) {
	ctx := webtest.Browser(t, 150*time.Second)
	s := lifecycleStack(t)
	p := webtest.Page{T: t, Ctx: ctx, Prefix: "timeline-fail-"}

	s.IdP.Queue(erin)
	p.Step("sign in at 1366 px", chromedp.EmulateViewport(1366, 900), chromedp.Navigate(s.URL+"/auth/login"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="dashboard"]`)))
	if _, err := s.Keys.CreateConnection(context.Background(), s.tenantOf(t, erin), keysvc.RequestBy{UserID: "setup"}, keysvc.ConnectionInput{
		Name: "tenant role", AccountID: awsTenantAcct, DefaultRegion: awsRegion, Kind: awskms.KindAssumeRole, RoleARN: awsRoleARN}); err != nil {
		t.Fatal(err)
	}
	p.Step("create a key store", chromedp.Navigate(s.URL+"/stores"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="store-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`#name`), "production"), chromedp.Click(chromedp.CSS(`[data-testid="create-store"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="create-key-form"]`)))
	p.Step("create a key", chromedp.SendKeys(chromedp.CSS(`#key_name`), "orders"), chromedp.Click(chromedp.CSS(`[data-testid="create-key"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="timeline-row"][data-version="v1"]`)))
	confirm := func(action, version string) {
		t.Helper()
		p.Step(action, chromedp.Click(chromedp.CSS(`[data-testid="`+action+`"]`)), chromedp.WaitVisible(chromedp.CSS(`[data-testid="confirm-`+action+`"]`)),
			chromedp.Click(chromedp.CSS(`[data-testid="confirm-`+action+`"]`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="timeline-row"][data-version="`+version+`"]`)))
	}
	confirm("renew", "v2")
	if p.Count(`[data-testid="undo"]`) != 1 {
		t.Fatal("Undo renewal is not offered right after a renewal")
	}
	confirm("undo", "v3")
	if p.Count(`[data-testid="undo"]`) != 0 {
		t.Fatal("Undo renewal is offered again right after the undo")
	}
	confirm("rotate-material", "v4")
	if p.Count(`[data-testid="undo"]`) != 0 {
		t.Fatal("Undo renewal is offered after Create, Renew, Undo, Rotate material in place")
	}
	kinds := []string{}
	for _, k := range []string{"created", "renewal", "undo", "in_place"} {
		if p.Count(`[data-testid="timeline-row"][data-kind="`+k+`"]`) != 1 {
			kinds = append(kinds, k)
		}
	}
	if len(kinds) > 0 {
		t.Fatalf("the timeline lacks %v", kinds)
	}
	if got := p.Text(`[data-testid="quotable-current"]`); got != "v4" {
		t.Errorf("quotable version %q, want v4", got)
	}
	p.Step("show the timeline", chromedp.ScrollIntoView(chromedp.CSS(`[data-testid="versions-timeline-card"]`)))
	webtest.Screenshot(t, ctx, "timeline-key-page")

	p.Step("open the Rotate page", chromedp.Click(chromedp.CSS(`[data-testid="rotate-options-link"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="rotate-options"]`)))
	if p.Count(`[data-testid="option-undo-go"]`) != 0 || p.Count(`[data-testid="option-undo-none"]`) != 1 {
		t.Fatal("the Rotate page offers Undo renewal after the in-place rotation")
	}
	if n := p.Count(`[data-testid="option-not-offered"]`); n != 2 {
		t.Errorf("%d options explained as not available, want the 2 KMS-only ones", n)
	}
	webtest.Screenshot(t, ctx, "timeline-rotate-page")
	p.Step("rotate now", chromedp.Click(chromedp.CSS(`[data-testid="option-rotate-go"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="confirm-rotate"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="confirm-rotate"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="rotation-flash"]`)))
	if flash := p.Text(`[data-testid="rotation-flash"]`); !strings.Contains(flash, "Key rotated") {
		t.Fatalf("rotate now: %q", flash)
	}
	p.Step("back to the key", chromedp.Click(chromedp.CSS(`[data-testid="rotation-page"] a`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="timeline-row"][data-version="v5"][data-kind="data_key"]`)),
		chromedp.ScrollIntoView(chromedp.CSS(`[data-testid="versions-timeline-card"]`)))
	webtest.Screenshot(t, ctx, "timeline-after-rotate-now")
}
