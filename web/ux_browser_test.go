package web_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"keyport/handlers"
	"keyport/keysvc"
	"keyport/keysvc/awskms"
	"keyport/keysvc/managed"
	"keyport/web/webtest"
)

// uxWorld is a signed-in browser on a lifecycle stack with a key store and
// one keyport-generated key.
type uxWorld struct {
	s      *stack
	p      webtest.Page
	ctx    context.Context
	tenant string
	store  string
	key    string
}

func newUXWorld(t *testing.T, prefix string) *uxWorld {
	t.Helper()
	ctx := webtest.Browser(t, 180*time.Second)
	s := lifecycleStack(t)
	w := &uxWorld{s: s, ctx: ctx, p: webtest.Page{T: t, Ctx: ctx, Prefix: prefix}}
	s.IdP.Queue(erin)
	w.p.Step("sign in", chromedp.Navigate(s.URL+"/auth/login"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="dashboard"]`)))
	w.tenant = s.tenantOf(t, erin)
	by := keysvc.RequestBy{UserID: "setup"}
	c, err := s.Keys.CreateConnection(context.Background(), w.tenant, by, keysvc.ConnectionInput{
		Name: "tenant role", AccountID: awsTenantAcct, DefaultRegion: awsRegion, Kind: awskms.KindAssumeRole, RoleARN: awsRoleARN})
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Managed.CreateStore(context.Background(), w.tenant, by, managed.StoreInput{Name: "production", ConnectionID: c.ID})
	if err != nil {
		t.Fatal(err)
	}
	w.store = st.ID
	r, err := s.Managed.CreateGeneratedKey(context.Background(), w.tenant, by, managed.CreateKeyInput{StoreID: st.ID, Name: "orders", ValidDays: 0})
	if err != nil || !r.Done() {
		t.Fatalf("create key: %v", err)
	}
	w.key = r.Key.ID
	return w
}

// TestBrowserKeyStatus: one status on the key page, the keys list and the
// dashboard; a deactivated key or one scheduled for deletion never shows
// green; the validation panel agrees with "Last validated"; "Compare with
// KMS" always says what it found.
func TestBrowserKeyStatus(t *testing.T) {
	w := newUXWorld(t, "ux-status-")
	p, s := w.p, w.s
	keyURL := s.URL + "/keys/" + w.key

	p.Step("open the new key", chromedp.Navigate(keyURL), chromedp.WaitVisible(chromedp.CSS(`[data-testid="key"]`)))
	if got := p.Text(`[data-testid="key"] [data-testid="status"]`); got != "Active" {
		t.Errorf("a new key's status = %q", got)
	}
	// The key was used in KMS when it was created: the panel says so
	// instead of "No validation recorded yet" beside a time.
	if last := p.Text(`[data-testid="last-validated"]`); last == "never" || p.Count(`[data-testid="validation-summary"]`) != 1 {
		t.Errorf("last validated %q, but the panel: %q", last, p.Text(`[data-testid="validation"]`))
	}
	p.Step("compare with KMS", chromedp.Click(chromedp.CSS(`[data-testid="check-drift"]`)), chromedp.WaitVisible(chromedp.CSS(`.flash`)))
	if f := p.Text(`.flash`); !strings.Contains(f, "KMS matches what keyport recorded") {
		t.Errorf("compare with KMS says %q", f)
	}

	if _, err := s.Managed.Deactivate(context.Background(), w.tenant, keysvc.RequestBy{UserID: "setup"}, w.key); err != nil {
		t.Fatal(err)
	}
	check := func(where, sel string) {
		t.Helper()
		got := p.Text(sel)
		if got != "Deactivated" {
			webtest.Screenshot(t, w.ctx, "ux-status-"+where)
			t.Errorf("%s shows %q for a deactivated key", where, got)
		}
		if n := p.Count(`.health.ok`); n != 0 {
			webtest.Screenshot(t, w.ctx, "ux-status-"+where)
			t.Errorf("%s shows %d green statuses for a deactivated key", where, n)
		}
	}
	p.Step("key page", chromedp.Navigate(keyURL), chromedp.WaitVisible(chromedp.CSS(`[data-testid="key"]`)))
	check("key-page", `[data-testid="key"] [data-testid="status"]`)
	p.Step("keys list", chromedp.Navigate(s.URL+"/keys"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="keys-table"]`)))
	check("keys-list", `[data-testid="key-row"] [data-testid="status"]`)
	p.Step("dashboard", chromedp.Navigate(s.URL+"/dashboard"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="key-health"]`)))
	if got := p.Text(`[data-testid="key-health"] li`); !strings.HasPrefix(got, "1 key: Deactivated") || strings.Contains(p.Text(`[data-testid="key-health"]`), "Active") {
		webtest.Screenshot(t, w.ctx, "ux-status-dashboard")
		t.Errorf("dashboard counts %q", got)
	}
}

// TestBrowserNavigation: at 1366 px the tenant's pages and the provider
// operator's pages sit in two separate bars, neither wraps, and every link
// opens the page it names.
func TestBrowserNavigation(t *testing.T) {
	ctx := webtest.Browser(t, 120*time.Second)
	s := newStack(t, func(c *handlers.Config) { c.Operators = []string{erin.Email} })
	p := webtest.Page{T: t, Ctx: ctx, Prefix: "ux-nav-"}
	s.IdP.Queue(erin)
	p.Step("sign in at 1366 px", chromedp.EmulateViewport(1366, 900), chromedp.Navigate(s.URL+"/auth/login"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="dashboard"]`)))
	if p.Count(`[data-testid="tenant-nav"] a[href^="/operator"], [data-testid="tenant-nav"] a[href^="/provider"]`) != 0 {
		t.Error("operator pages in the tenant's navigation")
	}
	if p.Count(`[data-testid="operator-nav"] a`) < 4 {
		t.Error("no operator navigation for an operator")
	}
	// One row each: every link of a bar has the same top.
	for _, bar := range []string{"tenant-nav", "operator-nav"} {
		rows, err := chromedp.Run(ctx, chromedp.Evaluate[int](`new Set([...document.querySelectorAll('[data-testid="`+bar+`"] a')].map(a => Math.round(a.getBoundingClientRect().top))).size`))
		if err != nil || rows != 1 {
			webtest.Screenshot(t, ctx, "ux-nav-wrapped")
			t.Errorf("%s spans %d rows at 1366 px (%v)", bar, rows, err)
		}
	}
	webtest.Screenshot(t, ctx, "ux-nav-1366-dashboard")

	links, err := chromedp.Run(ctx, chromedp.Evaluate[[][2]string](`[...document.querySelectorAll('[data-testid="tenant-nav"] a, [data-testid="operator-nav"] a')].map(a => [a.getAttribute("href"), a.textContent.trim()])`))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if l[0] == "/dashboard" {
			continue // titled with the tenant's name
		}
		p.Step("open "+l[1], chromedp.Navigate(s.URL+l[0]), chromedp.WaitVisible(chromedp.CSS(`main h1`)))
		if h1 := p.Text(`main h1`); h1 != l[1] {
			webtest.Screenshot(t, ctx, "ux-nav-mismatch")
			t.Errorf("link %q opens a page titled %q", l[1], h1)
		}
		if cur := p.Text(`nav a[aria-current="page"]`); cur != l[1] {
			t.Errorf("on %s the current link is %q", l[0], cur)
		}
	}
	p.Step("operator page", chromedp.Navigate(s.URL+"/operator/lifecycle"), chromedp.WaitVisible(chromedp.CSS(`main h1`)))
	webtest.Screenshot(t, ctx, "ux-nav-1366-operator")
}
