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

// TestBrowserConfirmations: Renew, Rotate and Deactivate ask first on a
// page of their own that names the consequence; Deactivate wants the key's
// name typed; a double submit renews once and never shows a 409; buttons
// disable while a form is on its way.
func TestBrowserConfirmations(t *testing.T) {
	w := newUXWorld(t, "ux-confirm-")
	p, s := w.p, w.s
	keyURL := s.URL + "/keys/" + w.key

	p.Step("open renew", chromedp.Navigate(keyURL), chromedp.WaitVisible(chromedp.CSS(`[data-testid="renew"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="renew"]`)), chromedp.WaitVisible(chromedp.CSS(`[data-testid="confirm"]`)))
	if h := p.Text(`main h1`); h != "Renew orders?" || !strings.Contains(p.Text(`[data-testid="confirm-cost"]`), "new KMS key") {
		t.Errorf("renew confirmation: %q / %q", h, p.Text(`[data-testid="confirm"]`))
	}
	webtest.Screenshot(t, w.ctx, "ux-confirm-renew")

	// The confirmed form posted twice, one right after the other, as a
	// double click without the script would: both land on the key page.
	js := `(async () => {
		const f = document.querySelector('[data-testid="confirm-form"]');
		const body = () => new URLSearchParams(new FormData(f));
		const a = fetch(f.action, {method: "POST", body: body(), credentials: "same-origin"});
		const b = fetch(f.action, {method: "POST", body: body(), credentials: "same-origin"});
		const rs = await Promise.all([a, b]);
		return rs.map(r => r.status + " " + new URL(r.url).search);
	})()`
	got, err := chromedp.Run(w.ctx, chromedp.Evaluate[[]string](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	renewed := 0
	for _, g := range got {
		if !strings.HasPrefix(g, "200 ") {
			t.Errorf("a submit of the double submit answered %q", g)
		}
		if strings.Contains(g, "done=renew") {
			renewed++
		}
	}
	ops, err := s.DB.KeyOperations(context.Background(), w.tenant, w.key, 100)
	if err != nil {
		t.Fatal(err)
	}
	renews := 0
	for _, op := range ops {
		if op.Kind == "renew" {
			renews++
		}
	}
	if renews != 1 || renewed != 1 {
		t.Errorf("double submit: answers %v, %d renewals recorded", got, renews)
	}

	// With the script, a second click on a busy button does nothing.
	p.Step("open rotate", chromedp.Navigate(keyURL+"/confirm/rotate-material"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="confirm-rotate-material"]`)))
	if u := p.Text(`[data-testid="confirm-undo"]`); !strings.Contains(u, "not possible") {
		t.Errorf("rotate in place says of undo: %q", u)
	}
	p.Step("double click rotate", chromedp.Evaluate[chromedp.Void](`(() => { const b = document.querySelector('[data-testid="confirm-rotate-material"]'); b.click(); b.click(); })()`),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="lifecycle"]`)))
	if f := p.Text(`.flash`); !strings.Contains(f, "rotated in place") {
		t.Errorf("after a double click on rotate: %q", f)
	}

	// Deactivate: the wrong name is refused at its field, nothing happens.
	p.Step("open deactivate", chromedp.Navigate(keyURL), chromedp.WaitVisible(chromedp.CSS(`[data-testid="deactivate"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="deactivate"]`)), chromedp.WaitVisible(chromedp.CSS(`[data-testid="confirm-name"]`)))
	if c := p.Text(`[data-testid="confirm"]`); !strings.Contains(c, "refuses every encrypt and decrypt") {
		t.Errorf("deactivate confirmation: %q", c)
	}
	p.Step("wrong name", chromedp.SendKeys(chromedp.CSS(`[data-testid="confirm-name"]`), "order"),
		chromedp.Click(chromedp.CSS(`[data-testid="confirm-deactivate"]`)), chromedp.WaitVisible(chromedp.CSS(`[data-testid="error-confirm_name"]`)))
	if k, _ := s.DB.GetKey(context.Background(), w.tenant, w.key); k.State != "ENABLED" {
		t.Fatalf("deactivated with the wrong name: %s", k.State)
	}
	p.Step("right name", chromedp.SendKeys(chromedp.CSS(`[data-testid="confirm-name"]`), "orders"),
		chromedp.Click(chromedp.CSS(`[data-testid="confirm-deactivate"]`)), chromedp.WaitVisible(chromedp.CSS(`[data-testid="lifecycle"]`)))
	if got := p.Text(`[data-testid="key"] [data-testid="status"]`); got != "Deactivated" {
		t.Errorf("after deactivating: %q", got)
	}

	// Delete, submitted twice: scheduled once, both answers are the key.
	p.Step("open delete", chromedp.Navigate(keyURL+"/delete"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="confirm-delete"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="acknowledge"]`)))
	got, err = chromedp.Run(w.ctx, chromedp.Evaluate[[]string](strings.ReplaceAll(js, `[data-testid="confirm-form"]`, `form[action$="/delete"]`), chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range got {
		if !strings.HasPrefix(g, "200 ") || !(strings.Contains(g, "done=scheduled") || strings.Contains(g, "done=already") || strings.Contains(g, "done=running")) {
			t.Errorf("a submit of the double delete answered %q", g)
		}
	}
	p.Step("deletion scheduled", chromedp.Navigate(keyURL), chromedp.WaitVisible(chromedp.CSS(`[data-testid="deletion-at"]`)))
	if got := p.Text(`[data-testid="key"] [data-testid="status"]`); got != "Deletion scheduled" || p.Count(`.health.ok`) != 0 {
		t.Errorf("a key scheduled for deletion shows %q", got)
	}
	webtest.Screenshot(t, w.ctx, "ux-confirm-deletion-scheduled")
}

// TestBrowserRemoveMemberAsksFirst: Remove opens a confirmation naming the
// member and what they lose; only its button removes them.
func TestBrowserRemoveMemberAsksFirst(t *testing.T) {
	ctx := webtest.Browser(t, 90*time.Second)
	s := newStack(t, nil)
	ob := newBrowser(t)
	s.signIn(t, ob, alice)
	s.join(t, ob, bob, "auditor")
	p := webtest.Page{T: t, Ctx: ctx, Prefix: "ux-member-"}
	s.IdP.Queue(alice)
	p.Step("sign in", chromedp.Navigate(s.URL+"/auth/login"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="dashboard"]`)))
	row := `tr[data-email="bob@partner.test"]`
	p.Step("open remove", chromedp.Navigate(s.URL+"/members"), chromedp.WaitVisible(chromedp.CSS(row+` [data-testid="remove-member"]`)))
	if vis, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('`+row+` [data-testid="confirm-remove"]').checkVisibility()`)); vis {
		t.Error("the remove button shows before Remove… was opened")
	}
	p.Step("ask", chromedp.Click(chromedp.CSS(row+` [data-testid="remove-member"]`)), chromedp.WaitVisible(chromedp.CSS(row+` [data-testid="confirm-remove"]`)))
	if f := p.Text(row + ` [data-testid="remove-member-form"]`); !strings.Contains(f, "Bob Auditor (bob@partner.test)") || !strings.Contains(f, "lose access") {
		t.Errorf("confirmation reads %q", f)
	}
	webtest.Screenshot(t, ctx, "ux-member-remove-confirm")
	p.Step("remove", chromedp.Click(chromedp.CSS(row+` [data-testid="confirm-remove"]`)), chromedp.WaitVisible(chromedp.CSS(`.flash`)))
	if p.Count(row) != 0 {
		t.Error("bob is still a member")
	}
}

// TestBrowserForms: a form reports all its errors at once, each at its own
// field (a taken name at the name, not under the empty alias); key stores
// offer the same region list as connections; an oversized form is answered
// inside the page's layout, and going back keeps what was typed.
func TestBrowserForms(t *testing.T) {
	w := newUXWorld(t, "ux-forms-")
	p, s := w.p, w.s
	storeURL := s.URL + "/stores/" + w.store

	p.Step("open the store", chromedp.Navigate(storeURL), chromedp.WaitVisible(chromedp.CSS(`[data-testid="create-key-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`#key_name`), "Orders"),
		chromedp.SetValue(chromedp.CSS(`#valid_days`), "999"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#valid_days').removeAttribute('max')`),
		chromedp.Click(chromedp.CSS(`[data-testid="create-key"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="error-valid_days"]`)))
	if p.Count(`[data-testid="error-name"]`) != 1 || p.Count(`[data-testid="error-alias"]`) != 0 {
		webtest.Screenshot(t, w.ctx, "ux-forms-errors")
		t.Errorf("errors: name %d, alias %d: %s", p.Count(`[data-testid="error-name"]`), p.Count(`[data-testid="error-alias"]`), p.Text(`[data-testid="create-key-form"]`))
	}
	webtest.Screenshot(t, w.ctx, "ux-forms-all-errors")

	p.Step("store form", chromedp.Navigate(s.URL+"/stores"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="store-form"]`)))
	if n := p.Count(`select#region option[value="eu-west-1"]`); n != 1 {
		t.Errorf("the store form's region is not a list of regions (%d)", n)
	}
	if p.Count(`select#region option[value="eu-west-9"]`) != 0 {
		t.Error("the region list offers a region that does not exist")
	}

	// 2 MB in a form: refused in the layout, and Back keeps the typed name.
	p.Step("too large", chromedp.SendKeys(chromedp.CSS(`[data-testid="store-form"] #name`), "typed before"),
		chromedp.Evaluate[chromedp.Void](`(() => { const f = document.querySelector('[data-testid="store-form"]'); const i = document.createElement('input'); i.type = 'hidden'; i.name = 'pad'; i.value = 'x'.repeat(2 << 20); f.appendChild(i); })()`),
		chromedp.Click(chromedp.CSS(`[data-testid="create-store"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="problem"]`)))
	if h := p.Text(`main h1`); h != "Request too large" || p.Count(`[data-testid="tenant-nav"]`) != 1 {
		webtest.Screenshot(t, w.ctx, "ux-forms-too-large")
		t.Errorf("oversized form answered %q, navigation %d", h, p.Count(`[data-testid="tenant-nav"]`))
	}
	webtest.Screenshot(t, w.ctx, "ux-forms-too-large")
	p.Step("back", chromedp.NavigateBack(), chromedp.WaitVisible(chromedp.CSS(`[data-testid="store-form"]`)))
	got, _ := chromedp.Run(w.ctx, chromedp.Value(chromedp.CSS(`[data-testid="store-form"] #name`)))
	if got != "typed before" {
		t.Errorf("after Back the name field holds %q", got)
	}
}

