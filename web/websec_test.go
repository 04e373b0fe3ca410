package web_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"sort"
	"strings"
	"testing"

	"keyport/handlers"
	"keyport/keysvc"
	"keyport/web/devidp"
)

// httpsJar stores and returns cookies as if the test server spoke https,
// so Secure and __Host- cookies work over the test's plain http.
type httpsJar struct{ http.CookieJar }

func asHTTPS(u *url.URL) *url.URL {
	c := *u
	c.Scheme = "https"
	return &c
}

func (j httpsJar) SetCookies(u *url.URL, cs []*http.Cookie) { j.CookieJar.SetCookies(asHTTPS(u), cs) }
func (j httpsJar) Cookies(u *url.URL) []*http.Cookie        { return j.CookieJar.Cookies(asHTTPS(u)) }

func newHTTPSBrowser(tb testing.TB) *browser {
	tb.Helper()
	b := newBrowser(tb)
	jar, _ := cookiejar.New(nil)
	b.Jar = httpsJar{jar}
	return b
}

// TestEveryCookieIsHostOnlySecure runs sign-in, an invitation and sign-out
// with SecureCookies on and checks every cookie keyport sets or clears.
func TestEveryCookieIsHostOnlySecure(t *testing.T) {
	rec := recordHTTP(t)
	s := newStack(t, func(c *handlers.Config) { c.SecureCookies = true })
	owner := newHTTPSBrowser(t)
	if res, _ := s.signIn(t, owner, alice); res.Request.URL.Path != "/dashboard" {
		t.Fatalf("sign-in with secure cookies ended at %s", res.Request.URL)
	}
	erin := devidp.Identity{Email: "erin@example.com", Name: "Erin", EmailVerified: true}
	s.invite(t, owner, erin.Email, "admin")
	eb := newHTTPSBrowser(t)
	_, page := s.signInWithLink(t, eb, s.inviteLink(t, erin.Email, 0), erin)
	if res, _ := s.accept(t, eb, page); res.Request.URL.Path != "/dashboard" {
		t.Fatalf("accepting with secure cookies ended at %s", res.Request.URL)
	}
	_, page = owner.get(t, s.URL+"/dashboard")
	owner.post(t, s.URL+"/auth/logout", url.Values{"csrf_token": {csrfToken(t, page)}}, nil)

	host := mustHost(s.URL)
	names := map[string]int{}
	for _, ex := range rec.exchanges() {
		if mustHost(ex.url) != host {
			continue
		}
		for _, line := range ex.header.Values("Set-Cookie") {
			c, err := http.ParseSetCookie(line)
			if err != nil {
				t.Errorf("%s: unparsable Set-Cookie %q", ex.url, line)
				continue
			}
			names[c.Name]++
			switch {
			case !strings.HasPrefix(c.Name, "__Host-"):
				t.Errorf("%s: cookie %s lacks the __Host- prefix", ex.url, c.Name)
			case !c.Secure || !c.HttpOnly:
				t.Errorf("%s: cookie %s Secure=%v HttpOnly=%v", ex.url, c.Name, c.Secure, c.HttpOnly)
			case c.SameSite != http.SameSiteLaxMode && c.SameSite != http.SameSiteStrictMode:
				t.Errorf("%s: cookie %s SameSite=%v", ex.url, c.Name, c.SameSite)
			case c.Path != "/" || c.Domain != "":
				t.Errorf("%s: cookie %s Path=%q Domain=%q", ex.url, c.Name, c.Path, c.Domain)
			}
		}
	}
	for _, want := range []string{"__Host-keyport_session", "__Host-keyport_login", "__Host-keyport_invite"} {
		if names[want] == 0 {
			t.Errorf("the flow never set %s (saw %v): the check did not see every cookie", want, names)
		}
	}
}

