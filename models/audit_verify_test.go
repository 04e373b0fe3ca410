package models

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestVerifyAuditDetectsTampering(t *testing.T) {
	for _, tc := range []struct {
		name       string
		tamper     []string
		wantBroken int64
		wantReason string
	}{
		{"edit details", []string{`UPDATE audit_events SET details = '{"i":"500"}' WHERE seq = 5`}, 5, "modified"},
		{"edit actor of first row", []string{`UPDATE audit_events SET actor = 'usr_evil' WHERE seq = 1`}, 1, "modified"},
		{"edit created_at", []string{`UPDATE audit_events SET created_at = '2020-01-01 00:00:00+00:00' WHERE seq = 2`}, 2, "modified"},
		{"edit hash", []string{`UPDATE audit_events SET hash = prev_hash WHERE seq = 6`}, 6, "modified"},
		{"delete middle row", []string{`DELETE FROM audit_events WHERE seq = 5`}, 6, "row 5 is missing"},
		{"delete first row", []string{`DELETE FROM audit_events WHERE seq = 1`}, 2, "row 1 is missing"},
		{"delete several rows", []string{`DELETE FROM audit_events WHERE seq BETWEEN 3 AND 5`}, 6, "rows 3 to 5 are missing"},
		{"delete row and renumber", []string{
			`DELETE FROM audit_events WHERE seq = 4`,
			`UPDATE audit_events SET seq = seq + 100 WHERE seq > 4`,
			`UPDATE audit_events SET seq = seq - 101 WHERE seq > 100`,
		}, 4, "prev_hash"},
		{"swap two rows", []string{
			`UPDATE audit_events SET seq = -3 WHERE seq = 3`,
			`UPDATE audit_events SET seq = 3 WHERE seq = 4`,
			`UPDATE audit_events SET seq = 4 WHERE seq = -3`,
		}, 3, "prev_hash"},
		{"relink prev_hash", []string{`UPDATE audit_events SET prev_hash = (SELECT hash FROM audit_events WHERE seq = 2) WHERE seq = 4`}, 4, "prev_hash"},
		{"forged row before the start", []string{
			`INSERT INTO audit_events (seq, tenant_id, actor_kind, actor, action, target_type, target_id, details, request_id, created_at, prev_hash, hash,
				tenant_seq, tenant_prev_hash, tenant_hash)
			SELECT 0, tenant_id, actor_kind, actor, action, target_type, target_id, details, request_id, created_at, prev_hash, hash,
				0, tenant_prev_hash, tenant_hash FROM audit_events WHERE seq = 1`,
		}, 0, "start at 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, clock := openTestDB(t)
			db.verifyPage = 3 // cross page boundaries with few rows
			appendEvents(t, db, clock, 8)
			for _, stmt := range tc.tamper {
				if err := db.g.Exec(stmt).Error; err != nil {
					t.Fatalf("tamper %q: %v", stmt, err)
				}
			}
			v, err := db.VerifyAudit(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if v.OK || v.FirstBrokenSeq != tc.wantBroken || !strings.Contains(v.Reason, tc.wantReason) {
				t.Errorf("VerifyAudit = %+v, want broken at %d with reason containing %q", v, tc.wantBroken, tc.wantReason)
			}
		})
	}
}

func TestVerifyAuditWrongKey(t *testing.T) {
	db, clock := openTestDB(t)
	appendEvents(t, db, clock, 2)
	db.SetAuditKey(bytes.Repeat([]byte{7}, 32))
	v, err := db.VerifyAudit(context.Background())
	if err != nil || v.OK || v.FirstBrokenSeq != 1 {
		t.Errorf("VerifyAudit with another key = %+v, %v; want broken at 1", v, err)
	}
}

// Deleting the newest rows leaves a valid but shorter chain; only a head
// recorded elsewhere shows it.
func TestVerifyAuditTruncatedTailChangesHead(t *testing.T) {
	db, clock := openTestDB(t)
	evs := appendEvents(t, db, clock, 4)
	if err := db.g.Exec(`DELETE FROM audit_events WHERE seq = 4`).Error; err != nil {
		t.Fatal(err)
	}
	v, err := db.VerifyAudit(context.Background())
	if err != nil || !v.OK || v.Checked != 3 || !bytes.Equal(v.Head, evs[2].Hash) {
		t.Errorf("VerifyAudit = %+v, %v; want OK over 3 rows with head of row 3", v, err)
	}
}

func TestVerifyAuditPaging(t *testing.T) {
	for _, tc := range []struct {
		name       string
		rows, page int
	}{
		{"empty", 0, 3},
		{"exact pages", 6, 3},
		{"partial last page", 7, 3},
		{"one row pages", 4, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, clock := openTestDB(t)
			db.verifyPage = tc.page
			evs := appendEvents(t, db, clock, tc.rows)
			v, err := db.VerifyAudit(context.Background())
			if err != nil || !v.OK || v.Checked != int64(tc.rows) || v.FirstBrokenSeq != 0 {
				t.Fatalf("VerifyAudit = %+v, %v; want OK over %d rows", v, err, tc.rows)
			}
			if tc.rows > 0 && !bytes.Equal(v.Head, evs[tc.rows-1].Hash) {
				t.Errorf("head = %x, want %x", v.Head, evs[tc.rows-1].Hash)
			}
			if tc.rows == 0 && v.Head != nil {
				t.Errorf("head of an empty log = %x, want nil", v.Head)
			}
		})
	}
}

// TestRecordAuditVerification: the last verification of each chain is
// kept per scope (a tenant's, the whole log), replaced by the next one,
// and recorded with its audit event.
func TestRecordAuditVerification(t *testing.T) {
	db, clock := openTestDB(t)
	ctx := context.Background()
	if r, err := db.LastAuditVerification(ctx, "ten_a", false); r != nil || err != nil {
		t.Fatalf("before any: %+v %v", r, err)
	}
	v := AuditVerification{Checked: 3, OK: true, Head: []byte("head")}
	ev := AuditInput{TenantID: "ten_a", Actor: "usr_a", Action: "audit.chain_verified"}
	if err := db.RecordAuditVerification(ctx, "ten_a", false, v, "usr_a", ev); err != nil {
		t.Fatal(err)
	}
	first, _ := db.LastAuditVerification(ctx, "ten_a", false)
	clock.Advance(time.Minute)
	v2 := AuditVerification{Checked: 5, FirstBrokenSeq: 5, Reason: "modified"}
	if err := db.RecordAuditVerification(ctx, "ten_a", false, v2, "usr_b", ev); err != nil {
		t.Fatal(err)
	}
	r, err := db.LastAuditVerification(ctx, "ten_a", false)
	if err != nil || r == nil || r.OK || r.Checked != 5 || r.FirstBrokenSeq != 5 || r.By != "usr_b" || !r.At.After(first.At) {
		t.Errorf("after the second: %+v %v (first at %v)", r, err, first.At)
	}
	if r, _ := db.LastAuditVerification(ctx, "ten_a", true); r != nil {
		t.Errorf("the whole log's record is the tenant's: %+v", r)
	}
	if r, _ := db.LastAuditVerification(ctx, "ten_b", false); r != nil {
		t.Errorf("another tenant's record is ten_a's: %+v", r)
	}
	evs, err := db.ListAudit(ctx, "ten_a", 10)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range evs {
		if e.Action == "audit.chain_verified" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d audit.chain_verified events, want 2", n)
	}
}
