package devidp_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"keyport/web/devidp"
)

// rig is one IdP plus a relying party configured the way keyport is.
type rig struct {
	idp      *devidp.IdP
	provider *oidc.Provider
	conf     oauth2.Config
	client   *http.Client // does not follow redirects
	// callbacks receives the query of each request to the redirect_uri.
	callbacks chan url.Values
}

func newRig(tb testing.TB) *rig {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	idp, err := devidp.Start(ctx, "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := idp.Close(); err != nil {
			tb.Error(err)
		}
	})
	provider, err := oidc.NewProvider(ctx, idp.Issuer())
	if err != nil {
		tb.Fatalf("discover %s: %v", idp.Issuer(), err)
	}
	callbacks := make(chan url.Values, 4)
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		callbacks <- r.URL.Query()
		_, _ = w.Write([]byte("ok"))
	}))
	tb.Cleanup(rp.Close)
	endpoint := provider.Endpoint()
	endpoint.AuthStyle = oauth2.AuthStyleInParams
	return &rig{
		idp: idp, provider: provider, callbacks: callbacks,
		conf: oauth2.Config{
			ClientID: idp.ClientID(), ClientSecret: idp.ClientSecret(),
			Endpoint: endpoint, RedirectURL: rp.URL + "/auth/callback",
			Scopes: []string{oidc.ScopeOpenID, "email", "profile"},
		},
		client: &http.Client{
			Timeout:       10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// flow is one authorization attempt's secrets.
type flow struct{ state, nonce, verifier, authURL string }

func (r *rig) newFlow() flow {
	f := flow{state: oauth2.GenerateVerifier(), nonce: oauth2.GenerateVerifier(), verifier: oauth2.GenerateVerifier()}
	f.authURL = r.conf.AuthCodeURL(f.state, oidc.Nonce(f.nonce), oauth2.S256ChallengeOption(f.verifier))
	return f
}

func (r *rig) get(tb testing.TB, u string) *http.Response {
	tb.Helper()
	resp, err := r.client.Get(u)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

// submitForm fills the sign-in form found in resp as a browser would, keeping
// every hidden field, and returns the response to the POST.
func (r *rig) submitForm(tb testing.TB, resp *http.Response, email, name string, verified, mfa bool) *http.Response {
	tb.Helper()
	doc, err := goquery.NewDocumentFromReader(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	form := doc.Find("form")
	action, _ := form.Attr("action")
	vals := url.Values{}
	form.Find(`input[type=hidden]`).Each(func(_ int, s *goquery.Selection) {
		vals.Set(s.AttrOr("name", ""), s.AttrOr("value", ""))
	})
	vals.Set("email", email)
	vals.Set("name", name)
	if verified {
		vals.Set("email_verified", "on")
	}
	if mfa {
		vals.Set("mfa", "on")
	}
	post, err := r.client.PostForm(resp.Request.URL.ResolveReference(&url.URL{Path: action}).String(), vals)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = post.Body.Close() })
	return post
}

// claims is what keyport reads from the ID token.
type claims struct {
	Email         string   `json:"email"`
	EmailVerified *bool    `json:"email_verified"` // a pointer to see that false is sent, not omitted
	Name          string   `json:"name"`
	AMR           []string `json:"amr"`
}

// finish follows the redirect to the relying party, exchanges the code with
// the PKCE verifier and verifies the ID token.
func (r *rig) finish(tb testing.TB, f flow, resp *http.Response) (*oidc.IDToken, claims, *oauth2.Token) {
	tb.Helper()
	if resp.StatusCode != http.StatusFound {
		tb.Fatalf("sign-in status = %d, want 302", resp.StatusCode)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, r.conf.RedirectURL+"?") {
		tb.Fatalf("redirected to %q, want %s", loc, r.conf.RedirectURL)
	}
	r.get(tb, loc)
	q := <-r.callbacks
	if q.Get("state") != f.state {
		tb.Fatalf("state = %q, want %q", q.Get("state"), f.state)
	}
	ctx := context.Background()
	tok, err := r.conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(f.verifier))
	if err != nil {
		tb.Fatalf("exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := r.provider.Verifier(&oidc.Config{ClientID: r.conf.ClientID}).Verify(ctx, raw)
	if err != nil {
		tb.Fatalf("verify ID token: %v", err)
	}
	if idt.Nonce != f.nonce {
		tb.Errorf("nonce = %q, want %q", idt.Nonce, f.nonce)
	}
	var c claims
	if err := idt.Claims(&c); err != nil {
		tb.Fatal(err)
	}
	return idt, c, tok
}

func TestSignInThroughForm(t *testing.T) {
	r := newRig(t)
	tests := []struct {
		name, email, fullName string
		verified, mfa         bool
		wantAMR               []string
	}{
		{"password only", "ada@example.com", "Ada Lovelace", true, false, []string{"pwd"}},
		{"with MFA", "Ada@Example.com", "", true, true, []string{"pwd", "otp"}},
		{"unverified email", "bob@example.com", "Bob", false, false, []string{"pwd"}},
	}
	subjects := map[string]string{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := r.newFlow()
			page := r.get(t, f.authURL)
			if page.StatusCode != http.StatusOK || !strings.HasPrefix(page.Header.Get("Content-Type"), "text/html") {
				t.Fatalf("authorize = %d %s, want the form", page.StatusCode, page.Header.Get("Content-Type"))
			}
			if csp := page.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
				t.Errorf("CSP = %q", csp)
			}
			idt, c, tok := r.finish(t, f, r.submitForm(t, page, tt.email, tt.fullName, tt.verified, tt.mfa))
			if c.Email != tt.email || c.EmailVerified == nil || *c.EmailVerified != tt.verified {
				t.Errorf("email = %q verified=%v, want %q %v", c.Email, c.EmailVerified, tt.email, tt.verified)
			}
			if !slices.Equal(c.AMR, tt.wantAMR) {
				t.Errorf("amr = %v, want %v", c.AMR, tt.wantAMR)
			}
			wantName := tt.fullName
			if wantName == "" {
				wantName = "Ada" // the local part stands in for an empty name
			}
			if c.Name != wantName {
				t.Errorf("name = %q, want %q", c.Name, wantName)
			}
			if idt.Subject != devidp.Subject(tt.email) {
				t.Errorf("sub = %q, want %q", idt.Subject, devidp.Subject(tt.email))
			}
			subjects[tt.name] = idt.Subject
			// mockoidc reports expires_in in nanoseconds; devidp fixes it.
			if left := time.Until(tok.Expiry); left <= 0 || left > 11*time.Minute {
				t.Errorf("access token expires in %v, want about 10m", left)
			}
		})
	}
	if subjects["password only"] == "" || subjects["password only"] != subjects["with MFA"] {
		t.Errorf("same email, different letter case: subjects %q and %q, want equal",
			subjects["password only"], subjects["with MFA"])
	}
	if subjects["password only"] == subjects["unverified email"] {
		t.Error("different emails share a subject")
	}
}

