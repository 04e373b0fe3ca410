package dataapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"keyport/handlers"
	"keyport/handlers/dataapi"
	"keyport/web"
)

// discardWriter is a ResponseWriter that keeps nothing but its headers.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}

// BenchmarkDataAPIChain is one warm encrypt through keyport's whole echo
// server (every middleware, the token, the rate limits, counting, the
// access log) beside a bare echo handler of the same JSON shape, in
// process: the cost of the chain without the network.
//
//	go test -run '^$' -bench DataAPIChain -benchmem ./handlers/dataapi/
func BenchmarkDataAPIChain(b *testing.B) {
	api := newFuzzAPI(b)
	body := []byte(`{"key_id":"` + api.keyID + `","plaintext":"` + strings.Repeat("A", 344) + `","context":{"field":"bench"}}`)
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	keyport := web.New(web.Deps{Handlers: handlers.New(handlers.Deps{DB: api.env.DB, Logger: log}),
		API: dataapi.New(api.env.Service, api.env.Managed(api.env.Service), log), Logger: log, Metrics: web.NewMetrics(),
		AccessLog: web.NewAccessLogger(io.Discard, true, slog.LevelInfo),
		APIRate:   web.RateLimit{Rate: 1e9, Burst: 1e9}, APIAuthFailRate: web.RateLimit{Rate: 1, Burst: 60}})
	bare := echo.New()
	bare.POST("/api/v1/encrypt", func(c echo.Context) error {
		var in dataapi.EncryptItem
		if err := json.NewDecoder(c.Request().Body).Decode(&in); err != nil {
			return c.JSON(http.StatusBadRequest, map[string]string{"error": "bad json"})
		}
		ct := make([]byte, len(in.Plaintext)+66+len(api.keyID))
		copy(ct, in.Plaintext)
		return c.JSON(http.StatusOK, dataapi.EncryptResult{Ciphertext: ct, KeyID: in.KeyID, KeyVersion: 1})
	})
	for _, s := range []struct {
		name string
		h    http.Handler
	}{{"keyport", keyport}, {"bare", bare}} {
		b.Run(s.name, func(b *testing.B) { serveLoop(b, s.h, "/api/v1/encrypt", api.token, body) })
	}
}

// BenchmarkDataAPIBatch is one encrypt batch of 100 items through the whole
// server; compare its ns/op / 100 with BenchmarkDataAPIChain/keyport.
func BenchmarkDataAPIBatch(b *testing.B) {
	api := newFuzzAPI(b)
	item := `{"key_id":"` + api.keyID + `","plaintext":"` + strings.Repeat("A", 344) + `","context":{"field":"bench"}}`
	body := []byte(`{"items":[` + strings.TrimSuffix(strings.Repeat(item+",", 100), ",") + `]}`)
	serveLoop(b, api.h, "/api/v1/encrypt/batch", api.token, body)
}

