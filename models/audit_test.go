package models

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"keyport/models/modelstest"
)

// appendEvents appends n provider-wide events, one second apart.
func appendEvents(tb testing.TB, db *DB, clock *testClock, n int) []*AuditEvent {
	tb.Helper()
	evs := make([]*AuditEvent, n)
	for i := range evs {
		ev, err := db.AppendAudit(context.Background(), AuditInput{
			Actor: "usr_test", Action: "test.event", TargetType: "thing", TargetID: fmt.Sprint(i + 1),
			Details: map[string]string{"i": fmt.Sprint(i + 1)},
		})
		if err != nil {
			tb.Fatalf("AppendAudit %d: %v", i+1, err)
		}
		evs[i] = ev
		clock.Advance(time.Second)
	}
	return evs
}

func TestAppendAuditChains(t *testing.T) {
	db, clock := openTestDB(t)
	evs := appendEvents(t, db, clock, 3)
	for i, ev := range evs {
		if ev.Seq != int64(i+1) {
			t.Errorf("event %d seq = %d", i, ev.Seq)
		}
		wantPrev := make([]byte, 32)
		if i > 0 {
			wantPrev = evs[i-1].Hash
		}
		if !bytes.Equal(ev.PrevHash, wantPrev) || len(ev.Hash) != 32 {
			t.Errorf("event %d prev_hash = %x hash = %x, want prev %x", ev.Seq, ev.PrevHash, ev.Hash, wantPrev)
		}
	}
	if !evs[0].CreatedAt.Equal(newTestClock().Now()) {
		t.Errorf("created_at = %v, want the injected clock", evs[0].CreatedAt)
	}
	v, err := db.VerifyAudit(context.Background())
	if err != nil || !v.OK || v.Checked != 3 || !bytes.Equal(v.Head, evs[2].Hash) {
		t.Errorf("VerifyAudit = %+v, %v; want OK over 3 rows with head %x", v, err, evs[2].Hash)
	}
}

