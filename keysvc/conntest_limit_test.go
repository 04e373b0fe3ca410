package keysvc

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// TestConnectionTestCooldown: connection tests have a per-tenant budget
// (issue 17 #12); a refused test makes no AWS call and says how long to
// wait; the budget comes back with time; other tenants are not affected.
func TestConnectionTestCooldown(t *testing.T) {
	e := newCPEnv(t)
	ctx := context.Background()
	var mu sync.Mutex
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	e.svc.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	c := e.accessKeyConn(t, "good", cpUserAKID, cpUserSecret)
	for i := range ConnectionTestBurst {
		if res, err := e.svc.TestConnection(ctx, e.tenant.ID, e.by, c.ID); err != nil || !res.OK {
			t.Fatalf("test %d: %+v, %v", i, res, err)
		}
	}
	calls := e.srv.Calls("GetCallerIdentity")
	_, err := e.svc.TestConnection(ctx, e.tenant.ID, e.by, c.ID)
	var cool *ConnectionTestCooldownError
	if !errors.As(err, &cool) || cool.WaitSeconds() != int(ConnectionTestEvery/time.Second) {
		t.Fatalf("test over the budget: %v, want a cooldown of %s", err, ConnectionTestEvery)
	}
	if e.srv.Calls("GetCallerIdentity") != calls {
		t.Error("a refused test still called STS")
	}
	if err := e.svc.tests.take("tnt_other", now); err != nil {
		t.Errorf("another tenant was refused: %v", err)
	}
	advance(ConnectionTestEvery / 2)
	if _, err := e.svc.TestConnection(ctx, e.tenant.ID, e.by, c.ID); !errors.As(err, &cool) || cool.WaitSeconds() != int(ConnectionTestEvery/time.Second)/2 {
		t.Fatalf("half way: %v", err)
	}
	advance(ConnectionTestEvery / 2)
	if _, err := e.svc.TestConnection(ctx, e.tenant.ID, e.by, c.ID); err != nil {
		t.Fatalf("after the cooldown: %v", err)
	}
}
