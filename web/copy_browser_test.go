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

// TestBrowserCopyButtons: the trust policy and the external id a tenant
// pastes into AWS each get a Copy button that puts exactly the text shown
// on the clipboard and says so.
func TestBrowserCopyButtons(t *testing.T) {
	ctx := webtest.Browser(t, 90*time.Second)
	s := newStack(t, nil)
	p := webtest.Page{T: t, Ctx: ctx, Prefix: "ux-copy-"}
	s.IdP.Queue(erin)
	p.Step("sign in", chromedp.Navigate(s.URL+"/auth/login"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="dashboard"]`)))
	c, err := s.Keys.CreateConnection(context.Background(), s.tenantOf(t, erin), keysvc.RequestBy{UserID: "setup"}, keysvc.ConnectionInput{
		Name: "tenant role", AccountID: awsTenantAcct, DefaultRegion: awsRegion, Kind: awskms.KindAssumeRole, RoleARN: awsRoleARN})
	if err != nil {
		t.Fatal(err)
	}
	grant := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		return tg.Call(ctx, "Browser.grantPermissions", map[string]any{
			"origin": s.URL, "permissions": []string{"clipboardReadWrite", "clipboardSanitizedWrite"}}, nil)
	})
	p.Step("open connection", grant, chromedp.Navigate(s.URL+"/connections/"+c.ID),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="trust-policy"] + .copybar button`)))
	if n := p.Count(`.copybar button[data-testid="copy"]`); n < 2 {
		t.Errorf("%d copy buttons on a role connection's page, want the trust policy's and the external id's", n)
	}
	for _, tc := range []struct{ field, label string }{{"trust-policy", "Copy trust policy"}, {"external-id", "Copy external id"}} {
		button := `[data-testid="` + tc.field + `"] + .copybar button`
		if got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('`+button+`').getAttribute("aria-label")`)); err != nil || got != tc.label {
			t.Errorf("%s button labelled %q (%v)", tc.field, got, err)
		}
		p.Step("copy "+tc.field, chromedp.Click(chromedp.CSS(button)),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="`+tc.field+`"] + .copybar .copy-status`)))
		copied, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("read the clipboard: %v", err)
		}
		if shown := p.Text(`[data-testid="` + tc.field + `"]`); strings.TrimSpace(copied) != shown || shown == "" {
			t.Errorf("copied %q, the page shows %q", copied, shown)
		}
		if st := p.Text(`[data-testid="` + tc.field + `"] + .copybar .copy-status`); !strings.HasPrefix(st, "Copied ") {
			t.Errorf("after copying %s the page says %q", tc.field, st)
		}
	}
	webtest.Screenshot(t, ctx, "ux-copy-connection")
}
