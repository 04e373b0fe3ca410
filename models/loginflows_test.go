package models

import (
	"context"
	"crypto/sha256"
	"errors"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// newTestLoginFlow stores a flow expiring in ttl.
func newTestLoginFlow(tb testing.TB, db *DB, ttl time.Duration) *LoginFlow {
	tb.Helper()
	h := sha256.Sum256([]byte("flow-secret"))
	f := &LoginFlow{SecretHash: h[:], State: "state-1", Nonce: "nonce-1", ReturnTo: "/tenants", ExpiresAt: db.now().Add(ttl)}
	if err := db.CreateLoginFlow(context.Background(), f); err != nil {
		tb.Fatalf("CreateLoginFlow: %v", err)
	}
	return f
}

func TestTakeLoginFlowSingleUse(t *testing.T) {
	db, _ := openTestDB(t)
	ctx := context.Background()
	f := newTestLoginFlow(t, db, 10*time.Minute)
	got, err := db.TakeLoginFlow(ctx, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, f) {
		t.Errorf("TakeLoginFlow = %+v, want %+v", got, f)
	}
	if _, err := db.TakeLoginFlow(ctx, f.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second TakeLoginFlow err = %v, want ErrNotFound", err)
	}
}

func TestTakeLoginFlowExpired(t *testing.T) {
	db, clock := openTestDB(t)
	ctx := context.Background()
	f := newTestLoginFlow(t, db, 10*time.Minute)
	clock.Advance(10 * time.Minute)
	if _, err := db.TakeLoginFlow(ctx, f.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("TakeLoginFlow(expired) err = %v, want ErrNotFound", err)
	}
	var n int64
	if err := db.g.Table("login_flows").Count(&n).Error; err != nil || n != 0 {
		t.Errorf("%d login flows left (err %v); the expired one must be deleted", n, err)
	}
}

func TestTakeLoginFlowConcurrent(t *testing.T) {
	db, _ := openTestDB(t)
	f := newTestLoginFlow(t, db, 10*time.Minute)
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			_, err := db.TakeLoginFlow(context.Background(), f.ID)
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, ErrNotFound):
				t.Errorf("TakeLoginFlow err = %v", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("%d callers took the flow, want exactly 1", wins.Load())
	}
}

func TestLoginFlowValidationAndCleanup(t *testing.T) {
	db, clock := openTestDB(t)
	ctx := context.Background()
	if err := db.CreateLoginFlow(ctx, &LoginFlow{State: "s", Nonce: "n", ExpiresAt: clock.Now()}); err == nil {
		t.Error("CreateLoginFlow without a secret hash succeeded")
	}
	newTestLoginFlow(t, db, time.Minute)
	keep := newTestLoginFlow(t, db, time.Hour)
	n, err := db.DeleteExpiredLoginFlows(ctx, clock.Now().Add(5*time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("DeleteExpiredLoginFlows = %d, %v; want 1", n, err)
	}
	if _, err := db.TakeLoginFlow(ctx, keep.ID); err != nil {
		t.Errorf("unexpired flow: %v", err)
	}
}
