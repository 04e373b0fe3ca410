package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"keyport/handlers"
	"keyport/handlers/dataapi"
	"keyport/keysvc"
	"keyport/keysvc/awskms"
	"keyport/keysvc/keysvctest"
	"keyport/web"
)

// The soak: many tenants and keys, a short cache TTL, for minutes, while
// the load generator samples the server's heap, goroutines and cache.
//
//	go run ./cmd/kpbench soak [-duration 5m] [-tenants 20] [-keys 200] [-ttl 2s] [-max-entries 150] [-sample 5s]

// soakFixture is what the soak server tells the load generator: per key,
// the tenant's token and a ciphertext to decrypt.
type soakFixture struct {
	URL  string       `json:"url"`
	Keys []soakTarget `json:"keys"`
}

type soakTarget struct {
	Token      string `json:"token"`
	KeyID      string `json:"key_id"`
	Ciphertext []byte `json:"ciphertext"`
}

// soakSample is one reading of the server process, from /debug/soak (an
// endpoint of the kpbench server only, never of keyport).
type soakSample struct {
	LiveHeapBytes uint64 `json:"live_heap_bytes"` // heap in use right after a GC
	SysBytes      uint64 `json:"sys_bytes"`
	Goroutines    int    `json:"goroutines"`
	CacheEntries  int    `json:"cache_entries"`
	CacheMisses   int64  `json:"cache_misses"`
	CacheHits     int64  `json:"cache_hits"`
	Evictions     int64  `json:"cache_evictions"`
}

func soak(args []string) error {
	fs := flag.NewFlagSet("kpbench soak", flag.ContinueOnError)
	duration := fs.Duration("duration", 5*time.Minute, "how long to run")
	tenants := fs.Int("tenants", 20, "tenants, each with its AWS connection and service token")
	keys := fs.Int("keys", 200, "keys across all tenants")
	ttl := fs.Duration("ttl", 2*time.Second, "data-key cache TTL (KEYPORT_CACHE_TTL)")
	maxEntries := fs.Int("max-entries", 150, "cache bound; below the number of keys, so eviction runs too")
	conns := fs.Int("conns", 64, "concurrent connections")
	every := fs.Duration("sample", 5*time.Second, "sampling interval")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *duration < 6**every {
		return errors.New("-duration must cover at least six samples")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	srv, line, err := startChild(ctx, false, nil, "serve-soak", fmt.Sprint(*tenants), fmt.Sprint(*keys), ttl.String(), fmt.Sprint(*maxEntries))
	if err != nil {
		return err
	}
	defer srv.stop()
	var fx soakFixture
	if err := json.Unmarshal(line, &fx); err != nil {
		return fmt.Errorf("soak server line: %w", err)
	}

	tr := &http.Transport{MaxIdleConnsPerHost: *conns, MaxConnsPerHost: *conns}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	runCtx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()
	var requests, failures atomic.Int64
	var wg sync.WaitGroup
	for range *conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for runCtx.Err() == nil {
				if !soakRequest(runCtx, client, fx, rand.IntN(len(fx.Keys)), rand.IntN(2) == 0) && runCtx.Err() == nil {
					failures.Add(1)
				}
				requests.Add(1)
			}
		}()
	}
	var samples []soakSample
	tick := time.NewTicker(*every)
	for done := false; !done; {
		select {
		case <-runCtx.Done():
			done = true
		case <-tick.C:
			s, err := readSample(client, fx.URL)
			if err != nil {
				fmt.Fprintln(os.Stderr, "kpbench soak: sample:", err)
				continue
			}
			samples = append(samples, s)
			fmt.Fprintf(os.Stderr, "soak t=%3ds live_heap_mb=%.1f goroutines=%d cache_entries=%d\n",
				len(samples)*int(every.Seconds()), mb(s.LiveHeapBytes), s.Goroutines, s.CacheEntries)
		}
	}
	tick.Stop()
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return reportSoak(samples, soakRun{tenants: *tenants, keys: *keys, ttl: *ttl, maxEntries: *maxEntries, conns: *conns,
		duration: *duration, requests: requests.Load(), failures: failures.Load(), pid: srv.cmd.Process.Pid})
}

