package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/smtp"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"keyport/handlers"
	"keyport/keysvc"
	"keyport/keysvc/managed"
	"keyport/models"
	"keyport/web/devidp"
	"keyport/web/webtest"
)

// a11yNotPages are the GET routes that answer no page a person reads:
// probes, assets, files, the sign-in hand-offs and the JSON APIs.
var a11yNotPages = map[string]string{
	"/healthz":                            "probe",
	"/readyz":                             "probe",
	"/metrics":                            "probe",
	"/static*":                            "assets",
	"/auth/login":                         "redirect to the identity provider",
	"/auth/callback":                      "redirect back from the identity provider",
	"/calendar/:feed_token/rotations.ics": "calendar file",
	"/":                                   "redirects a signed-in user to the dashboard (checked signed out)",
	"/signed-out":                         "checked signed out",
}

// a11yMaxPerRoute bounds how many distinct pages of one route (one per key,
// per report, per confirmation...) the check opens.
const a11yMaxPerRoute = 12

// TestBrowserAccessibility signs in as a tenant owner who is also a
// provider operator and runs axe-core (plus keyport's structural checks) on
// every page such a person can reach: every GET route the server serves
// that answers a page, with its path parameters from a seeded world (the
// authorization matrix's: a customer-managed key, a keyport-generated key,
// a store, a connection, an import request, a webhook...) and every other
// value of them the pages link to (each key, each report, each
// confirmation), so a new route or page is covered the day it is added.
// It fails listing every violation with its page and saves a screenshot
// of each failing page.
func TestBrowserAccessibility(t *testing.T) {
	ctx := webtest.Browser(t, 420*time.Second)
	s := newFullStack(t, func(c *handlers.Config) {
		c.Operators = []string{"ops@provider.test", "owner@alpha.test"}
		c.InviteRateLimit = 10000
	})
	s.Managed.AttachWorker(s.Rot.Worker)
	s.Rot.SetRotator(models.ModeGenerated, s.Managed)
	s.Rot.SetRotator(models.ModeImported, s.Managed)
	s.Managed.PreferWrappingKeySpec("RSA_2048")
	w := newMatrixWorld(t, s)
	params := w.reset(t)
	// A keyport-generated key beside the customer-managed one, renewed
	// once so its page shows its timeline and the undo.
	bg := context.Background()
	r, err := s.Managed.CreateGeneratedKey(bg, w.tenantA, w.byOwner(), managed.CreateKeyInput{StoreID: params[":store_id"], Name: "a11y generated", ValidDays: 90})
	if err != nil || !r.Done() {
		t.Fatalf("generated key: %v", err)
	}
	if _, err := s.Managed.Renew(bg, w.tenantA, keysvc.RequestBy{UserID: w.users[owner]}, r.Key.ID); err != nil {
		t.Fatalf("renew the generated key: %v", err)
	}

	a11yKeyStates(t, w, params[":store_id"], params[":conn_id"])

	p := webtest.Page{T: t, Ctx: ctx, Prefix: "a11y-"}
	report := map[string][]webtest.A11yViolation{}
	var order []string
	// check opens path and runs the check; it returns the HTTP status.
	check := func(path string) int {
		t.Helper()
		cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		res, err := chromedp.Run(cctx, chromedp.NavigateResponse(s.URL+path))
		if err != nil {
			t.Errorf("open %s: %v", path, err)
			return 0
		}
		if ct := res.MimeType; ct != "text/html" {
			t.Errorf("%s answers %d %s, not a page: list it in a11yNotPages with why", path, res.Status, ct)
			return int(res.Status)
		}
		vs, err := webtest.CheckA11y(cctx)
		if err != nil {
			t.Errorf("check %s: %v", path, err)
			return int(res.Status)
		}
		order = append(order, path)
		if len(vs) > 0 {
			report[path] = vs
			webtest.Screenshot(t, ctx, "a11y-"+screenshotName(path))
		}
		return int(res.Status)
	}
	check("/")
	check("/signed-out")

	s.IdP.Queue(devidp.Identity{Email: w.emails[owner], Name: "Owner Alpha", EmailVerified: true})
	p.Step("sign in", chromedp.Navigate(s.URL+"/auth/login"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="dashboard"]`)))

	// Forms answered with their errors: each form with a required field,
	// sent with its required fields empty (the browser's own validation
	// off), once per form action route. The page that re-renders the form
	// with its messages is checked like any other.
	postRoutes := map[string]*regexp.Regexp{}
	for _, rt := range s.Echo.Routes() {
		if rt.Method == http.MethodPost {
			postRoutes[rt.Path] = routePattern(rt.Path)
		}
	}
	formsSent := map[string]bool{}
	checkFormErrors := func(path string) {
		t.Helper()
		actions, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.forms]
			.filter(f => f.method === 'post' && f.querySelector('input[required]:not([type=hidden]):not([type=checkbox]):not([type=radio]), textarea[required]'))
			.map(f => new URL(f.action).pathname)`))
		if err != nil {
			t.Fatalf("forms of %s: %v", path, err)
		}
		for i, action := range actions {
			route := ""
			for r, re := range postRoutes {
				if re.MatchString(action) {
					route = r
				}
			}
			if route == "" || formsSent[route] {
				continue
			}
			formsSent[route] = true
			cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			if err := chromedp.Do(cctx, chromedp.Navigate(s.URL+path)); err != nil {
				cancel()
				t.Fatalf("open %s: %v", path, err)
			}
			res, err := chromedp.RunResponse(cctx, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => {
				const f = [...document.forms].filter(f => f.method === 'post' && f.querySelector('input[required]:not([type=hidden]):not([type=checkbox]):not([type=radio]), textarea[required]'))[%d];
				f.querySelectorAll('input[required]:not([type=hidden]):not([type=checkbox]):not([type=radio]), textarea[required]').forEach(e => e.value = '');
				f.noValidate = true;
				f.requestSubmit();
				return {};
			})()`, i)))
			cancel()
			if err != nil {
				t.Errorf("send the form %s on %s empty: %v", action, path, err)
				continue
			}
			if res.Status < 400 {
				// Not an accessibility failure (an empty field may mean
				// "the default"), but the page checked is then not the
				// form's error state.
				t.Logf("the form %s on %s was accepted with its required fields empty", action, path)
			}
			label := "POST " + action + " (empty, from " + path + ")"
			vs, err := webtest.CheckA11y(ctx)
			if err != nil {
				t.Errorf("check %s: %v", label, err)
				continue
			}
			order = append(order, label)
			if len(vs) > 0 {
				report[label] = vs
				webtest.Screenshot(t, ctx, "a11y-form-"+screenshotName(action))
			}
		}
	}

	// Every page route, with the seeded parameters.
	var pages []string
	for _, rt := range s.Echo.Routes() {
		if rt.Method != http.MethodGet {
			continue
		}
		if why := a11yNotPages[rt.Path]; why != "" || strings.HasPrefix(rt.Path, "/api/") {
			continue
		}
		pages = append(pages, rt.Path)
	}
	sort.Strings(pages)
	pages = slices.Compact(pages)
	if len(pages) < 30 {
		t.Fatalf("only %d page routes: %v", len(pages), pages)
	}
	params[":report"] = "inventory"
	params[":action"] = "rotate"
	params[":id"] = a11yMail(t, s) // the development mail page's message
	_, inviteToken := w.inviteTo(t, w.emails[owner])
	patterns := map[string]*regexp.Regexp{}
	visited := map[string]bool{}
	perRoute := map[string]int{}
	shown := map[string]bool{} // routes seen answering 200 at least once
	type visit struct{ route, path string }
	var queue []visit
	for _, route := range pages {
		patterns[route] = routePattern(route)
		target := route
		for k, v := range params {
			target = strings.ReplaceAll(target, k, v)
		}
		if strings.Contains(target, ":") {
			t.Fatalf("%s: no seeded value for a parameter in %s", route, target)
		}
		if route == "/invite" {
			target += "?token=" + inviteToken // the link from the email: a page inviting the owner
		}
		queue = append(queue, visit{route, target})
	}
	queue = append(queue, visit{"", "/no-such-page-a11y"}) // the error page's layout
	for len(queue) > 0 {
		route, path := queue[0].route, queue[0].path
		queue = queue[1:]
		if visited[path] {
			continue
		}
		visited[path] = true
		if status := check(path); status == http.StatusOK {
			shown[route] = true
			checkFormErrors(path)
		}
		// Other values of the routes' parameters that this page links
		// to: each key, report and confirmation is a page of its own.
		hrefs, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('a[href^="/"]')].map(a => a.getAttribute('href'))`))
		if err != nil {
			t.Fatalf("links of %s: %v", path, err)
		}
		for _, h := range hrefs {
			u, err := url.Parse(h)
			if err != nil || visited[u.Path] {
				continue
			}
			for route, re := range patterns {
				if re.MatchString(u.Path) && perRoute[route] < a11yMaxPerRoute {
					perRoute[route]++
					queue = append(queue, visit{route, u.Path})
					break
				}
			}
		}
	}

	// The pages that differ by who looks: an auditor's (no buttons, its
	// own getting started) and an operator's in no tenant.
	for _, who := range []persona{auditor, operator} {
		p.Step("open the dashboard before "+string(who), chromedp.Navigate(s.URL+"/dashboard"))
		if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`[data-testid="signout"]`))); err != nil {
			t.Fatalf("sign out before %s: %v", who, err)
		}
		s.IdP.Queue(devidp.Identity{Email: w.emails[who], Name: string(who), EmailVerified: true})
		p.Step("sign in as "+string(who), chromedp.Navigate(s.URL+"/auth/login"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="signout"]`)))
		landing, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.pathname`))
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{landing, "/dashboard", "/keys", "/keys/" + params[":key_id"], "/members"} {
			before := len(order)
			check(path)
			if len(order) > before {
				order[len(order)-1] += " (as " + string(who) + ")"
				if vs, ok := report[path]; ok {
					delete(report, path)
					report[order[len(order)-1]] = vs
				}
			}
		}
	}

	total := 0
	var b strings.Builder
	for _, path := range order {
		for _, v := range report[path] {
			total++
			fmt.Fprintf(&b, "\n  %s: %s", path, v)
		}
	}
	t.Logf("checked:\n  %s", strings.Join(order, "\n  "))
	t.Logf("METRIC a11y pages=%d violations=%d", len(order), total)
	if total > 0 {
		t.Errorf("%d accessibility violations on %d of %d pages:%s", total, len(report), len(order), b.String())
	}
	// Each route's page itself was checked, not only its error answer (a
	// customer-managed key has no export page, a generated one has).
	for _, route := range pages {
		if !shown[route] {
			t.Errorf("%s never answered 200: the seeded world or the links do not reach its page", route)
		}
	}
}

