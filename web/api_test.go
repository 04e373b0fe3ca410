package web_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"keyport/handlers"
	"keyport/handlers/dataapi"
	"keyport/keysvc"
	"keyport/keysvc/keysvctest"
	"keyport/keysvc/managed"
	"keyport/models"
	"keyport/web"
)

// apiStack is keyport's data API over HTTP with a tenant whose AWS account
// is in kmslocal.
type apiStack struct {
	*keysvctest.Env
	Managed     *managed.Service // the keys whose material keyport holds (import requests)
	URL         string
	TenantToken string
	ProvToken   string
	Logs        *syncBuffer
}

func newAPIStack(tb testing.TB, cfg keysvc.Config) *apiStack {
	tb.Helper()
	env := keysvctest.New(tb, cfg)
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("server log:\n%s", logs.String())
		}
	})
	ctx := context.Background()
	tenantTok, _, err := env.Service.NewServiceToken(ctx, env.Tenant.ID, "orders service", env.Owner.ID)
	if err != nil {
		tb.Fatal(err)
	}
	provTok, _, err := env.Service.NewServiceToken(ctx, "", "platform", "operator")
	if err != nil {
		tb.Fatal(err)
	}
	mgd := env.Managed(env.Service)
	h := handlers.New(handlers.Deps{DB: env.DB, Logger: log})
	ts := httptest.NewServer(web.New(web.Deps{Handlers: h, API: dataapi.New(env.Service, mgd, log), Logger: log}))
	tb.Cleanup(ts.Close)
	return &apiStack{Env: env, Managed: mgd, URL: ts.URL, TenantToken: tenantTok, ProvToken: provTok, Logs: logs}
}

// call sends a JSON request with a bearer token and decodes the answer.
func (s *apiStack) call(tb testing.TB, method, path, token string, body any) (int, map[string]any, http.Header) {
	tb.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		buf, _ := json.Marshal(b)
		r = bytes.NewReader(buf)
	}
	req, _ := http.NewRequest(method, s.URL+path, r)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		tb.Fatalf("%s %s: body is not JSON: %q", method, path, raw)
	}
	return res.StatusCode, out, res.Header
}

func errCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestDataAPIRoundTrip(t *testing.T) {
	s := newAPIStack(t, keysvc.Config{})
	k := s.Key(t, "orders")

	st, enc, hdr := s.call(t, "POST", "/api/v1/encrypt", s.TenantToken,
		map[string]any{"key_id": k.ID, "plaintext": b64("555-12-3456"), "context": map[string]string{"field": "ssn"}})
	if st != 200 || enc["key_id"] != k.ID || enc["key_version"] != float64(1) || enc["ciphertext"] == "" {
		t.Fatalf("encrypt: %d %v", st, enc)
	}
	if hdr.Get("Cache-Control") != "no-store" {
		t.Error("data API response may be cached")
	}
	st, dec, _ := s.call(t, "POST", "/api/v1/decrypt", s.TenantToken,
		map[string]any{"ciphertext": enc["ciphertext"], "context": map[string]string{"field": "ssn"}})
	if st != 200 || dec["plaintext"] != b64("555-12-3456") || dec["key_version"] != float64(1) {
		t.Fatalf("decrypt: %d %v", st, dec)
	}

	// A provider-wide token names the tenant.
	st, dec, _ = s.call(t, "POST", "/api/v1/decrypt", s.ProvToken,
		map[string]any{"tenant": s.Tenant.ID, "ciphertext": enc["ciphertext"], "context": map[string]string{"field": "ssn"}})
	if st != 200 || dec["plaintext"] != b64("555-12-3456") {
		t.Fatalf("provider-wide decrypt: %d %v", st, dec)
	}

	st, dk, _ := s.call(t, "POST", "/api/v1/datakey", s.TenantToken, map[string]any{"key_id": k.ID})
	if st != 200 {
		t.Fatalf("datakey: %d %v", st, dk)
	}
	raw, _ := base64.StdEncoding.DecodeString(dk["plaintext"].(string))
	if len(raw) != 32 {
		t.Fatalf("datakey plaintext is %d bytes", len(raw))
	}
	_, back, _ := s.call(t, "POST", "/api/v1/decrypt", s.TenantToken, map[string]any{"ciphertext": dk["ciphertext"]})
	if back["plaintext"] != dk["plaintext"] {
		t.Error("the datakey's ciphertext does not decrypt to its plaintext")
	}

	st, info, _ := s.call(t, "GET", "/api/v1/keys/"+k.ID, s.TenantToken, nil)
	if st != 200 || info["state"] != "ENABLED" || info["current_version"] != float64(1) || info["health"] != "OK" {
		t.Errorf("key status: %d %v", st, info)
	}
	if strings.Contains(s.Logs.String(), "555-12-3456") || strings.Contains(s.Logs.String(), b64("555-12-3456")) {
		t.Error("plaintext reached the log")
	}
}

