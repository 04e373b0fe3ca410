package web_test

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"keyport/models"
	"keyport/web/webtest"
)

// TestBrowserUsageCharts: at 1366 px in Chromium, under the page's CSP, the
// key page and the dashboard draw their usage charts (the SVG has a size,
// so no refused style hid it) and the table alternative opens; screenshots
// are saved for a person to look at.
func TestBrowserUsageCharts(t *testing.T) {
	ctx := webtest.Browser(t, 120*time.Second)
	s := newStack(t, nil)
	b := newBrowser(t)
	s.signIn(t, b, dana)
	keyID := s.registerKey(t, b, "orders")
	// A working week's pattern: busy days, quiet nights, a cache that
	// serves most decrypts.
	now := time.Now().UTC()
	var us []models.KeyUsage
	for h := range 24 * 40 {
		at := now.Add(-time.Duration(h) * time.Hour)
		load := int64(20 + 15*(at.Hour()%12) + 7*(h%5))
		if at.Weekday() == time.Saturday || at.Weekday() == time.Sunday {
			load /= 4
		}
		us = append(us, models.KeyUsage{KeyID: keyID, Period: at.Format("2006-01-02T15"), Encrypts: load, Decrypts: 2 * load,
			Datakeys: load / 5, CacheHits: 2*load - load/10, KMSCalls: load/10 + 1})
	}
	if err := s.DB.AddKeyUsage(context.Background(), us); err != nil {
		t.Fatal(err)
	}
	p := webtest.Page{T: t, Ctx: ctx, Prefix: "charts-"}
	s.IdP.Queue(dana)
	p.Step("sign in", chromedp.EmulateViewport(1366, 900), chromedp.Navigate(s.URL+"/auth/login"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="dashboard"]`)))
	for _, tc := range []struct{ name, path, scope string }{{"key", "/keys/" + keyID, "key"}, {"dashboard", "/dashboard", "tenant"}} {
		svg := `[data-testid="usage-` + tc.scope + `-hourly-svg"]`
		p.Step("open "+tc.name, chromedp.Navigate(s.URL+tc.path), chromedp.WaitVisible(chromedp.CSS(svg)))
		h, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`document.querySelector('`+svg+`').getBoundingClientRect().height`))
		if err != nil || h < 150 {
			t.Errorf("%s: hourly chart is %v px tall (%v)", tc.name, h, err)
		}
		if n := p.Count(`[data-testid="usage-` + tc.scope + `-hourly"] polyline`); n != 5 {
			t.Errorf("%s: %d lines drawn, want 5", tc.name, n)
		}
		webtest.Screenshot(t, ctx, "charts-"+tc.name)
		p.Step("open the table on "+tc.name, chromedp.Click(chromedp.CSS(`[data-testid="usage-`+tc.scope+`-daily"] summary`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="usage-`+tc.scope+`-daily-table"]`)))
	}
}