func TestAppendAuditDetailsSorted(t *testing.T) {
	db, _ := openTestDB(t)
	for _, tc := range []struct {
		name    string
		details map[string]string
		want    string
	}{
		{"nil", nil, `{}`},
		{"sorted keys", map[string]string{"zeta": "1", "alpha": "2", "mid": "3"}, `{"alpha":"2","mid":"3","zeta":"1"}`},
		{"no html escaping", map[string]string{"q": "<a&b>"}, `{"q":"<a&b>"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := db.AppendAudit(context.Background(), AuditInput{Action: "x", Details: tc.details})
			if err != nil || ev.Details != tc.want {
				t.Errorf("details = %q, %v; want %q", ev.Details, err, tc.want)
			}
		})
	}
}

func TestAppendAuditRefusedWithoutKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  []byte
	}{
		{"not set", nil},
		{"too short", []byte("short")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, _ := openTestDB(t)
			db.SetAuditKey(tc.key)
			if _, err := db.AppendAudit(context.Background(), AuditInput{Action: "x"}); err == nil {
				t.Fatal("AppendAudit succeeded without a usable key")
			}
			if _, err := db.VerifyAudit(context.Background()); err == nil {
				t.Fatal("VerifyAudit succeeded without a usable key")
			}
			var n int64
			if db.g.Table("audit_events").Count(&n); n != 0 {
				t.Errorf("%d rows written", n)
			}
		})
	}
	t.Run("ErrNoAuditKey", func(t *testing.T) {
		db, _ := openTestDB(t)
		db.SetAuditKey(nil)
		if _, err := db.AppendAudit(context.Background(), AuditInput{Action: "x"}); !errors.Is(err, ErrNoAuditKey) {
			t.Errorf("err = %v, want ErrNoAuditKey", err)
		}
	})
}

func TestAppendAuditValidation(t *testing.T) {
	db, _ := openTestDB(t)
	for _, tc := range []struct {
		name  string
		in    AuditInput
		field string
	}{
		{"no action", AuditInput{Actor: "a"}, "action"},
		{"long actor", AuditInput{Action: "x", Actor: strings.Repeat("a", 513)}, "actor"},
		{"huge details", AuditInput{Action: "x", Details: map[string]string{"k": strings.Repeat("v", 17<<10)}}, "details"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := db.AppendAudit(context.Background(), tc.in)
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != tc.field {
				t.Errorf("err = %v, want ValidationError on %s", err, tc.field)
			}
		})
	}
}

func TestAppendAuditConcurrent(t *testing.T) {
	db, _ := openTestDB(t)
	db.SetNow(time.Now) // real, moving time
	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, err := db.AppendAudit(context.Background(), AuditInput{
				TenantID: fmt.Sprintf("tnt_%d", i%3), Action: "concurrent", TargetID: fmt.Sprint(i),
			})
			if err != nil {
				t.Errorf("AppendAudit %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	v, err := db.VerifyAudit(context.Background())
	if err != nil || !v.OK || v.Checked != n {
		t.Fatalf("VerifyAudit = %+v, %v; want OK over %d rows", v, err, n)
	}
	var seqs []int64
	if err := db.g.Table("audit_events").Order("seq").Pluck("seq", &seqs).Error; err != nil {
		t.Fatal(err)
	}
	for i, s := range seqs {
		if s != int64(i+1) {
			t.Fatalf("seqs = %v, want 1..%d", seqs, n)
		}
	}
}

func TestListAudit(t *testing.T) {
	db, _ := openTestDB(t)
	ctx := context.Background()
	for i, tenant := range []string{"tnt_a", "tnt_b", "tnt_a", "", "tnt_a"} {
		if _, err := db.AppendAudit(ctx, AuditInput{TenantID: tenant, Action: "x", TargetID: fmt.Sprint(i + 1)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, tenant string
		limit        int
		wantSeqs     []int64
	}{
		{"tenant newest first", "tnt_a", 10, []int64{5, 3, 1}},
		{"limit", "tnt_a", 2, []int64{5, 3}},
		{"default limit", "tnt_a", 0, []int64{5, 3, 1}},
		{"other tenant", "tnt_b", 10, []int64{2}},
		{"provider-wide", "", 10, []int64{4}},
		{"unknown tenant", "tnt_z", 10, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := db.ListAudit(ctx, tc.tenant, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, ev := range evs {
				got = append(got, ev.Seq)
				if ev.TenantID != tc.tenant {
					t.Errorf("event %d belongs to %q", ev.Seq, ev.TenantID)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.wantSeqs) {
				t.Errorf("seqs = %v, want %v", got, tc.wantSeqs)
			}
		})
	}
}

// TestAuditHashVector pins the canonical encoding: changing it would make every
// existing chain fail verification. The value was cross-checked with an
// independent HMAC computation of the documented encoding.
func TestAuditHashVector(t *testing.T) {
	ev := &AuditEvent{
		Seq: 7, TenantID: "tnt_a", Actor: "usr_b", Action: "key.rotate", TargetType: "key", TargetID: "key_c",
		Details: `{"reason":"manual"}`, RequestID: "req-d",
		CreatedAt: time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC), PrevHash: bytes.Repeat([]byte{0xab}, 32),
	}
	const want = "efc03742906054d755fbfb7ba6dcd1d6ab2f5b31c9446a3569dd8be9d5a090b6"
	if got := hex.EncodeToString(auditHash(testAuditKey, ev)); got != want {
		t.Errorf("auditHash = %s, want %s", got, want)
	}
	// Moving a byte between adjacent fields must change the hash.
	moved := *ev
	moved.Actor, moved.Action = "usr_bk", "ey.rotate"
	if bytes.Equal(auditHash(testAuditKey, &moved), auditHash(testAuditKey, ev)) {
		t.Error("hash is ambiguous across field boundaries")
	}
}

// TestAppendAuditTwoHandles appends through two independent handles on one
// database, as two processes would: only the database's locking keeps the
// chain straight (SQLite's immediate transactions and busy timeout, or the
// advisory lock on PostgreSQL).
func TestAppendAuditTwoHandles(t *testing.T) {
	dsn := modelstest.DSN(t)
	handles := []*DB{openTestDBAt(t, dsn), openTestDBAt(t, dsn)}
	const perHandle = 10
	var wg sync.WaitGroup
	for h, db := range handles {
		db.SetNow(time.Now)
		for i := range perHandle {
			wg.Go(func() {
				if _, err := db.AppendAudit(context.Background(), AuditInput{Action: "two.handles", TargetID: fmt.Sprint(h, "-", i)}); err != nil {
					t.Errorf("handle %d append %d: %v", h, i, err)
				}
			})
		}
	}
	wg.Wait()
	v, err := handles[0].VerifyAudit(context.Background())
	if err != nil || !v.OK || v.Checked != 2*perHandle {
		t.Errorf("VerifyAudit = %+v, %v; want OK over %d rows", v, err, 2*perHandle)
	}
}