func TestDataAPIBatch(t *testing.T) {
	s := newAPIStack(t, keysvc.Config{})
	k := s.Key(t, "orders")
	items := []map[string]any{
		{"key_id": k.ID, "plaintext": b64("one")},
		{"key_id": "key_missing", "plaintext": b64("two")},
		{"key_id": k.ID, "plaintext": b64("three")},
	}
	st, out, _ := s.call(t, "POST", "/api/v1/encrypt/batch", s.TenantToken, map[string]any{"items": items})
	res, _ := out["items"].([]any)
	if st != 200 || len(res) != 3 {
		t.Fatalf("batch: %d %v", st, out)
	}
	second, _ := res[1].(map[string]any)
	if errCode(second) != "key_not_found" {
		t.Errorf("item 2 = %v", second)
	}
	var cts []any
	for _, i := range []int{0, 2} {
		cts = append(cts, map[string]any{"ciphertext": res[i].(map[string]any)["ciphertext"]})
	}
	cts = append(cts, map[string]any{"ciphertext": b64("garbage")})
	_, out, _ = s.call(t, "POST", "/api/v1/decrypt/batch", s.TenantToken, map[string]any{"items": cts})
	res, _ = out["items"].([]any)
	if res[0].(map[string]any)["plaintext"] != b64("one") || res[1].(map[string]any)["plaintext"] != b64("three") ||
		errCode(res[2].(map[string]any)) != "ciphertext_malformed" {
		t.Errorf("decrypt batch = %v", out)
	}
	tooMany := make([]map[string]any, dataapi.MaxBatchItems+1)
	for i := range tooMany {
		tooMany[i] = items[0]
	}
	if st, out, _ := s.call(t, "POST", "/api/v1/encrypt/batch", s.TenantToken, map[string]any{"items": tooMany}); st != 400 || errCode(out) != "invalid_request" {
		t.Errorf("101 items: %d %v", st, out)
	}
}

