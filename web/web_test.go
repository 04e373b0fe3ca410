package web_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"keyport/models"
	"keyport/web/devidp"
)

func TestCSRF(t *testing.T) {
	s := newStack(t, nil)
	b := newBrowser(t)
	_, page := s.signIn(t, b, alice)
	token := csrfToken(t, page)
	origin := map[string]string{"Origin": s.URL, "Sec-Fetch-Site": "same-origin"}

	tests := []struct {
		name   string
		form   url.Values
		header map[string]string
		want   int
	}{
		{"no token", url.Values{}, origin, http.StatusForbidden},
		{"wrong token", url.Values{"csrf_token": {token[:len(token)-2] + "xx"}}, origin, http.StatusForbidden},
		{"right token, cross-site", url.Values{"csrf_token": {token}},
			map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"right token, other origin without fetch metadata", url.Values{"csrf_token": {token}},
			map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, _ := b.post(t, s.URL+"/auth/logout", tt.form, tt.header)
			if res.StatusCode != tt.want {
				t.Errorf("status %d, want %d", res.StatusCode, tt.want)
			}
			// Still signed in: the refused request changed nothing.
			if res, _ := b.get(t, s.URL+"/dashboard"); res.Request.URL.Path != "/dashboard" {
				t.Errorf("session ended by a refused request")
			}
		})
	}

	// A token from another session does not work either.
	other := newBrowser(t)
	_, otherPage := s.signIn(t, other, alice)
	if res, _ := b.post(t, s.URL+"/auth/logout", url.Values{"csrf_token": {csrfToken(t, otherPage)}}, origin); res.StatusCode != http.StatusForbidden {
		t.Errorf("foreign session's token: %d", res.StatusCode)
	}

	// The right token from the same origin signs out, on the server too.
	res, body := b.post(t, s.URL+"/auth/logout", url.Values{"csrf_token": {token}}, origin)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "You are signed out") {
		t.Fatalf("logout: %d", res.StatusCode)
	}
	if res, _ := b.get(t, s.URL+"/dashboard"); res.Request.URL.Path != "/" {
		t.Errorf("dashboard after logout reached %s", res.Request.URL.Path)
	}
}

func TestReplayAfterLogout(t *testing.T) {
	s := newStack(t, nil)
	b := newBrowser(t)
	_, page := s.signIn(t, b, alice)
	ck := *s.cookie(b, "keyport_session")
	b.post(t, s.URL+"/auth/logout", url.Values{"csrf_token": {csrfToken(t, page)}}, nil)

	replay := newBrowser(t)
	u, _ := url.Parse(s.URL)
	replay.Jar.SetCookies(u, []*http.Cookie{{Name: ck.Name, Value: ck.Value, Path: "/"}})
	if res, _ := replay.get(t, s.URL+"/dashboard"); res.Request.URL.Path != "/" {
		t.Errorf("a signed-out session cookie still reaches %s", res.Request.URL.Path)
	}
}

func TestSecurityHeaders(t *testing.T) {
	s := newStack(t, nil)
	b := newBrowser(t)
	s.signIn(t, b, alice)
	for _, path := range []string{"/", "/dashboard", "/no/such/page", "/static/css/app.css", "/healthz"} {
		res, _ := b.get(t, s.URL+path)
		h := res.Header
		checks := map[string]string{
			"Content-Security-Policy": "default-src 'self'; ",
			"X-Content-Type-Options":  "nosniff",
			"Referrer-Policy":         "no-referrer",
			"X-Frame-Options":         "DENY",
		}
		for name, want := range checks {
			if !strings.Contains(h.Get(name), want) {
				t.Errorf("%s: %s = %q, want %q", path, name, h.Get(name), want)
			}
		}
		for _, part := range []string{"frame-ancestors 'none'", "form-action 'self'"} {
			if !strings.Contains(h.Get("Content-Security-Policy"), part) {
				t.Errorf("%s: CSP lacks %s", path, part)
			}
		}
		if h.Get("Strict-Transport-Security") == "" {
			t.Errorf("%s: no HSTS outside development", path)
		}
		if path == "/dashboard" && h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control = %q", path, h.Get("Cache-Control"))
		}
	}
}

func TestErrorPagesLeakNothing(t *testing.T) {
	s := newStack(t, nil)
	b := newBrowser(t)
	res, body := b.get(t, s.URL+"/no/such/page")
	if res.StatusCode != http.StatusNotFound || !strings.Contains(body, "Not found") || !strings.Contains(body, `data-testid="request-id"`) {
		t.Errorf("404 page: %d", res.StatusCode)
	}
	res, _ = b.post(t, s.URL+"/dashboard", url.Values{}, nil)
	if res.StatusCode != http.StatusForbidden && res.StatusCode != http.StatusMethodNotAllowed && res.StatusCode != http.StatusNotFound {
		t.Errorf("POST to a GET page: %d", res.StatusCode)
	}
	// Development routes do not exist outside development mode.
	if res, _ := b.get(t, s.URL+"/dev/mail"); res.StatusCode != http.StatusNotFound {
		t.Errorf("/dev/mail outside development: %d", res.StatusCode)
	}
}

