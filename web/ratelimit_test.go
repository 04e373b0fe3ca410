package web_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"keyport/handlers"
	"keyport/handlers/dataapi"
	"keyport/handlers/oidcrp"
	"keyport/keysvc"
	"keyport/web"
	"keyport/web/devidp"
)

// TestAPIRateLimitPerToken: a token over its limit gets 429 rate_limited
// with Retry-After, in the API's error shape; another token is not
// affected; the bucket refills with time.
func TestAPIRateLimitPerToken(t *testing.T) {
	s := newAPIStack(t, keysvc.Config{})
	k := s.Key(t, "limited")
	clk := &clock{now: time.Now()}
	log := slog.New(slog.DiscardHandler)
	h := handlers.New(handlers.Deps{DB: s.DB, Logger: log})
	ts := httptest.NewServer(web.New(web.Deps{Handlers: h, API: dataapi.New(s.Service, s.Managed, log), Logger: log,
		APIRate: web.RateLimit{Rate: 1, Burst: 2}, Now: clk.Now}))
	t.Cleanup(ts.Close)
	get := func(token string) (*http.Response, map[string]map[string]string) {
		t.Helper()
		req, _ := http.NewRequest("GET", ts.URL+"/api/v1/keys/"+k.ID, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body map[string]map[string]string
		b, _ := io.ReadAll(res.Body)
		_ = json.Unmarshal(b, &body)
		return res, body
	}
	for i := range 2 {
		if res, _ := get(s.TenantToken); res.StatusCode != 200 {
			t.Fatalf("request %d within the burst = %d", i+1, res.StatusCode)
		}
	}
	res, body := get(s.TenantToken)
	if res.StatusCode != http.StatusTooManyRequests || body["error"]["code"] != "rate_limited" || body["error"]["message"] == "" {
		t.Fatalf("over the limit = %d %v, want 429 rate_limited", res.StatusCode, body)
	}
	if ra, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 2 {
		t.Errorf("Retry-After = %q, want 1 or 2 seconds", res.Header.Get("Retry-After"))
	}
	if res, _ := get(s.ProvToken); res.StatusCode == http.StatusTooManyRequests {
		t.Error("another token was limited too")
	}
	if res, _ := get("kpt_not-a-real-token"); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("an invalid token = %d, want 401 (authentication comes first)", res.StatusCode)
	}
	clk.Advance(time.Second)
	if res, _ := get(s.TenantToken); res.StatusCode != 200 {
		t.Errorf("after a second = %d, want the bucket refilled", res.StatusCode)
	}
}

// TestLoginRateLimitPerClient: sign-in starts and callbacks from one
// client share a bucket; a client behind another address is not affected.
func TestLoginRateLimitPerClient(t *testing.T) {
	s := newAPIStack(t, keysvc.Config{})
	ctx := context.Background()
	idp, err := devidp.Start(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idp.Close() })
	ts := httptest.NewUnstartedServer(nil)
	oidc, err := oidcrp.New(ctx, idp.Issuer(), idp.ClientID(), idp.ClientSecret(), "http://"+ts.Listener.Addr().String()+"/auth/callback")
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{now: time.Now()}
	log := slog.New(slog.DiscardHandler)
	h := handlers.New(handlers.Deps{DB: s.DB, OIDC: oidc, Logger: log, Config: handlers.Config{SessionIdle: time.Hour, SessionMaxAge: 2 * time.Hour}})
	ts.Config.Handler = web.New(web.Deps{Handlers: h, Logger: log, LoginRate: web.RateLimit{Rate: 1.0 / 60, Burst: 2}, Now: clk.Now})
	ts.Start()
	t.Cleanup(ts.Close)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	hit := func(path, forwardedFor string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", ts.URL+path, nil)
		if forwardedFor != "" {
			req.Header.Set("X-Forwarded-For", forwardedFor) // the load balancer in front (loopback is trusted)
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	if res := hit("/auth/login", "198.51.100.7"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("first sign-in start = %d, want a redirect to the IdP", res.StatusCode)
	}
	if res := hit("/auth/callback?state=x&code=y", "198.51.100.7"); res.StatusCode == http.StatusTooManyRequests {
		t.Fatal("callback within the burst was limited")
	}
	res := hit("/auth/login", "198.51.100.7")
	if res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third sign-in request = %d, want 429", res.StatusCode)
	}
	if ra, _ := strconv.Atoi(res.Header.Get("Retry-After")); ra < 1 || ra > 60 {
		t.Errorf("Retry-After = %q", res.Header.Get("Retry-After"))
	}
	if res := hit("/auth/login", "203.0.113.9"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("another client = %d, want its own bucket", res.StatusCode)
	}
	if res := hit("/", "198.51.100.7"); res.StatusCode == http.StatusTooManyRequests {
		t.Error("the sign-in page itself was limited")
	}
	clk.Advance(time.Minute)
	if res := hit("/auth/login", "198.51.100.7"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("after a minute = %d, want a token back", res.StatusCode)
	}
}

// TestAPIAuthFailureLimitPerClient: an address that sent too many bad
// service tokens is refused before authentication (issue 17 #8), even
// with a good token, until its allowance refills; requests that
// authenticate never use up an address's allowance, and other addresses
// are not affected.
func TestAPIAuthFailureLimitPerClient(t *testing.T) {
	s := newAPIStack(t, keysvc.Config{})
	k := s.Key(t, "guarded")
	clk := &clock{now: time.Now()}
	log := slog.New(slog.DiscardHandler)
	h := handlers.New(handlers.Deps{DB: s.DB, Logger: log})
	ts := httptest.NewServer(web.New(web.Deps{Handlers: h, API: dataapi.New(s.Service, s.Managed, log), Logger: log,
		APIAuthFailRate: web.RateLimit{Rate: 1.0 / 60, Burst: 3}, Now: clk.Now}))
	t.Cleanup(ts.Close)
	get := func(token, from string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", ts.URL+"/api/v1/keys/"+k.ID, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("X-Forwarded-For", from) // the load balancer in front (loopback is trusted)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body map[string]map[string]string
		b, _ := io.ReadAll(res.Body)
		_ = json.Unmarshal(b, &body)
		return res.StatusCode, body["error"]["code"]
	}
	const guesser, service = "198.51.100.7", "203.0.113.9"
	bad := "kpt_tok_aaaaaaaaaaaaaaaaaaaaaaaaaa_" + strings.Repeat("b", 43)
	for i := range 10 {
		if code, _ := get(s.TenantToken, service); code != 200 {
			t.Fatalf("good request %d from the service = %d", i+1, code)
		}
	}
	for i := range 3 {
		if code, _ := get(bad, guesser); code != http.StatusUnauthorized {
			t.Fatalf("bad token %d within the allowance = %d, want 401", i+1, code)
		}
	}
	if code, errCode := get(bad, guesser); code != http.StatusTooManyRequests || errCode != "rate_limited" {
		t.Errorf("bad token over the allowance = %d %s, want 429 rate_limited", code, errCode)
	}
	if code, _ := get(s.TenantToken, guesser); code != http.StatusTooManyRequests {
		t.Errorf("good token from the spent address = %d, want 429 before authentication", code)
	}
	if code, _ := get(bad, service); code != http.StatusUnauthorized {
		t.Errorf("bad token from the service's address = %d, want 401: its good requests used up nothing", code)
	}
	clk.Advance(time.Minute)
	if code, _ := get(s.TenantToken, guesser); code != 200 {
		t.Errorf("after a minute = %d, want 200", code)
	}
}