func TestDataAPIErrors(t *testing.T) {
	s := newAPIStack(t, keysvc.Config{})
	k := s.Key(t, "orders")
	_, enc, _ := s.call(t, "POST", "/api/v1/encrypt", s.TenantToken, map[string]any{"key_id": k.ID, "plaintext": b64("x")})
	ct, _ := base64.StdEncoding.DecodeString(enc["ciphertext"].(string))
	tampered := bytes.Clone(ct)
	tampered[len(tampered)-3] ^= 0x10

	other := keysvctest.New(t, keysvc.Config{}) // another tenant, its own database and key
	_, otherTenant, _ := other.DB, other.Tenant, other.Owner
	_ = otherTenant
	ctx := context.Background()
	u, _, _ := s.DB.UpsertOIDCUser(ctx, "https://idp.test", "mallory", "mallory@evil.test", "")
	evil, _ := s.DB.CreateTenantWithOwner(ctx, "evil.test", u.ID, models.AuditInput{Actor: u.ID, Action: "tenant.created"})
	evilTok, _, _ := s.Service.NewServiceToken(ctx, evil.ID, "evil", u.ID)

	tests := []struct {
		name   string
		path   string
		token  string
		body   any
		status int
		code   string
	}{
		{"no token", "/api/v1/encrypt", "", map[string]any{"key_id": k.ID, "plaintext": b64("x")}, 401, "unauthorized"},
		{"bad token", "/api/v1/encrypt", "kpt_tok_nope_" + strings.Repeat("a", 43), map[string]any{"key_id": k.ID, "plaintext": b64("x")}, 401, "unauthorized"},
		{"tenant token for another tenant", "/api/v1/encrypt", s.TenantToken, map[string]any{"tenant": evil.ID, "key_id": k.ID, "plaintext": b64("x")}, 403, "forbidden"},
		{"provider token without tenant", "/api/v1/encrypt", s.ProvToken, map[string]any{"key_id": k.ID, "plaintext": b64("x")}, 400, "invalid_request"},
		{"missing key id", "/api/v1/encrypt", s.TenantToken, map[string]any{"plaintext": b64("x")}, 400, "invalid_request"},
		{"unknown key", "/api/v1/encrypt", s.TenantToken, map[string]any{"key_id": "key_nope", "plaintext": b64("x")}, 404, "key_not_found"},
		{"another tenant's key", "/api/v1/encrypt", evilTok, map[string]any{"key_id": k.ID, "plaintext": b64("x")}, 404, "key_not_found"},
		{"another tenant's ciphertext", "/api/v1/decrypt", evilTok, map[string]any{"ciphertext": enc["ciphertext"]}, 404, "key_not_found"},
		{"tampered ciphertext", "/api/v1/decrypt", s.TenantToken, map[string]any{"ciphertext": tampered}, 400, "ciphertext_invalid"},
		{"wrong context", "/api/v1/decrypt", s.TenantToken, map[string]any{"ciphertext": enc["ciphertext"], "context": map[string]string{"a": "b"}}, 400, "ciphertext_invalid"},
		{"not base64", "/api/v1/decrypt", s.TenantToken, `{"ciphertext": "***"}`, 400, "invalid_json"},
		{"unknown field", "/api/v1/encrypt", s.TenantToken, `{"key_id": "k", "plaintxt": "eA=="}`, 400, "invalid_json"},
		{"not json", "/api/v1/encrypt", s.TenantToken, `key_id=k`, 400, "invalid_json"},
		{"trailing data", "/api/v1/encrypt", s.TenantToken, `{"key_id": "k"} {}`, 400, "invalid_json"},
		{"trailing brace", "/api/v1/encrypt", s.TenantToken, `{"key_id": "k"} }`, 400, "invalid_json"},
		{"plaintext too large", "/api/v1/encrypt", s.TenantToken, map[string]any{"key_id": k.ID, "plaintext": make([]byte, dataapi.MaxAPIPlaintext+1)}, 400, "invalid_request"},
		{"body too large", "/api/v1/encrypt", s.TenantToken, map[string]any{"key_id": k.ID, "plaintext": make([]byte, 5<<20)}, 413, "request_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, out, _ := s.call(t, "POST", tt.path, tt.token, tt.body)
			if st != tt.status || errCode(out) != tt.code {
				t.Errorf("got %d %q, want %d %q (%v)", st, errCode(out), tt.status, tt.code, out)
			}
		})
	}

	// A disabled key answers 409 at once.
	disabled := models.StateDisabled
	if _, err := s.DB.UpdateKey(ctx, s.Tenant.ID, k.ID, models.KeyUpdate{State: &disabled, BumpEpoch: true}, models.AuditInput{Actor: s.Owner.ID, Action: "key.disabled"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Service.Purge(ctx, s.Tenant.ID, k.ID, s.Owner.ID); err != nil {
		t.Fatal(err)
	}
	if st, out, _ := s.call(t, "POST", "/api/v1/decrypt", s.TenantToken, map[string]any{"ciphertext": enc["ciphertext"]}); st != 409 || errCode(out) != "key_disabled" {
		t.Errorf("disabled key: %d %v", st, out)
	}
}

func TestDataAPIRevocationAndThrottling(t *testing.T) {
	s := newAPIStack(t, keysvc.Config{CacheTTL: time.Minute})
	k := s.Key(t, "orders")
	_, enc, _ := s.call(t, "POST", "/api/v1/encrypt", s.TenantToken, map[string]any{"key_id": k.ID, "plaintext": b64("x")})

	s.Revoke(t, k, true)
	ctx := context.Background()
	if err := s.Service.Purge(ctx, s.Tenant.ID, k.ID, s.Owner.ID); err != nil {
		t.Fatal(err)
	}
	st, out, _ := s.call(t, "POST", "/api/v1/decrypt", s.TenantToken, map[string]any{"ciphertext": enc["ciphertext"]})
	if st != 424 || errCode(out) != "key_access_revoked" {
		t.Fatalf("revoked: %d %v", st, out)
	}
	if msg, _ := out["error"].(map[string]any)["message"].(string); strings.Contains(msg, "AccessDenied") || strings.Contains(msg, "arn:aws") {
		t.Errorf("AWS error text reached the caller: %q", msg)
	}

	s.Revoke(t, k, false)
	s.KMS.FailNext("Decrypt", 1, "ThrottlingException")
	if err := s.Service.Purge(ctx, s.Tenant.ID, k.ID, s.Owner.ID); err != nil {
		t.Fatal(err)
	}
	st, out, hdr := s.call(t, "POST", "/api/v1/decrypt", s.TenantToken, map[string]any{"ciphertext": enc["ciphertext"]})
	if st != 429 || errCode(out) != "kms_throttled" || hdr.Get("Retry-After") == "" {
		t.Fatalf("throttled: %d %v Retry-After=%q", st, out, hdr.Get("Retry-After"))
	}
	if st, _, _ := s.call(t, "POST", "/api/v1/decrypt", s.TenantToken, map[string]any{"ciphertext": enc["ciphertext"]}); st != 200 {
		t.Errorf("after throttling ends: %d", st)
	}
}