func TestHealth(t *testing.T) {
	s := newStack(t, nil)
	b := newBrowser(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		if res, _ := b.get(t, s.URL+path); res.StatusCode != http.StatusOK {
			t.Errorf("%s: %d", path, res.StatusCode)
		}
	}
	s.DB.Close()
	if res, _ := b.get(t, s.URL+"/readyz"); res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz with the database closed: %d", res.StatusCode)
	}
}

func TestBodyLimit(t *testing.T) {
	s := newStack(t, nil)
	b := newBrowser(t)
	_, page := s.signIn(t, b, alice)
	big := url.Values{"csrf_token": {csrfToken(t, page)}, "pad": {strings.Repeat("x", 2<<20)}}
	res, _ := b.post(t, s.URL+"/auth/logout", big, nil)
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("2 MiB form: %d", res.StatusCode)
	}
}

func TestTenantSwitcher(t *testing.T) {
	s := newStack(t, nil)
	b := newBrowser(t)
	_, page := s.signIn(t, b, alice)
	if strings.Contains(page, `data-testid="tenant-switcher"`) {
		t.Fatal("switcher shown with one tenant")
	}
	ctx := context.Background()
	u, _, _ := s.DB.UpsertOIDCUser(ctx, s.IdP.Issuer(), devidp.Subject(alice.Email), alice.Email, alice.Name)
	second, err := s.DB.CreateTenantWithOwner(ctx, "Second Corp", u.ID, models.AuditInput{Actor: u.ID, Action: "tenant.created"})
	if err != nil {
		t.Fatal(err)
	}
	// Someone else's tenant, which alice must not be able to switch to.
	mallory, _, _ := s.DB.UpsertOIDCUser(ctx, s.IdP.Issuer(), "mallory", "mallory@evil.example", "")
	foreign, err := s.DB.CreateTenantWithOwner(ctx, "Evil Corp", mallory.ID, models.AuditInput{Actor: mallory.ID, Action: "tenant.created"})
	if err != nil {
		t.Fatal(err)
	}

	_, page = b.get(t, s.URL+"/dashboard")
	if !strings.Contains(page, `data-testid="tenant-switcher"`) || !strings.Contains(page, "Second Corp") {
		t.Fatal("switcher missing with two tenants")
	}
	token := csrfToken(t, page)
	res, page := b.post(t, s.URL+"/tenants/switch", url.Values{"csrf_token": {token}, "tenant_id": {second.ID}}, nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(page, "<h1>Second Corp</h1>") {
		t.Errorf("after switching: %d", res.StatusCode)
	}
	res, page = b.post(t, s.URL+"/tenants/switch", url.Values{"csrf_token": {token}, "tenant_id": {foreign.ID}}, nil)
	if res.StatusCode != http.StatusNotFound || strings.Contains(page, "Evil Corp") {
		t.Errorf("switching to a foreign tenant: %d", res.StatusCode)
	}
	// A missing id gives the same answer as a foreign one.
	if res, _ := b.post(t, s.URL+"/tenants/switch", url.Values{"csrf_token": {token}, "tenant_id": {"tnt_nosuchtenant"}}, nil); res.StatusCode != http.StatusNotFound {
		t.Errorf("switching to a missing tenant: %d", res.StatusCode)
	}
}

func TestInternalErrorsShowOnlyTheRequestID(t *testing.T) {
	s := newStack(t, nil)
	s.Echo.GET("/test/boom", func(echo.Context) error { return errors.New("db password=hunter2 refused") })
	s.Echo.GET("/test/panic", func(echo.Context) error { panic("secret-panic-detail") })
	b := newBrowser(t)
	for path, secret := range map[string]string{"/test/boom": "hunter2", "/test/panic": "secret-panic-detail"} {
		res, body := b.get(t, s.URL+path)
		if res.StatusCode != http.StatusInternalServerError {
			t.Errorf("%s: %d", path, res.StatusCode)
		}
		if strings.Contains(body, secret) || !strings.Contains(body, "Something went wrong") {
			t.Errorf("%s: page leaks the cause or lacks the plain message", path)
		}
		id := res.Header.Get("X-Request-Id")
		if id == "" || !strings.Contains(body, id) {
			t.Errorf("%s: page lacks the request id %q", path, id)
		}
		if logs := s.Logs.String(); !strings.Contains(logs, secret) || !strings.Contains(logs, id) {
			t.Errorf("%s: the cause and request id did not reach the log", path)
		}
	}
}