// TestBrowserGettingStarted: the steps tick as the tenant is set up, say
// when all are done, can be dismissed for good, and an auditor sees what
// an auditor does instead.
func TestBrowserGettingStarted(t *testing.T) {
	// A generous budget: the setup below makes a keyport-generated key,
	// whose RSA import parameters are slow under the race detector.
	ctx := webtest.Browser(t, 300*time.Second)
	s := lifecycleStack(t)
	p := webtest.Page{T: t, Ctx: ctx, Prefix: "ux-onboarding-"}
	s.IdP.Queue(erin)
	p.Step("sign in", chromedp.Navigate(s.URL+"/auth/login"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="getting-started"]`)))
	if n := p.Count(`[data-testid="steps"] li[data-done="true"]`); n != 0 {
		t.Errorf("%d steps done in a new tenant", n)
	}
	if strings.Contains(p.Text(`[data-testid="getting-started"]`), "Sign in") {
		t.Error("signing in is listed as a step")
	}
	tenant := s.tenantOf(t, erin)
	by := keysvc.RequestBy{UserID: "setup"}
	c, err := s.Keys.CreateConnection(context.Background(), tenant, by, keysvc.ConnectionInput{
		Name: "tenant role", AccountID: awsTenantAcct, DefaultRegion: awsRegion, Kind: awskms.KindAssumeRole, RoleARN: awsRoleARN})
	if err != nil {
		t.Fatal(err)
	}
	p.Step("connected", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`[data-testid="getting-started"]`)))
	if n := p.Count(`[data-testid="steps"] li[data-done="true"]`); n != 1 {
		t.Errorf("%d steps done after connecting", n)
	}
	st, err := s.Managed.CreateStore(context.Background(), tenant, by, managed.StoreInput{Name: "production", ConnectionID: c.ID})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := s.Managed.CreateGeneratedKey(context.Background(), tenant, by, managed.CreateKeyInput{StoreID: st.ID, Name: "orders"}); err != nil || !r.Done() {
		t.Fatalf("create key: %v", err)
	}
	ob := newBrowser(t)
	s.signIn(t, ob, erin)
	s.join(t, ob, bob, "auditor")
	p.Step("all done", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`[data-testid="steps-done"]`)))
	webtest.Screenshot(t, ctx, "ux-onboarding-done")
	// Wait for the steps to go, not for the dashboard: the dashboard is
	// already on the page before the click, and a reload issued while the
	// form's navigation is in flight never finishes.
	p.Step("dismiss", chromedp.Click(chromedp.CSS(`[data-testid="dismiss-steps"]`)), chromedp.WaitNotPresent(chromedp.CSS(`[data-testid="getting-started"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="dashboard"]`)))
	p.Step("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`[data-testid="dashboard"]`)))
	if p.Count(`[data-testid="getting-started"]`) != 0 {
		t.Error("getting started shows after it was dismissed")
	}

	// The auditor: no setup steps, what an auditor can do instead.
	actx := webtest.Browser(t, 60*time.Second)
	ap := webtest.Page{T: t, Ctx: actx, Prefix: "ux-onboarding-auditor-"}
	s.IdP.Queue(bob)
	ap.Step("auditor signs in", chromedp.Navigate(s.URL+"/auth/login"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="dashboard"]`)))
	if ap.Count(`[data-testid="getting-started"]`) != 0 || ap.Count(`[data-testid="auditor-intro"]`) != 1 {
		webtest.Screenshot(t, actx, "ux-onboarding-auditor")
		t.Error("an auditor's dashboard offers the setup steps")
	}
}
