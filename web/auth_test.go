package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"keyport/handlers"
	"keyport/web/devidp"
)

var alice = devidp.Identity{Email: "alice@example.com", Name: "Alice Admin", EmailVerified: true}

func TestSignInCreatesTenantAndSession(t *testing.T) {
	s := newStack(t, nil)
	b := newBrowser(t)

	res, body := b.get(t, s.URL+"/")
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "Sign in with single sign-on") {
		t.Fatalf("front page: %d", res.StatusCode)
	}

	res, body = s.signIn(t, b, alice)
	if res.StatusCode != http.StatusOK || res.Request.URL.Path != "/dashboard" {
		t.Fatalf("after sign-in: %d at %s", res.StatusCode, res.Request.URL)
	}
	for _, want := range []string{`data-testid="dashboard"`, "example.com", "Alice Admin", "owner"} {
		if !strings.Contains(body, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	ck := s.cookie(b, "keyport_session")
	if ck == nil {
		t.Fatal("no session cookie")
	}
	// The login cookie is single-use and cleared at the callback.
	if s.cookie(b, "keyport_login") != nil {
		t.Error("pre-login cookie still set after the callback")
	}

	u, _, err := s.DB.UpsertOIDCUser(context.Background(), s.IdP.Issuer(), devidp.Subject(alice.Email), alice.Email, alice.Name)
	if err != nil {
		t.Fatal(err)
	}
	tenants, err := s.DB.TenantsForUser(context.Background(), u.ID)
	if err != nil || len(tenants) != 1 || tenants[0].Tenant.Name != "example.com" || tenants[0].Role != "owner" {
		t.Fatalf("tenants = %+v, %v", tenants, err)
	}
	got := strings.Join(s.auditActions(t, tenants[0].Tenant.ID), "\n")
	for _, want := range []string{"tenant.created", "auth.sign_in:"} {
		if !strings.Contains(got, want) {
			t.Errorf("audit lacks %s; have:\n%s", want, got)
		}
	}

	// A second sign-in of the same person reuses the tenant.
	b2 := newBrowser(t)
	s.signIn(t, b2, alice)
	tenants, _ = s.DB.TenantsForUser(context.Background(), u.ID)
	if len(tenants) != 1 {
		t.Errorf("second sign-in made %d tenants", len(tenants))
	}
}

func TestSignInCookieAttributes(t *testing.T) {
	for _, secure := range []bool{false, true} {
		s := newStack(t, func(c *handlers.Config) { c.SecureCookies = secure })
		b := newBrowser(t)
		res, err := b.noFollow().Get(s.URL + "/auth/login")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		set := res.Header.Get("Set-Cookie")
		want := []string{"HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=600"}
		if secure {
			want = append(want, "__Host-keyport_login=", "Secure")
		}
		for _, w := range want {
			if !strings.Contains(set, w) {
				t.Errorf("secure=%v: Set-Cookie %q lacks %q", secure, set, w)
			}
		}
		if strings.Contains(set, "Domain=") {
			t.Errorf("cookie has a Domain: %q", set)
		}
	}
}

func TestSessionRotatedAtSignIn(t *testing.T) {
	s := newStack(t, nil)
	b := newBrowser(t)
	s.signIn(t, b, alice)
	first := s.cookie(b, "keyport_session").Value

	// Signing in again in the same browser replaces the session; the old
	// cookie value no longer opens anything.
	s.signIn(t, b, alice)
	second := s.cookie(b, "keyport_session").Value
	if first == second || strings.Split(first, ".")[0] == strings.Split(second, ".")[0] {
		t.Fatal("session id was not rotated at sign-in")
	}
	old := newBrowser(t)
	u, _ := url.Parse(s.URL)
	old.Jar.SetCookies(u, []*http.Cookie{{Name: "keyport_session", Value: first, Path: "/"}})
	res, _ := old.get(t, s.URL+"/dashboard")
	if res.Request.URL.Path != "/" {
		t.Errorf("old session still reaches %s", res.Request.URL.Path)
	}
}

// authorize starts a login without following redirects and returns the IdP
// authorization URL keyport sent the browser to.
func authorize(t *testing.T, s *stack, b *browser) *url.URL {
	t.Helper()
	res, err := b.noFollow().Get(s.URL + "/auth/login")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", res.StatusCode)
	}
	u, err := url.Parse(res.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 || q.Get("state") == "" || q.Get("nonce") == "" {
		t.Fatalf("authorization request lacks PKCE/state/nonce: %s", u.RawQuery)
	}
	return u
}

func TestCallbackRefusesTampering(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(q url.Values) // applied to the authorization request
		status int
		reason string
	}{
		{"state changed", func(q url.Values) { q.Set("state", "forged-state-value") }, http.StatusBadRequest, "state_mismatch"},
		{"nonce changed", func(q url.Values) { q.Set("nonce", "forged-nonce-value") }, http.StatusBadRequest, "nonce_mismatch"},
		{"pkce challenge changed", func(q url.Values) {
			q.Set("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
		}, http.StatusBadRequest, "token_invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStack(t, nil)
			b := newBrowser(t)
			u := authorize(t, s, b)
			q := u.Query()
			tt.tamper(q)
			u.RawQuery = q.Encode()
			s.IdP.Queue(alice)
			res, body := b.get(t, u.String())
			if res.StatusCode != tt.status || res.Request.URL.Path != "/auth/callback" {
				t.Fatalf("got %d at %s, want %d at the callback", res.StatusCode, res.Request.URL.Path, tt.status)
			}
			if !strings.Contains(body, `data-testid="problem"`) {
				t.Error("refusal is not the problem page")
			}
			if s.cookie(b, "keyport_session") != nil {
				t.Error("a session was created")
			}
			if got := strings.Join(s.auditActions(t, ""), "\n"); !strings.Contains(got, `auth.sign_in_failed:{"reason":"`+tt.reason+`"}`) {
				t.Errorf("audit lacks the refusal %s; have:\n%s", tt.reason, got)
			}
		})
	}
}

