package envelope

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// CacheKey names one cached data key. The tenant is part of the key, and
// authorization runs before any lookup, so an entry is only ever found by
// the tenant it belongs to.
type CacheKey struct {
	TenantID string
	KeyID    string
	Version  uint32
}

// cacheEntry is also its own node in the LRU list: a separate list element
// per entry would cost ~50 bytes of the 1 KiB budget per cached key.
type cacheEntry struct {
	ck         CacheKey
	key        *DataKey
	epoch      int64
	expires    int64 // Unix nanoseconds: 8 bytes where a time.Time takes 24
	prev, next *cacheEntry
}

type flight struct {
	done  chan struct{}
	epoch int64
	key   *DataKey
	err   error
}

// Cache holds plaintext data keys in memory for a bounded time. Entries
// expire an absolute TTL after they were fetched (jittered, so keys fetched
// together do not expire together), the number of entries is bounded (least
// recently used goes first), concurrent misses for one key make one fetch,
// failures are never cached, and every key is zeroed when it leaves.
//
// Purge works through epochs: each key has an epoch (kept in the database,
// so every replica sees it); an entry fetched under an older epoch than the
// caller's is never served.
type Cache struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu      sync.Mutex
	entries map[CacheKey]*cacheEntry
	lru     cacheEntry // sentinel: lru.next is the most recently used, lru.prev the least
	flights map[CacheKey]*flight

	hits, misses, evictions, purged atomic.Int64
}

// NewCache makes a cache of at most max entries, each kept at most ttl.
func NewCache(ttl time.Duration, max int, now func() time.Time) *Cache {
	c := &Cache{ttl: ttl, max: max, now: now, entries: make(map[CacheKey]*cacheEntry), flights: make(map[CacheKey]*flight)}
	c.lru.next, c.lru.prev = &c.lru, &c.lru
	return c
}

// pushFront links e as the most recently used entry.
func (c *Cache) pushFront(e *cacheEntry) {
	e.prev, e.next = &c.lru, c.lru.next
	c.lru.next.prev = e
	c.lru.next = e
}

// unlink takes e out of the LRU list.
func (c *Cache) unlink(e *cacheEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

// Loader fetches a data key on a miss (a KMS Decrypt, in the service).
type Loader func(ctx context.Context) (*DataKey, error)

// Get returns the data key for ck, fetched under epoch or later. On a miss it
// calls load once, however many callers miss at the same time; they all get
// its result. hit reports whether the key came from memory.
func (c *Cache) Get(ctx context.Context, ck CacheKey, epoch int64, load Loader) (key *DataKey, hit bool, err error) {
	c.mu.Lock()
	if e, ok := c.entries[ck]; ok {
		if e.epoch >= epoch && c.now().UnixNano() < e.expires {
			c.unlink(e)
			c.pushFront(e)
			c.mu.Unlock()
			c.hits.Add(1)
			return e.key, true, nil
		}
		c.removeLocked(e)
	}
	f, ok := c.flights[ck]
	if !ok || f.epoch < epoch {
		// A fetch that started before a purge must not serve callers that
		// arrive after it: start a new one.
		f = &flight{done: make(chan struct{}), epoch: epoch}
		c.flights[ck] = f
		c.misses.Add(1)
		go c.fetch(ctx, ck, f, load)
	}
	c.mu.Unlock()

	select {
	case <-f.done:
		return f.key, false, f.err
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
}

// fetch runs one load for every waiter. It is detached from the first
// caller's cancellation: the others still want the key.
func (c *Cache) fetch(ctx context.Context, ck CacheKey, f *flight, load Loader) {
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	f.key, f.err = load(lctx)

	c.mu.Lock()
	if c.flights[ck] == f {
		delete(c.flights, ck)
	}
	if f.err == nil {
		if old, ok := c.entries[ck]; ok {
			c.removeLocked(old)
		}
		e := &cacheEntry{ck: ck, key: f.key, epoch: f.epoch, expires: c.now().Add(c.jitteredTTL()).UnixNano()}
		c.pushFront(e)
		c.entries[ck] = e
		for len(c.entries) > c.max {
			c.removeLocked(c.lru.prev)
			c.evictions.Add(1)
		}
	}
	c.mu.Unlock()
	close(f.done)
}

// jitteredTTL shortens the TTL by up to 5%, never lengthens it: the TTL is
// a promise to the tenant about how long revoked access can last. 5% spreads
// expiries enough to avoid a stampede while costing only ~2.5% more KMS
// calls than the ideal of one per key per TTL.
func (c *Cache) jitteredTTL() time.Duration {
	return c.ttl - time.Duration(rand.Int64N(int64(c.ttl)/20+1))
}

// removeLocked drops an entry and destroys its key. A request still holding
// the key finishes with it (its cipher is its own); new requests fetch anew.
func (c *Cache) removeLocked(e *cacheEntry) {
	c.unlink(e)
	delete(c.entries, e.ck)
	e.key.Destroy()
}

// Purge drops every cached data key of a tenant, or of one key when keyID
// is not empty, and returns how many were dropped.
func (c *Cache) Purge(tenantID, keyID string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for ck, e := range c.entries {
		if ck.TenantID == tenantID && (keyID == "" || ck.KeyID == keyID) {
			c.removeLocked(e)
			n++
		}
	}
	c.purged.Add(int64(n))
	return n
}

// Sweep drops expired entries, so their keys are zeroed on time rather than
// at the next lookup.
func (c *Cache) Sweep() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	now, n := c.now().UnixNano(), 0
	for _, e := range c.entries {
		if now >= e.expires {
			c.removeLocked(e)
			n++
		}
	}
	return n
}

// CacheStats are the cache's counters since start.
type CacheStats struct {
	Entries                         int
	Hits, Misses, Evictions, Purged int64
}

// Stats returns the counters.
func (c *Cache) Stats() CacheStats {
	c.mu.Lock()
	n := len(c.entries)
	c.mu.Unlock()
	return CacheStats{Entries: n, Hits: c.hits.Load(), Misses: c.misses.Load(), Evictions: c.evictions.Load(), Purged: c.purged.Load()}
}