func TestQueueBypassesForm(t *testing.T) {
	r := newRig(t)
	r.idp.Queue(devidp.Identity{Email: "carol@example.com", Name: "Carol", EmailVerified: true, MFA: true})
	// openid last: mockoidc alone would then issue no ID token.
	r.conf.Scopes = []string{"email", "profile", oidc.ScopeOpenID}
	f := r.newFlow()
	idt, c, tok := r.finish(t, f, r.get(t, f.authURL))
	if c.Email != "carol@example.com" || !slices.Equal(c.AMR, []string{"pwd", "otp"}) {
		t.Errorf("claims = %+v", c)
	}
	info, err := r.provider.UserInfo(context.Background(), oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	if info.Subject != idt.Subject || info.Email != "carol@example.com" || !info.EmailVerified {
		t.Errorf("userinfo = %+v, want carol with sub %q", info, idt.Subject)
	}
	// The queue is used up: the next request shows the form again.
	if resp := r.get(t, r.newFlow().authURL); resp.StatusCode != http.StatusOK {
		t.Errorf("second authorize = %d, want the form (200)", resp.StatusCode)
	}
}

func TestFormRejectsBadEmail(t *testing.T) {
	r := newRig(t)
	for _, email := range []string{"", "   ", "not-an-email", "Ada <ada@example.com>"} {
		t.Run(email, func(t *testing.T) {
			resp := r.submitForm(t, r.get(t, r.newFlow().authURL), email, "Ada", true, false)
			if resp.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("status = %d, want 422", resp.StatusCode)
			}
			doc, err := goquery.NewDocumentFromReader(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if msg := doc.Find("#error").Text(); !strings.Contains(msg, "email address") {
				t.Errorf("error = %q, want an email message", msg)
			}
			if doc.Find("#email").Length() != 1 || doc.Find(`input[name=state]`).Length() != 1 {
				t.Error("form or its hidden fields missing after the error")
			}
		})
	}
}

func TestPKCEIsEnforced(t *testing.T) {
	r := newRig(t)
	f := r.newFlow()
	resp := r.submitForm(t, r.get(t, f.authURL), "ada@example.com", "Ada", true, false)
	r.get(t, resp.Header.Get("Location"))
	q := <-r.callbacks
	if _, err := r.conf.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(oauth2.GenerateVerifier())); err == nil {
		t.Fatal("exchange with the wrong verifier succeeded")
	}
}