// TestEveryStateChangingRouteRefusesBadCSRF walks every route that is not
// GET and sends it, from a signed-in operator who owns a tenant (so no
// authorization refusal can stand in for the CSRF one), without a token,
// with another session's token in the form and in the header: each is the
// CSRF refusal, and the session survives. The data API takes no cookies:
// a session cookie without a bearer token is 401 there.
func TestEveryStateChangingRouteRefusesBadCSRF(t *testing.T) {
	s := newStack(t, func(c *handlers.Config) { c.Operators = []string{alice.Email} })
	b := newBrowser(t)
	s.signIn(t, b, alice)
	other := newBrowser(t)
	_, otherPage := s.signIn(t, other, alice)
	foreign := csrfToken(t, otherPage)
	same := map[string]string{"Origin": s.URL, "Sec-Fetch-Site": "same-origin"}

	var routes []string
	seen := map[string]bool{}
	for _, r := range s.Echo.Routes() {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions, echoRouteNotFound:
			continue
		}
		if key := r.Method + " " + r.Path; !seen[key] {
			seen[key] = true
			routes = append(routes, key)
		}
	}
	sort.Strings(routes)
	if len(routes) < 20 {
		t.Fatalf("only %d state-changing routes: the walk is broken", len(routes))
	}
	cases := []struct {
		name   string
		form   url.Values
		header map[string]string
	}{
		{"no token", url.Values{}, same},
		{"foreign token in the form", url.Values{"csrf_token": {foreign}}, same},
		{"foreign token in the header", url.Values{}, map[string]string{"Origin": s.URL, "Sec-Fetch-Site": "same-origin", "X-CSRF-Token": foreign}},
	}
	refused := 0
	for _, key := range routes {
		method, path, _ := strings.Cut(key, " ")
		target := path
		for _, seg := range strings.Split(path, "/") {
			if strings.HasPrefix(seg, ":") {
				target = strings.Replace(target, seg, "x0", 1)
			}
		}
		t.Run(key, func(t *testing.T) {
			for _, tc := range cases {
				req, _ := http.NewRequest(method, s.URL+target, strings.NewReader(tc.form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				for k, v := range tc.header {
					req.Header.Set(k, v)
				}
				res, err := b.noFollow().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if strings.HasPrefix(path, "/api/") {
					if res.StatusCode != http.StatusUnauthorized {
						t.Errorf("%s: a session cookie reached the data API: %d", tc.name, res.StatusCode)
					}
					continue
				}
				if res.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "This form has expired") {
					t.Errorf("%s: %d, want the CSRF refusal", tc.name, res.StatusCode)
					continue
				}
				refused++
			}
		})
	}
	if res, _ := b.get(t, s.URL+"/dashboard"); res.Request.URL.Path != "/dashboard" {
		t.Error("the refused requests ended the session")
	}
	fmt.Printf("METRIC web_csrf state_changing_routes=%d attempts=%d refused=%d\n", len(routes), len(routes)*len(cases), refused)
}

// TestSessionFixation plants cookies before sign-in: a made-up one and
// another user's live session. After signing in the browser holds a new
// session of its own, and the planted session is still only its owner's.
func TestSessionFixation(t *testing.T) {
	s := newStack(t, nil)
	mallory := devidp.Identity{Email: "mallory@evil.test", Name: "Mallory", EmailVerified: true}
	attacker := newBrowser(t)
	s.signIn(t, attacker, mallory)
	planted := s.cookie(attacker, "keyport_session").Value
	u, _ := url.Parse(s.URL)
	for _, tt := range []struct{ name, value string }{
		{"made-up id", "ses_fixedbyattacker.c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"},
		{"another user's live session", planted},
	} {
		t.Run(tt.name, func(t *testing.T) {
			victim := newBrowser(t)
			victim.Jar.SetCookies(u, []*http.Cookie{{Name: "keyport_session", Value: tt.value, Path: "/"}})
			if _, page := s.signIn(t, victim, alice); !strings.Contains(page, alice.Email) {
				t.Fatal("the victim's sign-in did not land signed in as the victim")
			}
			after := s.cookie(victim, "keyport_session").Value
			if after == tt.value || strings.Split(after, ".")[0] == strings.Split(tt.value, ".")[0] {
				t.Fatal("the planted session id survived sign-in")
			}
			_, page := attacker.get(t, s.URL+"/dashboard")
			if strings.Contains(page, alice.Email) {
				t.Error("the planted session now acts as the victim")
			}
		})
	}
}

