package web_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"keyport/handlers"
	"keyport/models"
	"keyport/web/webtest"
)

// listsScreens saves the lists' screenshots where the closing note
// names them (/work/screens when it exists, else the default directory).
func listsScreens(t *testing.T) {
	if os.Getenv("KEYPORT_SCREENSHOTS") == "" {
		if st, err := os.Stat("/work/screens"); err == nil && st.IsDir() {
			t.Setenv("KEYPORT_SCREENSHOTS", "/work/screens")
		}
	}
}

// rowHeights returns the height in px of every element matching sel.
func rowHeights(t *testing.T, p webtest.Page, sel string) []int {
	t.Helper()
	hs, err := chromedp.Run(p.Ctx, chromedp.Evaluate[[]int](`[...document.querySelectorAll('`+sel+`')].map(r => Math.round(r.getBoundingClientRect().height))`))
	if err != nil {
		t.Fatal(err)
	}
	return hs
}

// TestBrowserLists: issue 14 #6 and #8 at 1366 px. The keys list fits the
// page with one line per key, searches and pages; the audit log keeps one
// line per event with its details expanding on demand; connections name
// their keys; All tenants shows owners and ids.
func TestBrowserLists(t *testing.T) {
	listsScreens(t)
	ctx := webtest.Browser(t, 180*time.Second)
	s := newStack(t, func(c *handlers.Config) { c.Operators = []string{erin.Email} })
	p := webtest.Page{T: t, Ctx: ctx, Prefix: "lists-fail-"}
	s.IdP.Queue(erin)
	p.Step("sign in at 1366 px", chromedp.EmulateViewport(1366, 900), chromedp.Navigate(s.URL+"/auth/login"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="dashboard"]`)))
	tenant := s.tenantOf(t, erin)

	p.Step("empty keys list", chromedp.Navigate(s.URL+"/keys"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="keys-empty"]`)))
	seed := newListSeed(t, s, tenant)
	now := s.Clock.Now()
	for i := 0; i < 60; i++ {
		used := time.Time{}
		if i%4 == 0 {
			used = now.Add(-time.Duration(i) * time.Hour)
		}
		seed.add(t, fmt.Sprintf("orders service %02d", i), used)
	}
	// A rename with long details, to expand in the audit log.
	if _, err := s.DB.RenameKey(context.Background(), tenant, seed.add(t, "renamed", time.Time{}), "orders service for every region we run in, production",
		models.AuditInput{Actor: s.userID(t, erin), Action: "key.renamed"}); err != nil {
		t.Fatal(err)
	}

	p.Step("keys list", chromedp.Navigate(s.URL+"/keys"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="keys-table"]`)))
	if n := p.Count(`[data-testid="key-row"]`); n != 50 {
		t.Errorf("%d keys on the first page, want 50", n)
	}
	fits, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const t = document.querySelector('[data-testid="keys-table"]'); return t.getBoundingClientRect().right <= t.closest('.card').getBoundingClientRect().right; })()`))
	if err != nil || !fits {
		t.Errorf("the keys table is wider than its card at 1366 px (%v)", err)
	}
	for i, h := range rowHeights(t, p, `[data-testid="key-row"]`) {
		if h > 44 {
			t.Errorf("key row %d is %d px tall: it wraps", i, h)
			break
		}
	}
	webtest.Screenshot(t, ctx, "lists-keys")

	p.Step("search", chromedp.SetValue(chromedp.CSS(`#q`), "SERVICE 1"), chromedp.Click(chromedp.CSS(`[data-testid="keys-search-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="keys-search-clear"]`)))
	if n := p.Count(`[data-testid="key-row"]`); n != 10 {
		t.Errorf("searching SERVICE 1 shows %d keys, want 10", n)
	}
	p.Step("sort by last use", chromedp.Click(chromedp.CSS(`[data-testid="sort-last_used"]`)), chromedp.WaitVisible(chromedp.CSS(`th[aria-sort="ascending"] [data-testid="sort-last_used"]`)))
	if q := p.Text(`[data-testid="keys-count"]`); !strings.Contains(q, "SERVICE 1") {
		t.Errorf("sorting lost the search: %q", q)
	}
	webtest.Screenshot(t, ctx, "lists-keys-search")
	p.Step("no match", chromedp.Navigate(s.URL+"/keys?q=nothing+like+this"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="keys-no-match"]`)))
	if v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#q').value`)); err != nil || v != "nothing like this" {
		t.Errorf("the search box after no match holds %q (%v)", v, err)
	}
	webtest.Screenshot(t, ctx, "lists-keys-nomatch")
	p.Step("second page", chromedp.Navigate(s.URL+"/keys"), chromedp.Click(chromedp.CSS(`[data-testid="keys-next"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="keys-prev"]`)))
	if n := p.Count(`[data-testid="key-row"]`); n != 11 {
		t.Errorf("%d keys on the second page, want 11", n)
	}

	p.Step("audit log", chromedp.Navigate(s.URL+"/audit"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="audit-table"]`)))
	if fits, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const t = document.querySelector('[data-testid="audit-table"]'); return t.getBoundingClientRect().right <= t.closest('.card').getBoundingClientRect().right; })()`)); err != nil || !fits {
		t.Errorf("the audit table is wider than its card at 1366 px (%v)", err)
	}
	hs := rowHeights(t, p, `[data-testid="audit-row"]`)
	if len(hs) < 40 {
		t.Fatalf("%d audit rows", len(hs))
	}
	for i, h := range hs {
		if h > 44 {
			t.Errorf("audit row %d is %d px tall: it wraps", i, h)
			break
		}
	}
	if p.Count(`[data-testid="audit-details"]`) == 0 {
		t.Fatal("no long details to expand")
	}
	p.Step("expand details", chromedp.Click(chromedp.CSS(`[data-testid="audit-details"] summary`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="audit-details"][open] .full`)))
	if who := p.Text(`[data-testid="audit-row"] [data-testid="actor"]`); strings.HasPrefix(who, "usr_") {
		t.Errorf("the audit log names a person %q", who)
	}
	webtest.Screenshot(t, ctx, "lists-audit")

	p.Step("connections", chromedp.Navigate(s.URL+"/connections"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="connection-keys"]`)))
	if got := p.Text(`[data-testid="connection-keys"]`); !strings.HasPrefix(got, "61 keys") || !strings.Contains(got, "and 56 more") {
		t.Errorf("the connection's keys read %q", got)
	}
	webtest.Screenshot(t, ctx, "lists-connections")

	p.Step("all tenants", chromedp.Navigate(s.URL+"/operator"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="tenant-owner"]`)))
	if got := p.Text(`[data-testid="tenant-row"][data-tenant="` + tenant + `"] [data-testid="tenant-owner"]`); got != erin.Email {
		t.Errorf("All tenants names the owner %q", got)
	}
	webtest.Screenshot(t, ctx, "lists-operator")
}
