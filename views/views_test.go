package views

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"
)

func renderDoc(tb testing.TB, c templ.Component) (*goquery.Document, string) {
	tb.Helper()
	var buf bytes.Buffer
	if err := c.Render(context.Background(), &buf); err != nil {
		tb.Fatalf("render: %v", err)
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(buf.String()))
	if err != nil {
		tb.Fatal(err)
	}
	return doc, buf.String()
}

const hostile = `<script>alert(1)</script>`

func signedIn() Page {
	return Page{
		Title: "Dashboard", Nav: "dashboard", CSRFToken: "tok",
		User:    &UserInfo{Name: hostile, Email: "a@example.com"},
		Tenant:  &TenantInfo{ID: "tnt_1", Name: "One", Role: "owner"},
		Tenants: []TenantInfo{{ID: "tnt_1", Name: "One", Role: "owner"}, {ID: "tnt_2", Name: hostile, Role: "auditor"}},
	}
}

func TestLayoutEscapesAndShowsSession(t *testing.T) {
	doc, html := renderDoc(t, DashboardPage(signedIn(), Dashboard{TenantName: hostile, Role: "owner", MemberCount: 1}))
	if strings.Contains(html, hostile) {
		t.Fatal("a name was written unescaped")
	}
	if doc.Find(`[data-testid="tenant-switcher"] option`).Length() != 2 {
		t.Error("switcher does not list both tenants")
	}
	if v, _ := doc.Find(`[data-testid="tenant-switcher"] option[selected]`).Attr("value"); v != "tnt_1" {
		t.Errorf("selected tenant = %q", v)
	}
	if doc.Find(`form[action="/auth/logout"] input[name="csrf_token"][value="tok"]`).Length() != 1 {
		t.Error("sign-out form lacks the CSRF token")
	}
	if doc.Find(`[data-testid="activity-empty"]`).Length() != 1 {
		t.Error("no empty state for activity")
	}
	if doc.Find(`[data-testid="devbar"]`).Length() != 0 {
		t.Error("development bar outside development")
	}
}

func TestDashboardActivity(t *testing.T) {
	d := Dashboard{TenantName: "One", Role: "owner", MemberCount: 2,
		Activity: []ActivityRow{{At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Actor: "you", Action: "auth.sign_in", Target: "user"}}}
	doc, _ := renderDoc(t, DashboardPage(signedIn(), d))
	if got := doc.Find(`[data-testid="activity"] tbody tr`).Length(); got != 1 {
		t.Errorf("activity rows = %d", got)
	}
	if !strings.Contains(doc.Find(`[data-testid="dashboard"]`).Text(), "2 members") {
		t.Error("member count missing")
	}
}

func TestProblemPage(t *testing.T) {
	doc, _ := renderDoc(t, ProblemPage(Page{Title: "Not found"}, Problem{Status: 404, Heading: "Not found", Message: "Nothing here.", RequestID: "req-1"}))
	if s, _ := doc.Find(`[data-testid="problem"]`).Attr("data-status"); s != "404" {
		t.Errorf("status attr = %q", s)
	}
	if doc.Find(`[data-testid="request-id"]`).Text() != "req-1" {
		t.Error("request id missing")
	}
	if doc.Find(`form[action="/auth/logout"]`).Length() != 0 {
		t.Error("anonymous problem page shows a sign-out form")
	}
}

func TestSignInPageLink(t *testing.T) {
	doc, _ := renderDoc(t, SignInPage(Page{Title: "Sign in", Dev: true}, SignIn{ReturnTo: "/dashboard?x=1&y=2", Dev: true}))
	href, _ := doc.Find(`[data-testid="signin"]`).Attr("href")
	if href != "/auth/login?return_to=%2Fdashboard%3Fx%3D1%26y%3D2" {
		t.Errorf("sign-in href = %q", href)
	}
	if doc.Find(`[data-testid="devbar"]`).Length() != 1 {
		t.Error("development bar missing in development")
	}
}