func TestCallbackIsSingleUse(t *testing.T) {
	s := newStack(t, nil)
	b := newBrowser(t)
	u := authorize(t, s, b)
	login := s.cookie(b, "keyport_login")
	s.IdP.Queue(alice)
	res, err := b.noFollow().Get(u.String())
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	callback := res.Header.Get("Location")
	if !strings.Contains(callback, "/auth/callback?") {
		t.Fatalf("idp redirected to %q", callback)
	}
	if res, _ := b.get(t, callback); res.Request.URL.Path != "/dashboard" {
		t.Fatalf("first callback ended at %s", res.Request.URL.Path)
	}

	// Replaying the same callback with the same pre-login cookie fails: the
	// flow was consumed.
	replay := newBrowser(t)
	base, _ := url.Parse(s.URL)
	replay.Jar.SetCookies(base, []*http.Cookie{{Name: login.Name, Value: login.Value, Path: "/"}})
	res, body := replay.get(t, callback)
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "Sign-in expired") {
		t.Errorf("replay: %d", res.StatusCode)
	}
	// And without the cookie at all.
	res, _ = newBrowser(t).get(t, callback)
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("callback without pre-login cookie: %d", res.StatusCode)
	}
}

func TestLoginFlowExpires(t *testing.T) {
	s := newStack(t, nil)
	b := newBrowser(t)
	u := authorize(t, s, b)
	s.Clock.Advance(11 * time.Minute)
	s.IdP.Queue(alice)
	res, _ := b.get(t, u.String())
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("expired flow: %d", res.StatusCode)
	}
}

func TestSignInPolicies(t *testing.T) {
	tests := []struct {
		name   string
		cfg    func(*handlers.Config)
		id     devidp.Identity
		status int
		text   string
	}{
		{"mfa required, none asserted", func(c *handlers.Config) { c.RequireMFA = true }, alice, http.StatusForbidden, "Second factor required"},
		{"mfa required and asserted", func(c *handlers.Config) { c.RequireMFA = true },
			devidp.Identity{Email: "bob@example.com", EmailVerified: true, MFA: true}, http.StatusOK, `data-testid="dashboard"`},
		// Issue 17 #16: the accepted amr and acr values are configurable.
		{"mfa required, acr accepted", func(c *handlers.Config) { c.RequireMFA, c.MFAACR = true, []string{"gold"} },
			devidp.Identity{Email: "carol@example.com", EmailVerified: true, ACR: "gold"}, http.StatusOK, `data-testid="dashboard"`},
		{"mfa required, acr not accepted", func(c *handlers.Config) { c.RequireMFA, c.MFAACR = true, []string{"gold"} },
			devidp.Identity{Email: "carol@example.com", EmailVerified: true, ACR: "bronze"}, http.StatusForbidden, "Second factor required"},
		{"mfa required, otp not among the accepted amr values", func(c *handlers.Config) { c.RequireMFA, c.MFAAMR = true, []string{"hwk"} },
			devidp.Identity{Email: "bob@example.com", EmailVerified: true, MFA: true}, http.StatusForbidden, "Second factor required"},
		{"unverified email", nil, devidp.Identity{Email: "eve@example.com"}, http.StatusForbidden, "Verified email required"},
		{"invite-only without membership", func(c *handlers.Config) { c.InviteOnly = true }, alice, http.StatusForbidden, "ask an owner"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStack(t, tt.cfg)
			res, body := s.signIn(t, newBrowser(t), tt.id)
			if res.StatusCode != tt.status || !strings.Contains(strings.ToLower(body), strings.ToLower(tt.text)) {
				t.Errorf("got %d, want %d with %q", res.StatusCode, tt.status, tt.text)
			}
		})
	}
}