type soakRun struct {
	tenants, keys, maxEntries, conns int
	ttl, duration                    time.Duration
	requests, failures               int64
	pid                              int
}

// reportSoak compares the last third of the samples with the middle third
// (the first third is warm-up), on medians, since in-flight requests make
// single readings jumpy. Memory has levelled off when the live heap grew by
// at most 25% and goroutines by at most 25% plus 16 (a leak of one per KMS
// fetch or per request would add thousands in minutes), and the cache
// never held more than its bound.
func reportSoak(samples []soakSample, r soakRun) error {
	n := len(samples) / 3
	if n == 0 {
		return errors.New("too few samples")
	}
	mid, last := samples[n:2*n], samples[len(samples)-n:]
	heap := func(s soakSample) float64 { return float64(s.LiveHeapBytes) }
	gor := func(s soakSample) float64 { return float64(s.Goroutines) }
	maxEntries := 0
	for _, s := range samples {
		maxEntries = max(maxEntries, s.CacheEntries)
	}
	heapMid, heapLast := medianOf(mid, heap), medianOf(last, heap)
	gorMid, gorLast := medianOf(mid, gor), medianOf(last, gor)
	final := samples[len(samples)-1]
	leveled := heapLast <= heapMid*1.25 && gorLast <= gorMid*1.25+16
	withinBound := maxEntries <= r.maxEntries
	fmt.Printf("METRIC soak tenants=%d keys=%d ttl_s=%.0f duration_s=%.0f conns=%d requests=%d errors=%d samples=%d live_heap_mid_mb=%.1f live_heap_last_mb=%.1f heap_growth=%.3f goroutines_mid=%.0f goroutines_last=%.0f cache_entries_max=%d cache_bound=%d cache_misses=%d cache_evictions=%d peak_rss_mb=%.1f leveled_off=%v cache_within_bound=%v\n",
		r.tenants, r.keys, r.ttl.Seconds(), r.duration.Seconds(), r.conns, r.requests, r.failures, len(samples),
		heapMid/(1<<20), heapLast/(1<<20), heapLast/heapMid, gorMid, gorLast, maxEntries, r.maxEntries,
		final.CacheMisses, final.Evictions, float64(peakRSS(r.pid))/1024, leveled, withinBound)
	switch {
	case r.failures > 0:
		return fmt.Errorf("%d requests failed", r.failures)
	case !leveled:
		return errors.New("memory or goroutines kept growing")
	case !withinBound:
		return errors.New("the cache outgrew its bound")
	}
	return nil
}

func mb(b uint64) float64 { return float64(b) / (1 << 20) }

// soakRequest encrypts under, or decrypts the fixture record of, key i.
func soakRequest(ctx context.Context, c *http.Client, fx soakFixture, i int, decrypt bool) bool {
	k := fx.Keys[i]
	path, body := "/api/v1/encrypt", map[string]any{"key_id": k.KeyID, "plaintext": b64([]byte("soak record"))}
	if decrypt {
		path, body = "/api/v1/decrypt", map[string]any{"ciphertext": b64(k.Ciphertext)}
	}
	buf, _ := json.Marshal(body)
	return post(ctx, c, fx.URL+path, k.Token, buf)
}

func readSample(c *http.Client, url string) (soakSample, error) {
	var s soakSample
	res, err := c.Get(url + "/debug/soak")
	if err != nil {
		return s, err
	}
	defer res.Body.Close()
	return s, json.NewDecoder(res.Body).Decode(&s)
}

