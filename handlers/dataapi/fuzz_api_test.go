package dataapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"keyport/handlers"
	"keyport/handlers/dataapi"
	"keyport/keysvc"
	"keyport/keysvc/keysvctest"
	"keyport/web"
)

// apiCodes are the error codes the data API documents.
var apiCodes = map[string]bool{
	"invalid_request": true, "invalid_json": true, "ciphertext_malformed": true, "ciphertext_invalid": true,
	"unauthorized": true, "forbidden": true, "key_not_found": true, "key_disabled": true,
	"key_pending_deletion": true, "key_not_usable": true, "request_too_large": true,
	"key_access_revoked": true, "kms_throttled": true, "unavailable": true, "rate_limited": true,
	"unsupported_media_type": true, "not_found": true, "method_not_allowed": true,
}

// fuzzAPI is the real server (routing, body limit, token check, the data
// API handlers and decodeJSON) over a real key service, called in process.
type fuzzAPI struct {
	env   *keysvctest.Env
	h     http.Handler
	token string
	keyID string
	ct    string // a valid ciphertext, base64
}

func newFuzzAPI(tb testing.TB) *fuzzAPI {
	tb.Helper()
	env := keysvctest.New(tb, keysvc.Config{})
	k := env.Key(tb, "fuzz")
	ctx := context.Background()
	tok, _, err := env.Service.NewServiceToken(ctx, env.Tenant.ID, "fuzz", env.Owner.ID)
	if err != nil {
		tb.Fatal(err)
	}
	enc, err := env.Service.Encrypt(ctx, env.Tenant.ID, k.ID, []byte("fuzz"), map[string]string{"f": "v"})
	if err != nil {
		tb.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := web.New(web.Deps{Handlers: handlers.New(handlers.Deps{DB: env.DB, Logger: log}), API: dataapi.New(env.Service, env.Managed(env.Service), log), Logger: log})
	return &fuzzAPI{env: env, h: e, token: tok, keyID: k.ID, ct: base64.StdEncoding.EncodeToString(enc.Ciphertext)}
}

var fuzzPaths = []string{"/api/v1/encrypt", "/api/v1/decrypt", "/api/v1/encrypt/batch", "/api/v1/decrypt/batch", "/api/v1/datakey"}

// check sends body to one data API path and fails on anything but a JSON
// success or a documented JSON error below 500.
func (f *fuzzAPI) check(t testing.TB, path string, body []byte) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+f.token)
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	var out struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s %q: %d with a body that is not JSON: %q", path, body, rec.Code, rec.Body.Bytes())
	}
	switch {
	case rec.Code >= 500:
		t.Fatalf("%s %q: %d %s (a panic or an unhandled error)", path, body, rec.Code, rec.Body.Bytes())
	case rec.Code >= 300 && (out.Error == nil || !apiCodes[out.Error.Code] || out.Error.Message == ""):
		t.Fatalf("%s %q: %d with an undocumented error %s", path, body, rec.Code, rec.Body.Bytes())
	}
}

// FuzzDataAPIJSON sends arbitrary bodies to every data API call through
// the real server. The first byte picks the call.
func FuzzDataAPIJSON(f *testing.F) {
	api := newFuzzAPI(f)
	seeds := []string{
		`{"key_id":"` + api.keyID + `","plaintext":"eA==","context":{"f":"v"}}`,
		`{"ciphertext":"` + api.ct + `","context":{"f":"v"}}`,
		`{"items":[{"key_id":"` + api.keyID + `","plaintext":"eA=="},{"key_id":"k"}]}`,
		`{"items":[{"ciphertext":"` + api.ct + `","context":{"f":"v"}},{"ciphertext":"AAAA"}]}`,
		`{"key_id":"` + api.keyID + `"}`,
		`{"tenant":"tnt_x","key_id":"k"}`,
		`{"key_id":"k"} {}`, `{"plaintxt":"eA=="}`, `{"plaintext":"***"}`, `{"context":{"":""}}`,
		`{"items":null}`, `{"items":[]}`, `[]`, `null`, `""`, `{`, "\x00", "",
		`{"ciphertext":"AQ` + strings.Repeat("A", 200) + `"}`,
		strings.Repeat("[", 20000), `{"context":` + strings.Repeat(`{"a":`, 5000) + `}`,
		`{"key_id":"\ud800"}`, `{"key_id":1e999}`, `{"key_id":"k","key_id":"k2"}`,
	}
	for i, s := range seeds {
		f.Add(byte(i), []byte(s))
	}
	f.Fuzz(func(t *testing.T, pick byte, body []byte) {
		api.check(t, fuzzPaths[int(pick)%len(fuzzPaths)], body)
	})
}

// TestDataAPIBodyAllocationBounded sends bodies just under and far over the
// 4 MiB limit: decoding must cost a small multiple of what is read, and a
// body over the limit must be cut off at the limit, not read whole.
func TestDataAPIBodyAllocationBounded(t *testing.T) {
	api := newFuzzAPI(t)
	const limit = 4 << 20
	tests := []struct {
		name string
		body []byte
		max  uint64 // bytes allocated by the request, at most
	}{
		{"plaintext field just under the limit", []byte(`{"key_id":"k","plaintext":"` + strings.Repeat("A", limit-64) + `"}`), 8 * limit},
		{"64 MiB body", []byte(`{"key_id":"k","plaintext":"` + strings.Repeat("A", 64<<20) + `"}`), 8 * limit},
		{"deep nesting", []byte(strings.Repeat("[", limit-1)), 8 * limit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			api.check(t, "/api/v1/encrypt", tt.body)
			runtime.ReadMemStats(&after)
			if got := after.TotalAlloc - before.TotalAlloc; got > tt.max {
				t.Errorf("one request allocated %d MiB, want at most %d MiB", got>>20, tt.max>>20)
			}
		})
	}
}