// TestReplayAfterLogoutOfAChange replays a signed-out session's cookie
// together with its CSRF token on a state-changing request: refused, and
// nothing changes.
func TestReplayAfterLogoutOfAChange(t *testing.T) {
	s := newStack(t, nil)
	b := newBrowser(t)
	_, page := s.signIn(t, b, alice)
	token := csrfToken(t, page)
	ck := *s.cookie(b, "keyport_session")
	tenant := s.tenantOf(t, alice)
	before, _ := s.DB.ListInvitations(context.Background(), tenant)
	b.post(t, s.URL+"/auth/logout", url.Values{"csrf_token": {token}}, nil)

	replay := newBrowser(t)
	u, _ := url.Parse(s.URL)
	replay.Jar.SetCookies(u, []*http.Cookie{{Name: ck.Name, Value: ck.Value, Path: "/"}})
	res, _ := replay.post(t, s.URL+"/members/invite", url.Values{"csrf_token": {token}, "email": {"late@example.com"}, "role": {"admin"}}, nil)
	if res.StatusCode != http.StatusForbidden && res.StatusCode != http.StatusUnauthorized {
		t.Errorf("replayed change after logout: %d", res.StatusCode)
	}
	if after, _ := s.DB.ListInvitations(context.Background(), tenant); len(after) != len(before) {
		t.Error("the replayed request invited someone")
	}
}

// TestEveryResponseCarriesSecurityHeaders fetches every GET route (as an
// anonymous visitor and as a signed-in operator), the data API (answers
// and errors), errors of every kind, static files, health checks, HEAD and
// redirects, and checks the headers on each.
func TestEveryResponseCarriesSecurityHeaders(t *testing.T) {
	rec := recordHTTP(t)
	s := newStack(t, func(c *handlers.Config) { c.Operators = []string{alice.Email} })
	api := newAPIStack(t, keysvc.Config{})
	b := newBrowser(t)
	s.signIn(t, b, alice)
	anon := newBrowser(t)
	for _, r := range s.Echo.Routes() {
		if r.Method != http.MethodGet {
			continue
		}
		path := strings.ReplaceAll(r.Path, "*", "css/app.css")
		for _, seg := range strings.Split(path, "/") {
			if strings.HasPrefix(seg, ":") {
				path = strings.Replace(path, seg, "x0", 1)
			}
		}
		b.get(t, s.URL+path)
		anon.noFollow().Get(s.URL + path)
	}
	for _, extra := range []struct{ method, path string }{
		{http.MethodHead, "/dashboard"}, {http.MethodHead, "/healthz"}, {http.MethodPost, "/dashboard"},
		{http.MethodPut, "/keys"}, {http.MethodPost, "/auth/logout"}, {http.MethodGet, "/no/such/page"},
	} {
		req, _ := http.NewRequest(extra.method, s.URL+extra.path, nil)
		if res, err := b.Do(req); err == nil {
			res.Body.Close()
		}
	}
	k := api.Key(t, "headers")
	api.call(t, "POST", "/api/v1/encrypt", api.TenantToken, map[string]any{"key_id": k.ID, "plaintext": b64("x")})
	api.call(t, "POST", "/api/v1/encrypt", "", map[string]any{"key_id": k.ID})
	api.call(t, "POST", "/api/v1/decrypt", api.TenantToken, `{"ciphertext": 1}`)
	api.call(t, "GET", "/api/v1/keys/key_nope", api.TenantToken, nil)
	api.call(t, "GET", "/api/v1/nothing", api.TenantToken, nil)

	want := map[string]string{
		"Content-Security-Policy":    "frame-ancestors 'none'",
		"X-Content-Type-Options":     "nosniff",
		"X-Frame-Options":            "DENY",
		"Referrer-Policy":            "no-referrer",
		"Cross-Origin-Opener-Policy": "same-origin",
		"Strict-Transport-Security":  "max-age=",
	}
	ours := map[string]bool{mustHost(s.URL): true, mustHost(api.URL): true}
	checked, missing, statuses := 0, 0, map[int]bool{}
	for _, ex := range rec.exchanges() {
		if !ours[mustHost(ex.url)] {
			continue
		}
		checked++
		statuses[ex.status] = true
		for name, part := range want {
			if !strings.Contains(ex.header.Get(name), part) {
				missing++
				t.Errorf("%s %s (%d): %s = %q", ex.method, ex.url, ex.status, name, ex.header.Get(name))
			}
		}
	}
	for _, st := range []int{200, 303, 401, 403, 404} {
		if !statuses[st] {
			t.Errorf("no %d response was checked", st)
		}
	}
	fmt.Printf("METRIC web_security_headers responses=%d statuses=%d missing=%d\n", checked, len(statuses), missing)
}