func TestSessionTimeouts(t *testing.T) {
	tests := []struct {
		name  string
		steps []time.Duration // clock advances, each followed by a request
		alive bool
	}{
		{"active within idle timeout", []time.Duration{20 * time.Minute, 20 * time.Minute, 20 * time.Minute}, true},
		{"idle too long", []time.Duration{31 * time.Minute}, false},
		{"absolute age reached despite activity", []time.Duration{25 * time.Minute, 25 * time.Minute, 25 * time.Minute, 25 * time.Minute}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStack(t, func(c *handlers.Config) { c.SessionIdle = 30 * time.Minute; c.SessionMaxAge = 90 * time.Minute })
			b := newBrowser(t)
			s.signIn(t, b, alice)
			var res *http.Response
			for _, d := range tt.steps {
				s.Clock.Advance(d)
				res, _ = b.get(t, s.URL+"/dashboard")
			}
			if alive := res.Request.URL.Path == "/dashboard"; alive != tt.alive {
				t.Errorf("session alive = %v, want %v", alive, tt.alive)
			}
		})
	}
}

func TestSafeReturnTo(t *testing.T) {
	s := newStack(t, nil)
	for _, rt := range []string{"https://evil.example/", "//evil.example/x", "/\\evil.example", "/auth/logout"} {
		b := newBrowser(t)
		s.IdP.Queue(alice)
		res, _ := b.get(t, s.URL+"/auth/login?return_to="+url.QueryEscape(rt))
		if res.Request.URL.Host != strings.TrimPrefix(s.URL, "http://") || res.Request.URL.Path != "/dashboard" {
			t.Errorf("return_to %q ended at %s", rt, res.Request.URL)
		}
	}
	b := newBrowser(t)
	res, _ := b.get(t, s.URL+"/dashboard?x=1")
	if res.Request.URL.Path != "/" || res.Request.URL.Query().Get("return_to") != "/dashboard?x=1" {
		t.Fatalf("anonymous dashboard went to %s", res.Request.URL)
	}
}

// TestReturnToRefusesWhatBrowsersRewrite is issue 17 #1: a return_to that a
// browser turns into another host (a TAB or newline it drops, a backslash it
// reads as a slash, a space) must never reach the Location header.
func TestReturnToRefusesWhatBrowsersRewrite(t *testing.T) {
	s := newStack(t, nil)
	for _, rt := range []string{"/\t/evil.example/phish", "/\n/evil.example", "/\r/evil.example", "/ /evil.example",
		"/\\/evil.example", "/x\\y", "/\x00/evil.example", "/\u00a0/evil.example", "/\u2028/evil.example", "http:/evil.example"} {
		b := newBrowser(t)
		res, err := b.noFollow().Get(s.URL + "/auth/login?return_to=" + url.QueryEscape(rt))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		s.IdP.Queue(alice)
		res, err = b.noFollow().Get(res.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		res, err = b.noFollow().Get(res.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || loc != "/dashboard" {
			t.Errorf("return_to %q: callback answered %d Location %q, want /dashboard", rt, res.StatusCode, loc)
		}
	}
	// A plain local path with a query still works.
	b := newBrowser(t)
	res, _ := b.get(t, s.URL+"/dashboard?x=1")
	if res.Request.URL.Query().Get("return_to") != "/dashboard?x=1" {
		t.Fatalf("anonymous dashboard went to %s", res.Request.URL)
	}
	s.IdP.Queue(alice)
	res, _ = b.get(t, s.URL+"/auth/login?return_to="+url.QueryEscape("/dashboard?x=1"))
	if res.Request.URL.RequestURI() != "/dashboard?x=1" {
		t.Errorf("local return_to ended at %s", res.Request.URL.RequestURI())
	}
}

// TestExchangeFailuresHaveTheirOwnAnswers is issue 17 #15: a provider that
// refuses keyport's client credentials, or is down during the callback, is
// not a forged sign-in.
func TestExchangeFailuresHaveTheirOwnAnswers(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(s *stack)
		status int
		text   string
		reason string
	}{
		{"client secret rejected", func(s *stack) { s.IdP.ChangeClientSecret() }, http.StatusBadGateway,
			"KEYPORT_OIDC_CLIENT_SECRET", "idp_client_rejected"},
		{"provider down during the callback", func(s *stack) { s.IdP.Close() }, http.StatusServiceUnavailable,
			"could not reach your identity provider", "idp_unreachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStack(t, nil)
			b := newBrowser(t)
			u := authorize(t, s, b)
			s.IdP.Queue(alice)
			res, err := b.noFollow().Get(u.String())
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			callback := res.Header.Get("Location")
			tt.break_(s)
			res, body := b.get(t, callback)
			if res.StatusCode != tt.status || !strings.Contains(body, tt.text) || !strings.Contains(body, `data-testid="problem"`) {
				t.Errorf("callback: %d, want %d with %q", res.StatusCode, tt.status, tt.text)
			}
			if s.cookie(b, "keyport_session") != nil {
				t.Error("a session was created")
			}
			got := strings.Join(s.auditActions(t, ""), "\n")
			if !strings.Contains(got, `auth.sign_in_failed:{"reason":"`+tt.reason+`"}`) || strings.Contains(got, "token_invalid") {
				t.Errorf("audit should say %s (and not token_invalid); have:\n%s", tt.reason, got)
			}
		})
	}
}

