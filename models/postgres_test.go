package models

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"keyport/models/modelstest"
)

// These tests are about several processes on one database. They run on
// SQLite too (each handle plays a process), and matter most on PostgreSQL,
// where transactions really run side by side: run them there with
// KEYPORT_TEST_POSTGRES set.

func TestMigrateFromSeveralReplicasAtOnce(t *testing.T) {
	dsn := modelstest.DSN(t)
	handles := make([]*DB, 3)
	for i := range handles {
		db, err := Open(context.Background(), dsn, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		handles[i] = db
	}
	var wg sync.WaitGroup
	for i, db := range handles {
		wg.Go(func() {
			if err := db.Migrate(context.Background()); err != nil {
				t.Errorf("replica %d: Migrate: %v", i, err)
			}
		})
	}
	wg.Wait()
	got, err := handles[0].AppliedMigrations(context.Background())
	if err != nil || len(got) != len(migrations) {
		t.Errorf("applied %v, %v; want all %d migrations once", got, err, len(migrations))
	}
}

func TestOwnersCannotDemoteEachOtherAtOnce(t *testing.T) {
	dsn := modelstest.DSN(t)
	a, b := openTestDBAt(t, dsn), openTestDBAt(t, dsn)
	ctx := context.Background()
	for round := range 10 {
		u1, u2 := mustUser(t, a, fmt.Sprint("one-", round)), mustUser(t, a, fmt.Sprint("two-", round))
		tenant := mustTenant(t, a, fmt.Sprint("t", round, ".example"), u1)
		if err := a.AddMember(ctx, tenant.ID, u2.ID, RoleOwner, u1.ID, AuditInput{Actor: u1.ID}); err != nil {
			t.Fatal(err)
		}
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i, x := range []struct {
			db   *DB
			whom *User
		}{{a, u2}, {b, u1}} {
			wg.Go(func() {
				_, errs[i] = x.db.ChangeMemberRole(ctx, tenant.ID, x.whom.ID, RoleAdmin, AuditInput{Actor: "other owner"})
			})
		}
		wg.Wait()
		ok, last := 0, 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, ErrLastOwner):
				last++
			default:
				t.Fatalf("round %d: %v", round, err)
			}
		}
		members, err := a.ListMembers(ctx, tenant.ID)
		if err != nil {
			t.Fatal(err)
		}
		owners := 0
		for _, m := range members {
			if m.Role == RoleOwner {
				owners++
			}
		}
		if ok != 1 || last != 1 || owners != 1 {
			t.Fatalf("round %d: %d demotions, %d refused, %d owners left; want 1, 1, 1", round, ok, last, owners)
		}
	}
}

