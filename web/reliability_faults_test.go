package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"

	"keyport/keysvc"
	"keyport/keysvc/awskms"
	"keyport/models"
)

// soakLength is how long the long variants run: short in make test, the
// issue's full length under make soak (KEYPORT_SOAK=1).
func soakLength(short, long time.Duration) time.Duration {
	if os.Getenv("KEYPORT_SOAK") != "" {
		return long
	}
	return short
}

// apiKnownCodes are every error code the data API documents (README).
var apiKnownCodes = map[string]bool{
	"invalid_request": true, "invalid_json": true, "ciphertext_malformed": true, "ciphertext_invalid": true,
	"unauthorized": true, "forbidden": true, "key_not_found": true, "key_disabled": true,
	"key_pending_deletion": true, "key_not_usable": true, "request_too_large": true,
	"key_access_revoked": true, "kms_throttled": true, "unavailable": true,
	"rate_limited": true, "unsupported_media_type": true, "not_found": true, "method_not_allowed": true, "internal_error": true,
}

// faultTally counts what 64 clients saw.
type faultTally struct {
	mu                     sync.Mutex
	ok, throttled, unavail int
	itemOK, itemFailed     int
	silent                 []string // anything that is neither a success nor a retryable refusal
	okLat, failLat         []time.Duration
}

func (f *faultTally) bad(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.silent) < 20 {
		f.silent = append(f.silent, fmt.Sprintf(format, args...))
	} else {
		f.silent = append(f.silent[:20], "…")
	}
}

// apiErrorShape checks a non-2xx body: {"error": {"code", "message"}} with
// a documented code.
func apiErrorShape(raw []byte) (string, bool) {
	var body struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(raw, &body) != nil || body.Error == nil || body.Error.Message == "" {
		return "", false
	}
	return body.Error.Code, apiKnownCodes[body.Error.Code]
}

