package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"keyport/handlers"
	"keyport/handlers/dataapi"
	"keyport/keysvc"
	"keyport/web"
)

// TestThunderingHerdAfterColdRestart restarts the key service (a new
// Service on the same database, an empty cache) behind a new server, then
// lets 64 clients decrypt records of the same 10 keys at once, with KMS
// answering slowly: every concurrent miss of a data key must wait for one
// KMS Decrypt, so KMS sees exactly one call per distinct data key.
func TestThunderingHerdAfterColdRestart(t *testing.T) {
	const clients, nkeys, rounds = 64, 10, 4
	s := newAPIStack(t, keysvc.Config{})
	var cts []string
	for i := range nkeys {
		k := s.Key(t, fmt.Sprintf("herd %d", i))
		st, enc, _ := s.call(t, "POST", "/api/v1/encrypt", s.TenantToken, map[string]any{"key_id": k.ID, "plaintext": b64(fmt.Sprintf("herd record %d", i))})
		if st != 200 {
			t.Fatalf("encrypt: %d %v", st, enc)
		}
		cts = append(cts, enc["ciphertext"].(string))
	}

	// The restart: a new service and server on the same database.
	cold := s.NewService(keysvc.Config{})
	if err := cold.Warm(context.Background()); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(s.Logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := handlers.New(handlers.Deps{DB: s.DB, Logger: log})
	ts := httptest.NewServer(web.New(web.Deps{Handlers: h, API: dataapi.New(cold, s.Env.Managed(cold), log), Logger: log}))
	defer ts.Close()

	s.KMS.SetLatency(50 * time.Millisecond)
	s.KMS.ResetCalls()
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var ok, failed atomic.Int64
	start := make(chan struct{})
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for r := range rounds {
				i := (c + r) % nkeys
				buf, _ := json.Marshal(map[string]any{"ciphertext": cts[i]})
				req, _ := http.NewRequest(http.MethodPost, ts.URL+"/api/v1/decrypt", bytes.NewReader(buf))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+s.TenantToken)
				res, err := hc.Do(req)
				if err != nil {
					failed.Add(1)
					t.Errorf("decrypt: %v", err)
					continue
				}
				raw, _ := io.ReadAll(res.Body)
				res.Body.Close()
				var out map[string]any
				_ = json.Unmarshal(raw, &out)
				if res.StatusCode != http.StatusOK || out["plaintext"] != b64(fmt.Sprintf("herd record %d", i)) {
					failed.Add(1)
					t.Errorf("decrypt of key %d: %d %s", i, res.StatusCode, raw)
					continue
				}
				ok.Add(1)
			}
		}()
	}
	began := time.Now()
	close(start)
	wg.Wait()
	took := time.Since(began)

	decrypts := s.KMS.Calls("Decrypt")
	stats := cold.CacheStats()
	fmt.Printf("METRIC thundering_herd clients=%d requests=%d ok=%d failed=%d distinct_data_keys=%d kms_decrypt=%d kms_latency_ms=50 wall_ms=%d\n",
		clients, clients*rounds, ok.Load(), failed.Load(), nkeys, decrypts, took.Milliseconds())
	t.Logf("cache after the herd: %+v", stats)
	if decrypts != nkeys {
		t.Errorf("%d cold decrypts of %d data keys made %d KMS Decrypt calls, want %d", clients*rounds, nkeys, decrypts, nkeys)
	}
}