func TestRejectsBadAuthorizationRequests(t *testing.T) {
	r := newRig(t)
	good := r.newFlow().authURL
	tests := map[string]func(url.Values){
		"no PKCE":          func(v url.Values) { v.Del("code_challenge"); v.Del("code_challenge_method") },
		"plain PKCE":       func(v url.Values) { v.Set("code_challenge_method", "plain") },
		"no nonce":         func(v url.Values) { v.Del("nonce") },
		"wrong client":     func(v url.Values) { v.Set("client_id", "someone-else") },
		"script redirect":  func(v url.Values) { v.Set("redirect_uri", "javascript:alert(1)") },
		"CSP in redirect":  func(v url.Values) { v.Set("redirect_uri", "http://a;script-src*/cb") },
		"no openid scope":  func(v url.Values) { v.Set("scope", "email") },
		"unknown scope":    func(v url.Values) { v.Set("scope", "openid offline_access") },
		"token flow":       func(v url.Values) { v.Set("response_type", "token") },
		"missing redirect": func(v url.Values) { v.Del("redirect_uri") },
	}
	for name, edit := range tests {
		t.Run(name, func(t *testing.T) {
			u, _ := url.Parse(good)
			q := u.Query()
			edit(q)
			u.RawQuery = q.Encode()
			if resp := r.get(t, u.String()); resp.StatusCode != http.StatusBadRequest {
				t.Errorf("status = %d, want 400", resp.StatusCode)
			}
		})
	}
}

func TestPageEscapesParameters(t *testing.T) {
	r := newRig(t)
	evil := `"><script>alert(1)</script>`
	authURL := r.conf.AuthCodeURL(evil, oidc.Nonce("n"), oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
	resp := r.get(t, authURL+"&login_hint="+url.QueryEscape(evil))
	doc, err := goquery.NewDocumentFromReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if doc.Find("script").Length() != 0 {
		t.Error("a script element made it into the page")
	}
	if got := doc.Find(`input[name=state]`).AttrOr("value", ""); got != evil {
		t.Errorf("state round trip = %q, want %q", got, evil)
	}
	if got := doc.Find("title").Text(); got != "keyport development sign-in" {
		t.Errorf("title = %q", got)
	}
	for _, id := range []string{"#email", "#name", "#email_verified[checked]", "#mfa", "#signin", "[data-testid=devidp-banner]"} {
		if doc.Find(id).Length() != 1 {
			t.Errorf("page lacks %s", id)
		}
	}
}

func TestStartRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:0"} {
		if idp, err := devidp.Start(context.Background(), addr); err == nil {
			_ = idp.Close()
			t.Errorf("Start(%q) succeeded", addr)
		}
	}
}

func TestStopsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	idp, err := devidp.Start(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	discovery := idp.Issuer() + "/.well-known/openid-configuration"
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(discovery)
		if err != nil {
			break
		}
		_ = resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatal("IdP still serving after its context ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := idp.Close(); err != nil {
		t.Errorf("Close after cancel: %v", err)
	}
}