// BenchmarkDecryptChain is one warm decrypt of a 256-byte plaintext
// through keyport's whole echo server, as BenchmarkDataAPIChain/keyport is
// for encrypt.
//
//	go test -run '^$' -bench DecryptChain -benchmem ./handlers/dataapi/
func BenchmarkDecryptChain(b *testing.B) {
	api := newFuzzAPI(b)
	enc, err := api.env.Service.Encrypt(context.Background(), api.env.Tenant.ID, api.keyID, make([]byte, 256), map[string]string{"field": "bench"})
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"ciphertext":"` + base64.StdEncoding.EncodeToString(enc.Ciphertext) + `","context":{"field":"bench"}}`)
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	keyport := web.New(web.Deps{Handlers: handlers.New(handlers.Deps{DB: api.env.DB, Logger: log}),
		API: dataapi.New(api.env.Service, api.env.Managed(api.env.Service), log), Logger: log, Metrics: web.NewMetrics(),
		AccessLog: web.NewAccessLogger(io.Discard, true, slog.LevelInfo),
		APIRate:   web.RateLimit{Rate: 1e9, Burst: 1e9}, APIAuthFailRate: web.RateLimit{Rate: 1, Burst: 60}})
	check := httptest.NewRequest(http.MethodPost, "/api/v1/decrypt", bytes.NewReader(body))
	check.Header.Set("Content-Type", "application/json")
	check.Header.Set("Authorization", "Bearer "+api.token)
	rec := httptest.NewRecorder()
	if keyport.ServeHTTP(rec, check); rec.Code != http.StatusOK {
		b.Fatalf("decrypt: %d %s", rec.Code, rec.Body)
	}
	b.Run("keyport", func(b *testing.B) { serveLoop(b, keyport, "/api/v1/decrypt", api.token, body) })
}

// TestMetricDataAPIChainAllocs reports what one warm encrypt and one warm
// decrypt allocate through keyport's whole server (in process, no
// network): deterministic figures beside kpbench's wall-clock ones.
func TestMetricDataAPIChainAllocs(t *testing.T) {
	if os.Getenv("KEYPORT_BENCH") != "1" {
		t.Skip("KEYPORT_BENCH=1 counts the data API's allocations per request")
	}
	api := newFuzzAPI(t)
	enc, err := api.env.Service.Encrypt(context.Background(), api.env.Tenant.ID, api.keyID, make([]byte, 256), map[string]string{"field": "bench"})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	keyport := web.New(web.Deps{Handlers: handlers.New(handlers.Deps{DB: api.env.DB, Logger: log}),
		API: dataapi.New(api.env.Service, api.env.Managed(api.env.Service), log), Logger: log, Metrics: web.NewMetrics(),
		AccessLog: web.NewAccessLogger(io.Discard, true, slog.LevelInfo),
		APIRate:   web.RateLimit{Rate: 1e9, Burst: 1e9}, APIAuthFailRate: web.RateLimit{Rate: 1, Burst: 60}})
	for _, c := range []struct{ name, path, body string }{
		{"encrypt", "/api/v1/encrypt", `{"key_id":"` + api.keyID + `","plaintext":"` + base64.StdEncoding.EncodeToString(make([]byte, 256)) + `","context":{"field":"bench"}}`},
		{"decrypt", "/api/v1/decrypt", `{"ciphertext":"` + base64.StdEncoding.EncodeToString(enc.Ciphertext) + `","context":{"field":"bench"}}`},
	} {
		body := []byte(c.body)
		req, _ := http.NewRequest(http.MethodPost, c.path, nil)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+api.token)
		req.RemoteAddr = "127.0.0.1:1234"
		rd := bytes.NewReader(body)
		rc := io.NopCloser(rd)
		w := &statusWriter{discardWriter: discardWriter{h: http.Header{}}}
		serve := func() {
			rd.Reset(body)
			req.Body, req.ContentLength = rc, int64(len(body))
			clear(w.h)
			keyport.ServeHTTP(w, req)
		}
		if serve(); w.status != http.StatusOK {
			t.Fatalf("%s: status %d", c.name, w.status)
		}
		r := testing.Benchmark(func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				serve()
			}
		})
		fmt.Printf("METRIC dataapi_chain_%s allocs_per_req=%d bytes_per_req=%d ns_per_req=%d\n", c.name, r.AllocsPerOp(), r.AllocedBytesPerOp(), r.NsPerOp())
	}
}

// statusWriter is a discardWriter that keeps the status.
type statusWriter struct {
	discardWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) { s.status = code }

// serveLoop posts body to path on h once per benchmark iteration, reusing
// the request and a discarding writer so that only the server allocates.
func serveLoop(b *testing.B, h http.Handler, path, token string, body []byte) {
	req, _ := http.NewRequest(http.MethodPost, path, nil)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	req.RemoteAddr = "127.0.0.1:1234"
	w := &discardWriter{h: http.Header{}}
	rd := bytes.NewReader(body)
	b.ReportAllocs()
	for b.Loop() {
		rd.Reset(body)
		req.Body = io.NopCloser(rd)
		req.ContentLength = int64(len(body))
		clear(w.h)
		h.ServeHTTP(w, req)
	}
}
