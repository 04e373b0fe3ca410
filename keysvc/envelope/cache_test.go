package envelope

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"keyport/keysvc/kmslocal"
)

// errThrottled stands for a KMS failure that a loader returns.
var errThrottled = errors.New("kms is throttling")

// countingLoader returns fresh data keys and counts its calls.
func countingLoader(tb testing.TB, calls *atomic.Int64, delay time.Duration) Loader {
	return func(ctx context.Context) (*DataKey, error) {
		calls.Add(1)
		time.Sleep(delay)
		raw := make([]byte, 32)
		raw[0] = byte(calls.Load())
		return NewDataKey("key_a", 1, raw)
	}
}

func TestCacheCollapsesConcurrentMisses(t *testing.T) {
	clk := kmslocal.NewManualClock(time.Unix(1_800_000_000, 0))
	c := NewCache(5*time.Minute, 100, clk.Now)
	var calls atomic.Int64
	load := countingLoader(t, &calls, 20*time.Millisecond)
	ck := CacheKey{"tnt_a", "key_a", 1}

	var wg sync.WaitGroup
	keys := make([]*DataKey, 64)
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, _, err := c.Get(context.Background(), ck, 0, load)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		}()
	}
	wg.Wait()
	if calls.Load() != 1 {
		t.Fatalf("64 concurrent misses made %d loads, want 1", calls.Load())
	}
	for _, k := range keys {
		if k != keys[0] {
			t.Fatal("callers got different keys")
		}
	}
	if _, hit, _ := c.Get(context.Background(), ck, 0, load); !hit {
		t.Error("second lookup missed")
	}
}

func TestCacheTTLIsAbsoluteAndJittered(t *testing.T) {
	clk := kmslocal.NewManualClock(time.Unix(1_800_000_000, 0))
	c := NewCache(5*time.Minute, 100, clk.Now)
	var calls atomic.Int64
	load := countingLoader(t, &calls, 0)
	ck := CacheKey{"tnt_a", "key_a", 1}
	c.Get(context.Background(), ck, 0, load)

	// Frequent use does not extend the entry: the TTL counts from fetch.
	for range 8 {
		clk.Advance(30 * time.Second) // 4 minutes in all: within 5m - 5%
		if _, hit, _ := c.Get(context.Background(), ck, 0, load); !hit {
			t.Fatalf("missed at %v", clk.Now())
		}
	}
	clk.Advance(61 * time.Second) // 5m01s after fetch
	if _, hit, _ := c.Get(context.Background(), ck, 0, load); hit {
		t.Fatal("entry outlived its TTL")
	}
	if calls.Load() != 2 {
		t.Errorf("loads = %d, want 2", calls.Load())
	}

	// Jitter spreads expiry over the last 5% of the TTL, never beyond it.
	for range 200 {
		if d := c.jitteredTTL(); d > 5*time.Minute || d < 4*time.Minute+45*time.Second {
			t.Fatalf("jittered TTL %v out of [4m45s, 5m]", d)
		}
	}
}

func TestCacheFailuresAreNotCached(t *testing.T) {
	c := NewCache(time.Minute, 10, time.Now)
	ck := CacheKey{"tnt_a", "key_a", 1}
	var calls atomic.Int64
	fail := func(context.Context) (*DataKey, error) { calls.Add(1); return nil, errThrottled }
	for range 3 {
		if _, _, err := c.Get(context.Background(), ck, 0, fail); !errors.Is(err, errThrottled) {
			t.Fatalf("err = %v", err)
		}
	}
	if calls.Load() != 3 {
		t.Errorf("failed loads = %d, want 3 (a failure must not be remembered)", calls.Load())
	}
}

func TestCachePurgeAndEpochs(t *testing.T) {
	c := NewCache(time.Hour, 100, time.Now)
	var calls atomic.Int64
	load := countingLoader(t, &calls, 0)
	a1 := CacheKey{"tnt_a", "key_a", 1}
	a2 := CacheKey{"tnt_a", "key_b", 1}
	b1 := CacheKey{"tnt_b", "key_c", 1}
	ctx := context.Background()
	ka, _, _ := c.Get(ctx, a1, 0, load)
	c.Get(ctx, a2, 0, load)
	c.Get(ctx, b1, 0, load)

	if n := c.Purge("tnt_a", "key_a"); n != 1 {
		t.Fatalf("purged %d", n)
	}
	if !ka.destroyed() {
		t.Error("purged key was not destroyed")
	}
	if _, hit, _ := c.Get(ctx, a1, 0, load); hit {
		t.Error("purged key still served")
	}
	if _, hit, _ := c.Get(ctx, a2, 0, load); !hit {
		t.Error("purging one key dropped another")
	}
	c.Purge("tnt_a", "")
	if _, hit, _ := c.Get(ctx, a2, 0, load); hit {
		t.Error("tenant purge left a key")
	}
	if _, hit, _ := c.Get(ctx, b1, 0, load); !hit {
		t.Error("tenant purge reached another tenant")
	}
	// Another replica purged: the caller now asks for epoch 1.
	if _, hit, _ := c.Get(ctx, b1, 1, load); hit {
		t.Error("entry from an older epoch served")
	}
	if _, hit, _ := c.Get(ctx, b1, 1, load); !hit {
		t.Error("re-fetched entry not served at its epoch")
	}
}

func TestCacheBoundEvictsLeastRecentlyUsed(t *testing.T) {
	c := NewCache(time.Hour, 3, time.Now)
	var calls atomic.Int64
	load := countingLoader(t, &calls, 0)
	ctx := context.Background()
	ck := func(i int) CacheKey { return CacheKey{"tnt", fmt.Sprintf("key_%d", i), 1} }
	first, _, _ := c.Get(ctx, ck(0), 0, load)
	c.Get(ctx, ck(1), 0, load)
	c.Get(ctx, ck(2), 0, load)
	c.Get(ctx, ck(1), 0, load) // 0 is now least recently used
	c.Get(ctx, ck(3), 0, load)
	if s := c.Stats(); s.Entries != 3 || s.Evictions != 1 {
		t.Fatalf("stats = %+v", s)
	}
	if !first.destroyed() {
		t.Error("evicted key not destroyed")
	}
	if _, hit, _ := c.Get(ctx, ck(1), 0, load); !hit {
		t.Error("recently used entry evicted")
	}
}

func TestCacheSweepZeroesExpired(t *testing.T) {
	clk := kmslocal.NewManualClock(time.Unix(1_800_000_000, 0))
	c := NewCache(time.Minute, 10, clk.Now)
	var calls atomic.Int64
	k, _, _ := c.Get(context.Background(), CacheKey{"t", "k", 1}, 0, countingLoader(t, &calls, 0))
	clk.Advance(2 * time.Minute)
	if n := c.Sweep(); n != 1 || !k.destroyed() {
		t.Errorf("sweep dropped %d, destroyed=%v", n, k.destroyed())
	}
}

func TestCacheWaiterHonoursItsContext(t *testing.T) {
	c := NewCache(time.Minute, 10, time.Now)
	release := make(chan struct{})
	slow := func(context.Context) (*DataKey, error) {
		<-release
		return NewDataKey("key_a", 1, make([]byte, 32))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, _, err := c.Get(ctx, CacheKey{"t", "k", 1}, 0, slow); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v", err)
	}
	close(release)
	// The fetch finished for later callers all the same.
	deadline := time.Now().Add(2 * time.Second)
	for c.Stats().Entries == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if c.Stats().Entries != 1 {
		t.Error("detached fetch did not fill the cache")
	}
}