// TestSignInWhileProviderDown is issue 17 #18: "Sign in" with the identity
// provider down answers with keyport's own page, and /readyz reports
// degraded without failing (nor /healthz).
func TestSignInWhileProviderDown(t *testing.T) {
	s := newStack(t, nil)
	if res, body := newBrowser(t).get(t, s.URL+"/readyz"); res.StatusCode != http.StatusOK || body != "ready\n" {
		t.Fatalf("readyz with the provider up: %d %q", res.StatusCode, body)
	}
	s2 := newStack(t, nil) // a fresh keyport that has not seen its provider answer lately
	s2.IdP.Close()
	b := newBrowser(t)
	res, err := b.noFollow().Get(s2.URL + "/auth/login")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Location") != "" {
		t.Fatalf("login with the provider down: %d Location %q", res.StatusCode, res.Header.Get("Location"))
	}
	_, body := b.get(t, s2.URL+"/auth/login")
	if !strings.Contains(body, "Identity provider unreachable") || !strings.Contains(body, `data-testid="problem"`) {
		t.Errorf("login page with the provider down:\n%s", body)
	}
	if s2.cookie(b, "keyport_login") != nil {
		t.Error("a login flow was started")
	}
	if res, body := b.get(t, s2.URL+"/readyz"); res.StatusCode != http.StatusOK || !strings.Contains(body, "degraded") {
		t.Errorf("readyz with the provider down: %d %q", res.StatusCode, body)
	}
	if res, _ := b.get(t, s2.URL+"/healthz"); res.StatusCode != http.StatusOK {
		t.Errorf("healthz with the provider down: %d", res.StatusCode)
	}
}

// TestSignOutEndsTheProviderSession is issue 17 #17: with an
// end_session_endpoint, sign-out ends the provider's session too (client_id,
// post_logout_redirect_uri; no id_token_hint, as tokens never go in a URL),
// so "Sign in" asks for credentials again.
func TestSignOutEndsTheProviderSession(t *testing.T) {
	s := newStack(t, nil)
	b := newBrowser(t)
	_, page := s.signIn(t, b, alice)
	res, err := b.noFollow().PostForm(s.URL+"/auth/logout", url.Values{"csrf_token": {csrfToken(t, page)}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if !strings.Contains(res.Header.Get("Content-Security-Policy"), "form-action 'self' "+strings.TrimSuffix(s.IdP.Issuer(), "/oidc")) {
		t.Errorf("CSP does not let the sign-out form reach the provider: %q", res.Header.Get("Content-Security-Policy"))
	}
	to, _ := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusSeeOther || to == nil || !strings.HasPrefix(to.String(), s.IdP.Issuer()+"/logout?") ||
		to.Query().Get("client_id") != s.IdP.ClientID() || to.Query().Get("post_logout_redirect_uri") != s.URL+"/signed-out" {
		t.Fatalf("sign-out: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	res, body := b.get(t, to.String())
	if res.Request.URL.String() != s.URL+"/signed-out" || !strings.Contains(body, "You are signed out") || s.IdP.Logouts() != 1 {
		t.Fatalf("after the provider's sign-out: at %s, logouts %d", res.Request.URL, s.IdP.Logouts())
	}
	if s.cookie(b, "keyport_session") != nil {
		t.Error("cookies left after sign-out")
	}
	// The provider's session is gone: signing in shows its form again
	// instead of signing alice straight back in.
	res, body = b.get(t, s.URL+"/auth/login")
	if !strings.HasPrefix(res.Request.URL.String(), s.IdP.Issuer()) || !strings.Contains(body, `id="signin"`) {
		t.Errorf("sign-in after sign-out ended at %s", res.Request.URL)
	}
}