// serveSoak is the soak's server process: the real data API over a key
// service with a real-time clock and the TTL given, tenants each with their
// own connection into one kmslocal account, and /debug/soak.
func serveSoak(args []string) error {
	if len(args) != 4 {
		return errors.New("usage: kpbench serve-soak TENANTS KEYS TTL MAX_ENTRIES")
	}
	var tenants, nkeys, maxEntries int
	fmt.Sscan(args[0], &tenants)
	fmt.Sscan(args[1], &nkeys)
	fmt.Sscan(args[3], &maxEntries)
	ttl, err := time.ParseDuration(args[2])
	if err != nil || tenants < 1 || nkeys < tenants || maxEntries < 1 {
		return errors.New("serve-soak: bad arguments")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	env, cleanup, err := benchEnv("kpbench-soak-")
	if err != nil {
		return err
	}
	defer cleanup()

	// The service under test runs on the wall clock (the Env's clock is a
	// manual one, so its TTL would never pass).
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	base := env.KMS.AWSConfig(keysvctest.Region, "AKIAPROVIDERUNUSED01", "unused")
	clients := awskms.NewClients(awskms.ClientOptions{Base: &base, Sealer: env.Sealer, MaxAttempts: 1, Logger: log})
	svc := keysvc.NewService(keysvc.Deps{DB: env.DB, Sealer: env.Sealer, Logger: log,
		Config: keysvc.Config{CacheTTL: ttl, CacheMaxEntries: maxEntries}, KMSFor: keysvc.KMSForStore(env.DB, clients)})

	fx, err := soakTenants(ctx, env, svc, tenants, nkeys)
	if err != nil {
		return err
	}
	go svc.Run(ctx)

	mux := http.NewServeMux()
	mux.Handle("/", web.New(web.Deps{Handlers: handlers.New(handlers.Deps{DB: env.DB, Logger: log}), API: dataapi.New(svc, env.Managed(svc), log), Logger: log}))
	mux.HandleFunc("GET /debug/soak", func(w http.ResponseWriter, r *http.Request) {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		st := svc.CacheStats()
		writeJSON(w, http.StatusOK, soakSample{LiveHeapBytes: ms.HeapAlloc, SysBytes: ms.Sys, Goroutines: runtime.NumGoroutine(),
			CacheEntries: st.Entries, CacheMisses: st.Misses, CacheHits: st.Hits, Evictions: st.Evictions})
	})
	return serveUntilDone(ctx, mux, func(url string) string {
		fx.URL = url
		line, _ := json.Marshal(fx)
		return string(line)
	})
}

// soakTenants makes the tenants (the Env's own first), each with an access
// key connection into the Env's kmslocal account and a service token, and
// spreads nkeys keys over them, each with a record to decrypt.
func soakTenants(ctx context.Context, env *keysvctest.Env, svc *keysvc.Service, tenants, nkeys int) (soakFixture, error) {
	var fx soakFixture
	type tenant struct{ id, conn, owner, token string }
	ts := []tenant{{id: env.Tenant.ID, conn: env.Conn.ID, owner: env.Owner.ID}}
	for i := 1; i < tenants; i++ {
		t, owner, conn, err := env.AddTenant(ctx, fmt.Sprintf("soak%02d.test", i))
		if err != nil {
			return fx, err
		}
		ts = append(ts, tenant{id: t.ID, conn: conn.ID, owner: owner.ID})
	}
	for i := range ts {
		tok, _, err := svc.NewServiceToken(ctx, ts[i].id, "soak", ts[i].owner)
		if err != nil {
			return fx, err
		}
		ts[i].token = tok
	}
	for i := range nkeys {
		t := ts[i%len(ts)]
		k, err := env.NewKeyIn(ctx, t.id, t.conn, t.owner, fmt.Sprintf("soak key %d", i))
		if err != nil {
			return fx, err
		}
		enc, err := svc.Encrypt(ctx, t.id, k.ID, []byte("soak record"), nil)
		if err != nil {
			return fx, err
		}
		fx.Keys = append(fx.Keys, soakTarget{Token: t.token, KeyID: k.ID, Ciphertext: enc.Ciphertext})
	}
	return fx, nil
}