func TestAuditAppendsInsideConcurrentTransactions(t *testing.T) {
	dsn := modelstest.DSN(t)
	a, b := openTestDBAt(t, dsn), openTestDBAt(t, dsn)
	ctx := context.Background()
	owner := mustUser(t, a, "owner")
	tenant := mustTenant(t, a, "chain.example", owner)
	before, _ := a.VerifyAudit(ctx)
	const n = 24
	var wg sync.WaitGroup
	for i := range n {
		db := []*DB{a, b}[i%2]
		wg.Go(func() {
			u := mustUser(t, db, fmt.Sprint("member-", i))
			// AddMember appends its event inside its own transaction.
			if err := db.AddMember(ctx, tenant.ID, u.ID, RoleAuditor, owner.ID, AuditInput{Actor: owner.ID}); err != nil {
				t.Errorf("AddMember %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	v, err := a.VerifyAudit(ctx)
	if err != nil || !v.OK || v.Checked != before.Checked+n {
		t.Errorf("VerifyAudit = %+v, %v; want an intact chain of %d rows", v, err, before.Checked+n)
	}
}

func TestDuplicateRowIsConflict(t *testing.T) {
	db, _ := openTestDB(t)
	ctx := context.Background()
	owner := mustUser(t, db, "owner")
	tenant := mustTenant(t, db, "dup.example", owner)
	err := db.AddMember(ctx, tenant.ID, owner.ID, RoleAdmin, "", AuditInput{Actor: owner.ID})
	if !errors.Is(err, ErrConflict) {
		t.Errorf("AddMember of a member = %v, want ErrConflict", err)
	}
	s := &Session{SecretHash: make([]byte, 32), UserID: owner.ID, ExpiresAt: time.Now().Add(time.Hour)}
	if err := db.CreateSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	dup := *s
	if err := db.CreateSession(ctx, &dup); !errors.Is(err, ErrConflict) {
		t.Errorf("CreateSession with a taken id = %v, want ErrConflict", err)
	}
}

func TestTimesKeepMicroseconds(t *testing.T) {
	db, _ := openTestDB(t)
	at := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.FixedZone("CET", 3600))
	db.SetNow(func() time.Time { return at })
	ev, err := db.AppendAudit(context.Background(), AuditInput{Action: "time.check"})
	if err != nil {
		t.Fatal(err)
	}
	want := at.UTC().Truncate(time.Microsecond)
	evs, err := db.ListAudit(context.Background(), "", 1)
	if err != nil || len(evs) != 1 {
		t.Fatal(err)
	}
	if !ev.CreatedAt.Equal(want) || !evs[0].CreatedAt.Equal(want) || evs[0].CreatedAt.Location() != time.UTC {
		t.Errorf("stored %v, read back %v; want %v in UTC", ev.CreatedAt, evs[0].CreatedAt, want)
	}
	if v, err := db.VerifyAudit(context.Background()); err != nil || !v.OK {
		t.Errorf("VerifyAudit = %+v, %v: the hashed time differs from the stored one", v, err)
	}
}

// TestTimesReadBackInUTC: the driver itself returns UTC on both backends,
// so a query that does not normalize its times (a raw read here) gives the
// same values as SQLite whatever the process's local zone.
func TestTimesReadBackInUTC(t *testing.T) {
	db, _ := openTestDB(t)
	if _, err := db.AppendAudit(context.Background(), AuditInput{Action: "time.check"}); err != nil {
		t.Fatal(err)
	}
	var at time.Time
	if err := db.g.Raw("SELECT created_at FROM audit_events").Scan(&at).Error; err != nil {
		t.Fatal(err)
	}
	if at.Location() != time.UTC {
		t.Errorf("created_at read back in %v, want UTC", at.Location())
	}
}

func TestWatchChangesWakesOtherReplicas(t *testing.T) {
	modelstest.PostgresOnly(t) // SQLite: one process, nothing to announce
	dsn := modelstest.DSN(t)
	a, b := openTestDBAt(t, dsn), openTestDBAt(t, dsn)
	owner := mustUser(t, a, "owner")
	tenant := mustTenant(t, a, "watch.example", owner)
	ctx, cancel := context.WithCancel(context.Background())
	var wakes atomic.Int64
	done := make(chan error, 1)
	go func() { done <- a.WatchChanges(ctx, func() { wakes.Add(1) }) }()
	waitFor := func(n int64) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); wakes.Load() < n; time.Sleep(2 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("wakes = %d after 5s, want %d", wakes.Load(), n)
			}
		}
	}
	waitFor(1) // the wake after LISTEN
	c := &Connection{TenantID: tenant.ID, Name: "prod", AccountID: "111122223333", DefaultRegion: "eu-west-1",
		Kind: "access_key", AccessKeyID: "AKIAEXAMPLE000000001", SecretSealed: []byte("sealed")}
	start := time.Now()
	if err := b.CreateConnection(context.Background(), c, AuditInput{Actor: owner.ID, Action: "connection.created"}); err != nil {
		t.Fatal(err)
	}
	waitFor(2)
	t.Logf("woken %v after the other handle's commit", time.Since(start))
	cancel()
	if err := <-done; err != nil {
		t.Errorf("WatchChanges = %v after cancel, want nil", err)
	}
}
