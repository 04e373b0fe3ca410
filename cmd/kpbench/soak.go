package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/labstack/echo/v4"

	"keyport/handlers"
	"keyport/keysvc"
	"keyport/keysvc/keysvctest"
	"keyport/models"
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

	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, self, "serve-soak", fmt.Sprint(*tenants), fmt.Sprint(*keys), ttl.String(), fmt.Sprint(*maxEntries))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	line, err := bufio.NewReader(out).ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("soak server did not start: %w", err)
	}
	go io.Copy(io.Discard, out)
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
		duration: *duration, requests: requests.Load(), failures: failures.Load(), pid: cmd.Process.Pid})
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
	median := func(ss []soakSample, f func(soakSample) float64) float64 {
		v := make([]float64, len(ss))
		for i, s := range ss {
			v[i] = f(s)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	heap := func(s soakSample) float64 { return float64(s.LiveHeapBytes) }
	gor := func(s soakSample) float64 { return float64(s.Goroutines) }
	maxEntries := 0
	for _, s := range samples {
		maxEntries = max(maxEntries, s.CacheEntries)
	}
	heapMid, heapLast := median(mid, heap), median(last, heap)
	gorMid, gorLast := median(mid, gor), median(last, gor)
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
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, fx.URL+path, bytes.NewReader(buf))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+k.Token)
	res, err := c.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode == http.StatusOK
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
	dir, err := os.MkdirTemp("", "kpbench-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	env, err := keysvctest.Build(dir, keysvc.Config{})
	if err != nil {
		return err
	}
	defer env.Close()

	// The service under test runs on the wall clock (the Env's clock is a
	// manual one, so its TTL would never pass).
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	base := env.KMS.AWSConfig(keysvctest.Region, "AKIAPROVIDERUNUSED01", "unused")
	clients := keysvc.NewClients(keysvc.ClientOptions{Base: &base, Sealer: env.Sealer, MaxAttempts: 1, Logger: log})
	svc := keysvc.NewService(keysvc.Deps{DB: env.DB, Sealer: env.Sealer, Logger: log,
		Config: keysvc.Config{CacheTTL: ttl, CacheMaxEntries: maxEntries}, KMSFor: keysvc.KMSForStore(env.DB, clients)})

	fx, err := soakTenants(ctx, env, svc, tenants, nkeys)
	if err != nil {
		return err
	}
	go svc.Run(ctx)

	e := web.New(web.Deps{Handlers: handlers.New(handlers.Deps{DB: env.DB, Logger: log}), API: handlers.NewAPI(svc, log), Logger: log})
	e.GET("/debug/soak", func(c echo.Context) error {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		st := svc.CacheStats()
		return c.JSON(http.StatusOK, soakSample{LiveHeapBytes: ms.HeapAlloc, SysBytes: ms.Sys, Goroutines: runtime.NumGoroutine(),
			CacheEntries: st.Entries, CacheMisses: st.Misses, CacheHits: st.Hits, Evictions: st.Evictions})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := web.NewHTTPServer(ln.Addr().String(), e)
	go srv.Serve(ln)
	fx.URL = "http://" + ln.Addr().String()
	line, _ := json.Marshal(fx)
	fmt.Printf("%s\n", line)
	<-ctx.Done()
	return srv.Shutdown(context.Background())
}

// soakTenants makes the tenants (the Env's own first), each with an access
// key connection into the Env's kmslocal account and a service token, and
// spreads nkeys keys over them, each with a record to decrypt.
func soakTenants(ctx context.Context, env *keysvctest.Env, svc *keysvc.Service, tenants, nkeys int) (soakFixture, error) {
	var fx soakFixture
	secret, err := env.Sealer.Open(keysvc.SecretPurpose(env.Conn.ID), env.Conn.SecretSealed)
	if err != nil {
		return fx, err
	}
	type tenant struct{ id, conn, owner, token string }
	ts := []tenant{{id: env.Tenant.ID, conn: env.Conn.ID, owner: env.Owner.ID}}
	for i := 1; i < tenants; i++ {
		name := fmt.Sprintf("soak%02d.test", i)
		u, _, err := env.DB.UpsertOIDCUser(ctx, "https://idp.test", "owner-"+name, "owner@"+name, "Owner")
		if err != nil {
			return fx, err
		}
		t, err := env.DB.CreateTenantWithOwner(ctx, name, u.ID, models.AuditInput{Actor: u.ID, Action: "tenant.created"})
		if err != nil {
			return fx, err
		}
		conn := &models.Connection{ID: models.NewID(models.PrefixConnection), TenantID: t.ID, Name: "production",
			AccountID: env.Conn.AccountID, DefaultRegion: env.Conn.DefaultRegion, Kind: keysvc.KindAccessKey, AccessKeyID: env.Conn.AccessKeyID}
		if conn.SecretSealed, err = env.Sealer.Seal(keysvc.SecretPurpose(conn.ID), secret); err != nil {
			return fx, err
		}
		if err := env.DB.CreateConnection(ctx, conn, models.AuditInput{Actor: u.ID, Action: "connection.created"}); err != nil {
			return fx, err
		}
		ts = append(ts, tenant{id: t.ID, conn: conn.ID, owner: u.ID})
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
		out, err := env.Admin.CreateKey(ctx, &kms.CreateKeyInput{Policy: aws.String(keysvctest.Policy(false))})
		if err != nil {
			return fx, err
		}
		nk := &models.NewKey{
			Key: models.Key{TenantID: t.id, ConnectionID: t.conn, Name: fmt.Sprintf("soak key %d", i), Mode: models.ModeCMK,
				State: models.StateEnabled, Health: "OK"},
			Regions: []models.KeyRegion{{Region: keysvctest.Region, KMSKeyARN: *out.KeyMetadata.Arn}},
		}
		if err := env.DB.CreateKey(ctx, nk, models.AuditInput{Actor: t.owner, Action: "key.registered"}); err != nil {
			return fx, err
		}
		if _, err := svc.RotateDataKey(ctx, t.id, nk.Key.ID, t.owner, "register"); err != nil {
			return fx, err
		}
		enc, err := svc.Encrypt(ctx, t.id, nk.Key.ID, []byte("soak record"), nil)
		if err != nil {
			return fx, err
		}
		fx.Keys = append(fx.Keys, soakTarget{Token: t.token, KeyID: nk.Key.ID, Ciphertext: enc.Ciphertext})
	}
	return fx, nil
}