// TestKMSFaultsUnderLoad drives the data API from 64 clients while the
// tenant's KMS throttles 30% of calls, fails about 5% more with internal
// errors, answers slowly, the cache is purged every few milliseconds (so
// KMS is really asked) and rotations of one key race each other. Every
// request must succeed or be refused at once with 429/503 and Retry-After
// in the documented JSON shape; rotations must make exactly one version
// per winning round and no KMS key or alias.
func TestKMSFaultsUnderLoad(t *testing.T) {
	length := soakLength(5*time.Second, 60*time.Second)
	const clients, nkeys = 64, 8
	s := newAPIStack(t, keysvc.Config{CacheTTL: time.Minute})
	ctx := context.Background()

	var keys []*models.Key
	var cts []string
	for i := range nkeys {
		k := s.Key(t, fmt.Sprintf("faulty %d", i))
		keys = append(keys, k)
		st, enc, _ := s.call(t, "POST", "/api/v1/encrypt", s.TenantToken, map[string]any{"key_id": k.ID, "plaintext": b64(fmt.Sprintf("record %d", i))})
		if st != 200 {
			t.Fatalf("encrypt before faults: %d %v", st, enc)
		}
		cts = append(cts, enc["ciphertext"].(string))
	}
	kmsKeysBefore, aliasesBefore := countKMSKeysAndAliases(t, s)

	s.KMS.SetThrottle(0.30)
	s.KMS.SetLatency(2 * time.Millisecond)
	s.KMS.ResetCalls()
	runCtx, stop := context.WithTimeout(ctx, length)
	defer stop()
	var bg sync.WaitGroup

	// About 5% of KMS calls fail with an internal error on top of the
	// throttling: FailNext is count-based, so top it up from the call count.
	bg.Add(1)
	go func() {
		defer bg.Done()
		codes := []string{"KMSInternalException", "DependencyTimeoutException", "KeyUnavailableException"}
		last := 0
		for i := 0; runCtx.Err() == nil; i++ {
			time.Sleep(10 * time.Millisecond)
			total := 0
			for _, n := range s.KMS.CallCounts() {
				total += n
			}
			if n := (total - last) / 20; n > 0 {
				s.KMS.FailNext("*", n, codes[i%len(codes)])
				last = total
			}
		}
	}()
	// Purges keep the cache cold, so the clients' requests reach KMS.
	var purges atomic.Int64
	bg.Add(1)
	go func() {
		defer bg.Done()
		for runCtx.Err() == nil {
			time.Sleep(20 * time.Millisecond)
			if err := s.Service.Purge(ctx, s.Tenant.ID, keys[rand.IntN(nkeys)].ID, s.Owner.ID); err != nil {
				t.Errorf("purge: %v", err)
				return
			}
			purges.Add(1)
		}
	}()
	// Rounds of four concurrent rotations of key 0, all from the same
	// version: at most one may win each round.
	var rounds, attempts, wins, raced, refused, multiWin atomic.Int64
	bg.Add(1)
	go func() {
		defer bg.Done()
		for runCtx.Err() == nil {
			time.Sleep(100 * time.Millisecond)
			rounds.Add(1)
			// Every rotation of the round names the version it rotates
			// from, read once before the round, so "at most one wins" is
			// what the round claims (RotateDataKey alone reads the version
			// late, and a goroutine scheduled after the winner would
			// rightly rotate the next version).
			k, err := s.DB.GetKey(ctx, s.Tenant.ID, keys[0].ID)
			if err != nil {
				t.Error(err)
				return
			}
			var won atomic.Int64
			var wg sync.WaitGroup
			for range 4 {
				wg.Add(1)
				attempts.Add(1)
				go func() {
					defer wg.Done()
					_, err := s.Service.RotateFrom(ctx, s.Tenant.ID, keys[0].ID, k.CurrentVersion, s.Owner.ID, "fault test")
					switch {
					case err == nil:
						won.Add(1)
					case errors.Is(err, keysvc.ErrRotationRaced):
						raced.Add(1)
					case errors.Is(err, awskms.ErrThrottled), errors.Is(err, awskms.ErrUnavailable):
						refused.Add(1)
					default:
						t.Errorf("rotation: unexpected error %v", err)
					}
				}()
			}
			wg.Wait()
			wins.Add(won.Load())
			if won.Load() > 1 {
				multiWin.Add(1)
			}
		}
	}()

	tally := &faultTally{}
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; runCtx.Err() == nil; i++ {
				faultRequest(hc, s, tally, keys, cts, (c+i)%nkeys, i%5)
			}
		}()
	}
	wg.Wait()
	stop()
	bg.Wait()
	s.KMS.ClearFaults()

	calls := s.KMS.CallCounts()
	versions, err := s.DB.DataKeyVersions(ctx, s.Tenant.ID, keys[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	for _, v := range versions {
		if seen[v.Version] {
			t.Errorf("data-key version %d recorded twice", v.Version)
		}
		seen[v.Version] = true
	}
	kmsKeysAfter, aliasesAfter := countKMSKeysAndAliases(t, s)
	if want := 1 + int(wins.Load()); len(versions) != want {
		t.Errorf("key 0 has %d data-key versions after %d winning rotations, want %d", len(versions), wins.Load(), want)
	}
	if multiWin.Load() != 0 {
		t.Errorf("%d rotation rounds had more than one winner", multiWin.Load())
	}
	// Each attempt asks KMS for a data key at most once, and one that has
	// already lost its race (its version is behind) asks none.
	// A data key comes from GenerateDataKey, or (one region, no plaintext
	// needed) GenerateDataKeyWithoutPlaintext.
	if gdk := calls["GenerateDataKey"] + calls["GenerateDataKeyWithoutPlaintext"]; gdk > int(attempts.Load()) || gdk < int(wins.Load()) {
		t.Errorf("%d rotation attempts (%d won) made %d KMS GenerateDataKey calls, want between %d and %d",
			attempts.Load(), wins.Load(), gdk, wins.Load(), attempts.Load())
	}
	if kmsKeysAfter != kmsKeysBefore || aliasesAfter != aliasesBefore {
		t.Errorf("rotations changed the tenant's KMS keys %d -> %d, aliases %d -> %d", kmsKeysBefore, kmsKeysAfter, aliasesBefore, aliasesAfter)
	}

	tally.mu.Lock()
	defer tally.mu.Unlock()
	for _, msg := range tally.silent {
		t.Error(msg)
	}
	total := tally.ok + tally.throttled + tally.unavail + len(tally.silent)
	if tally.ok == 0 || tally.throttled == 0 || calls["Decrypt"] == 0 {
		t.Errorf("the run did not exercise both paths: ok=%d throttled=%d kms_decrypts=%d", tally.ok, tally.throttled, calls["Decrypt"])
	}
	fmt.Printf("METRIC kms_faults clients=%d seconds=%.0f requests=%d ok=%d throttled_429=%d unavailable_503=%d silent=%d batch_items_ok=%d batch_items_refused=%d ok_p99_ms=%.1f fail_p50_ms=%.1f fail_p99_ms=%.1f kms_calls=%d kms_decrypt=%d purges=%d rotation_rounds=%d rotation_attempts=%d rotations_won=%d rotations_raced=%d rotations_refused=%d versions=%d generate_data_key=%d new_kms_keys=%d new_aliases=%d\n",
		clients, length.Seconds(), total, tally.ok, tally.throttled, tally.unavail, len(tally.silent), tally.itemOK, tally.itemFailed,
		pct(tally.okLat, 99), pct(tally.failLat, 50), pct(tally.failLat, 99), sum(calls), calls["Decrypt"], purges.Load(),
		rounds.Load(), attempts.Load(), wins.Load(), raced.Load(), refused.Load(), len(versions), calls["GenerateDataKey"]+calls["GenerateDataKeyWithoutPlaintext"],
		kmsKeysAfter-kmsKeysBefore, aliasesAfter-aliasesBefore)
}

// faultRequest sends one data API request of the kind given and records
// how it ended.
func faultRequest(hc *http.Client, s *apiStack, tally *faultTally, keys []*models.Key, cts []string, ki, kind int) {
	var path string
	var body any
	wantPlain := ""
	switch kind {
	case 0, 1:
		path, body, wantPlain = "/api/v1/decrypt", map[string]any{"ciphertext": cts[ki]}, b64(fmt.Sprintf("record %d", ki))
	case 2:
		path, body = "/api/v1/encrypt", map[string]any{"key_id": keys[ki].ID, "plaintext": b64("x")}
	case 3:
		path, body = "/api/v1/datakey", map[string]any{"key_id": keys[ki].ID}
	default:
		items := []map[string]any{}
		for j := range 3 {
			items = append(items, map[string]any{"ciphertext": cts[(ki+j)%len(cts)]})
		}
		path, body = "/api/v1/decrypt/batch", map[string]any{"items": items}
	}
	buf, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, s.URL+path, bytes.NewReader(buf))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.TenantToken)
	start := time.Now()
	res, err := hc.Do(req)
	if err != nil {
		tally.bad("%s: transport error %v", path, err)
		return
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	took := time.Since(start)

	if res.StatusCode == http.StatusOK {
		var out map[string]any
		if err := json.Unmarshal(raw, &out); err != nil {
			tally.bad("%s: 200 with a body that is not JSON: %q", path, raw)
			return
		}
		if wantPlain != "" && out["plaintext"] != wantPlain {
			tally.bad("%s: 200 with the wrong plaintext", path)
			return
		}
		if items, ok := out["items"].([]any); ok {
			okItems, failed := 0, 0
			for _, it := range items {
				m, _ := it.(map[string]any)
				if _, has := m["error"]; !has {
					okItems++
					continue
				}
				code := errCode(m)
				if code != "kms_throttled" && code != "unavailable" {
					tally.bad("%s: batch item failed with %q: %v", path, code, m)
				}
				failed++
			}
			tally.mu.Lock()
			tally.itemOK += okItems
			tally.itemFailed += failed
			tally.mu.Unlock()
		}
		tally.mu.Lock()
		tally.ok++
		tally.okLat = append(tally.okLat, took)
		tally.mu.Unlock()
		return
	}
	code, known := apiErrorShape(raw)
	if !known {
		tally.bad("%s: %d with an undocumented error body %q", path, res.StatusCode, raw)
		return
	}
	retryAfter := res.Header.Get("Retry-After")
	switch {
	case res.StatusCode == http.StatusTooManyRequests && code == "kms_throttled" && retryAfter != "":
		tally.mu.Lock()
		tally.throttled++
	case res.StatusCode == http.StatusServiceUnavailable && code == "unavailable" && retryAfter != "":
		tally.mu.Lock()
		tally.unavail++
	default:
		tally.bad("%s: %d %q Retry-After=%q: not a retryable refusal", path, res.StatusCode, code, retryAfter)
		return
	}
	tally.failLat = append(tally.failLat, took)
	tally.mu.Unlock()
}

// countKMSKeysAndAliases counts the tenant's KMS keys and aliases, as the
// tenant's own admin sees them.
func countKMSKeysAndAliases(tb testing.TB, s *apiStack) (keys, aliases int) {
	tb.Helper()
	ctx := context.Background()
	kp := kms.NewListKeysPaginator(s.Admin, &kms.ListKeysInput{})
	for kp.HasMorePages() {
		page, err := kp.NextPage(ctx)
		if err != nil {
			tb.Fatal(err)
		}
		keys += len(page.Keys)
	}
	ap := kms.NewListAliasesPaginator(s.Admin, &kms.ListAliasesInput{})
	for ap.HasMorePages() {
		page, err := ap.NextPage(ctx)
		if err != nil {
			tb.Fatal(err)
		}
		aliases += len(page.Aliases)
	}
	return keys, aliases
}

// pct is the p-th percentile of ds in milliseconds (0 when empty).
func pct(ds []time.Duration, p int) float64 {
	if len(ds) == 0 {
		return 0
	}
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return float64(ds[min(len(ds)-1, len(ds)*p/100)].Microseconds()) / 1000
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