// routePattern matches the paths of an echo route (":name" is one segment).
func routePattern(route string) *regexp.Regexp {
	parts := strings.Split(route, "/")
	for i, p := range parts {
		if strings.HasPrefix(p, ":") {
			parts[i] = `[^/]+`
		} else {
			parts[i] = regexp.QuoteMeta(p)
		}
	}
	return regexp.MustCompile("^" + strings.Join(parts, "/") + "$")
}

// a11yKeyStates gives tenant A keys in the states whose statuses have
// their own colours: deactivated, scheduled for deletion, and a
// customer-managed key keyport lost access to.
func a11yKeyStates(t *testing.T, w *matrixWorld, storeID, connID string) {
	t.Helper()
	ctx, by := context.Background(), keysvc.RequestBy{UserID: w.users[owner]}
	generated := func(name string) string {
		r, err := w.s.Managed.CreateGeneratedKey(ctx, w.tenantA, by, managed.CreateKeyInput{StoreID: storeID, Name: name, ValidDays: 90})
		if err != nil || !r.Done() {
			t.Fatalf("generated key %s: %v", name, err)
		}
		return r.Key.ID
	}
	if _, err := w.s.Managed.Deactivate(ctx, w.tenantA, by, generated("a11y deactivated")); err != nil {
		t.Fatalf("deactivate: %v", err)
	}
	if _, err := w.s.Managed.ScheduleDeletion(ctx, w.tenantA, by, generated("a11y deleting"), managed.DeleteInput{Acknowledge: true}); err != nil {
		t.Fatalf("schedule deletion: %v", err)
	}
	arn := "arn:aws:kms:" + awsRegion + ":" + awsTenantAcct + ":key/11111111-1111-1111-1111-111111111111"
	nk := &models.NewKey{Key: models.Key{TenantID: w.tenantA, ConnectionID: connID, Name: "a11y access revoked", Mode: models.ModeCMK,
		State: models.StateEnabled, Health: "ACCESS_DENIED"}, Regions: []models.KeyRegion{{Region: awsRegion, KMSKeyARN: arn}}}
	if err := w.s.DB.CreateKey(ctx, nk, models.AuditInput{Actor: w.users[owner], Action: "key.registered"}); err != nil {
		t.Fatal(err)
	}
}

// a11yMail sends one message through the stack's mail catcher over SMTP,
// for the development mail pages, and returns its id there.
func a11yMail(t *testing.T, s *stack) string {
	t.Helper()
	msg := "From: keyport <keyport@keyport.test>\r\nTo: owner@alpha.test\r\nSubject: Accessibility check\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n\r\nA message for the development mail page.\r\n"
	if err := smtp.SendMail(s.Mail.Addr(), nil, "keyport@keyport.test", []string{"owner@alpha.test"}, []byte(msg)); err != nil {
		t.Fatalf("send mail to the catcher: %v", err)
	}
	ms := s.Mail.Messages()
	if len(ms) == 0 {
		t.Fatal("the mail catcher has no message")
	}
	return ms[len(ms)-1].ID
}

// screenshotName turns a path into a file name.
func screenshotName(path string) string {
	n := strings.Trim(strings.NewReplacer("/", "-", ":", "", "?", "-", "=", "-").Replace(path), "-")
	if n == "" {
		return "root"
	}
	return n
}
