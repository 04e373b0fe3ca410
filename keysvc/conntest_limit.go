package keysvc

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// Connection tests call STS with the provider's own credentials (and the
// tenant's), so each tenant has a small budget of them: up to
// ConnectionTestBurst at once, then one more every ConnectionTestEvery.
// A person clicking "Test connection" never meets it; a loop does.
const (
	ConnectionTestBurst = 6
	ConnectionTestEvery = 10 * time.Second
)

// ConnectionTestCooldownError refuses a connection test while the tenant's
// budget is spent; Wait is how long until the next one is allowed.
type ConnectionTestCooldownError struct {
	Wait time.Duration
}

func (e *ConnectionTestCooldownError) Error() string {
	return fmt.Sprintf("keysvc: connection tests are limited; wait %s", e.Wait.Round(time.Second))
}

// WaitSeconds is Wait in whole seconds, rounded up, at least 1.
func (e *ConnectionTestCooldownError) WaitSeconds() int {
	return max(1, int(math.Ceil(e.Wait.Seconds())))
}

// testBudget is a token bucket per tenant. Buckets that are full again are
// dropped, so it holds only tenants that tested recently.
type testBudget struct {
	mu      sync.Mutex
	buckets map[string]bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// take spends one test of tenantID's budget at now, or says how long to
// wait.
func (b *testBudget) take(tenantID string, now time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buckets == nil {
		b.buckets = map[string]bucket{}
	}
	for id, bk := range b.buckets { // drop full buckets: bounded by recent testers
		if bk.refilled(now) >= ConnectionTestBurst {
			delete(b.buckets, id)
		}
	}
	bk, ok := b.buckets[tenantID]
	tokens := float64(ConnectionTestBurst)
	if ok {
		tokens = bk.refilled(now)
	}
	if tokens < 1 {
		return &ConnectionTestCooldownError{Wait: time.Duration((1 - tokens) * float64(ConnectionTestEvery))}
	}
	b.buckets[tenantID] = bucket{tokens: tokens - 1, at: now}
	return nil
}

func (bk bucket) refilled(now time.Time) float64 {
	return min(float64(ConnectionTestBurst), bk.tokens+float64(now.Sub(bk.at))/float64(ConnectionTestEvery))
}
