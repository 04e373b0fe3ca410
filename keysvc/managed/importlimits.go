package managed

import (
	"context"
	"crypto/rsa"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"
)

// Import request limits. Each request costs an RSA-3072 key (about 0.7 s
// of CPU) and keeps a sealed private key for 24 hours, so a tenant has at
// most MaxOpenImportRequests open at once and creates at most
// ImportRequestsPerHour an hour. The rate is counted in memory, per
// keyport process; the open cap is counted in the database.
const (
	MaxOpenImportRequests = 20
	ImportRequestsPerHour = 10
	importRateWindow      = time.Hour
	// DefaultImportKeyPool is how many RSA keys keyport generates ahead, so
	// a request is answered without waiting for one.
	DefaultImportKeyPool = 2
	// maxImportKeygens bounds the keys generated on demand at once (the
	// pool empty), across tenants: the rest wait their turn.
	maxImportKeygens = 2
)

// Refusals of a new import request, each with its own answer.
var (
	ErrTooManyImportRequests = errors.New("keysvc: too many open import requests")
	ErrImportRequestRate     = errors.New("keysvc: import requests created too fast")
)

// importGuard applies the import request limits and hands out RSA keys.
type importGuard struct {
	mu       sync.Mutex
	recent   map[string][]time.Time // tenant -> creations within the window
	inflight map[string]int         // tenant -> creations under way
	pool     *rsaPool
	gen      chan struct{} // on-demand generation slots
}

func newImportGuard(poolSize int, rand io.Reader, log *slog.Logger) *importGuard {
	return &importGuard{recent: map[string][]time.Time{}, inflight: map[string]int{},
		pool: &rsaPool{size: max(poolSize, 0), rand: rand, log: log}, gen: make(chan struct{}, maxImportKeygens)}
}

// String says how many keys are ready, never what they are.
func (g *importGuard) String() string { return "managed.importGuard{" + g.pool.String() + "}" }

// LogValue redacts for slog too.
func (g *importGuard) LogValue() slog.Value { return slog.StringValue(g.String()) }

// reserve admits one new request of tenantID, which has open requests
// already, at now; release must be called when it is made or failed.
func (g *importGuard) reserve(tenantID string, open int, now time.Time) (release func(), err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	times := g.recent[tenantID]
	for len(times) > 0 && !times[0].After(now.Add(-importRateWindow)) {
		times = times[1:]
	}
	if len(times) == 0 {
		delete(g.recent, tenantID)
	} else {
		g.recent[tenantID] = times
	}
	if open+g.inflight[tenantID] >= MaxOpenImportRequests {
		return nil, ErrTooManyImportRequests
	}
	if len(times) >= ImportRequestsPerHour {
		return nil, ErrImportRequestRate
	}
	g.recent[tenantID] = append(times, now)
	g.inflight[tenantID]++
	return func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.inflight[tenantID]--; g.inflight[tenantID] <= 0 {
			delete(g.inflight, tenantID)
		}
	}, nil
}

// key returns an RSA key for one request, and for that request only: one
// from the pool, else a new one (waiting for a generation slot). Either
// way the pool is refilled in the background.
func (g *importGuard) key(ctx context.Context, bits int) (*rsa.PrivateKey, error) {
	defer g.pool.fill(bits)
	if k := g.pool.take(); k != nil {
		return k, nil
	}
	select {
	case g.gen <- struct{}{}:
		defer func() { <-g.gen }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return rsa.GenerateKey(g.pool.rand, bits)
}

// rsaPool holds up to size pre-generated RSA keys. A key leaves the pool
// when taken, so no two requests share one. It fills in one goroutine,
// started on demand, which ends once the pool is full (or generation
// fails): keyport generates nothing ahead until it is first asked.
// The keys are secrets: nothing prints them.
type rsaPool struct {
	mu      sync.Mutex
	keys    []*rsa.PrivateKey
	size    int
	rand    io.Reader
	log     *slog.Logger
	filling chan struct{} // non-nil while a fill runs; closed when it ends
}

// String says how many keys are ready, never what they are.
func (p *rsaPool) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return "rsaPool{ready: " + strconv.Itoa(len(p.keys)) + "/" + strconv.Itoa(p.size) + "}"
}

// LogValue redacts for slog too.
func (p *rsaPool) LogValue() slog.Value { return slog.StringValue(p.String()) }

func (p *rsaPool) take() *rsa.PrivateKey {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.keys) == 0 {
		return nil
	}
	k := p.keys[len(p.keys)-1]
	p.keys[len(p.keys)-1] = nil
	p.keys = p.keys[:len(p.keys)-1]
	return k
}

// fill starts filling the pool unless it is full or filling already.
func (p *rsaPool) fill(bits int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.filling != nil || len(p.keys) >= p.size {
		return
	}
	done := make(chan struct{})
	p.filling = done
	go func() {
		defer close(done)
		for {
			k, err := rsa.GenerateKey(p.rand, bits)
			p.mu.Lock()
			if err == nil && len(p.keys) < p.size {
				p.keys = append(p.keys, k)
			}
			if err != nil || len(p.keys) >= p.size {
				p.filling = nil
				p.mu.Unlock()
				if err != nil {
					p.log.Warn("import key pool: generate RSA key", "err", err)
				}
				return
			}
			p.mu.Unlock()
		}
	}()
}

// wait blocks until a running fill ends (tests).
func (p *rsaPool) wait() {
	p.mu.Lock()
	done := p.filling
	p.mu.Unlock()
	if done != nil {
		<-done
	}
}

// ready is how many keys the pool holds (tests).
func (p *rsaPool) ready() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.keys)
}
