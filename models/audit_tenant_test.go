package models

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestTenantAuditChainIsolated: issue 17 #4. A tenant's verification reads
// its own events only: another tenant's activity changes neither its row
// count nor its head, its sequence numbers have no gaps, and a break in
// one tenant's chain shows in that tenant's verification and the
// operator's, not in another tenant's.
func TestTenantAuditChainIsolated(t *testing.T) {
	ctx := context.Background()
	db, clock := openTestDB(t)
	db.verifyPage = 3 // cross page boundaries with few rows
	add := func(tenant string, n int) []*AuditEvent {
		t.Helper()
		var out []*AuditEvent
		for range n {
			ev, err := db.AppendAudit(ctx, AuditInput{TenantID: tenant, Actor: "usr_x", Action: "auth.sign_in"})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, ev)
			clock.Advance(1)
		}
		return out
	}
	a := add("tnt_a", 2)
	before, err := db.VerifyTenantAudit(ctx, "tnt_a")
	if err != nil || !before.OK || before.Checked != 2 {
		t.Fatalf("VerifyTenantAudit(a) = %+v, %v; want 2 rows", before, err)
	}
	add("tnt_b", 25)
	a = append(a, add("tnt_a", 1)...)
	after, err := db.VerifyTenantAudit(ctx, "tnt_a")
	if err != nil || !after.OK || after.Checked != 3 || !bytes.Equal(after.Head, a[2].TenantHash) {
		t.Fatalf("VerifyTenantAudit(a) after b's 25 events = %+v, %v; want 3 rows with a's own head", after, err)
	}
	for i, ev := range a {
		if ev.TenantSeq != int64(i+1) || ev.ActorKind != ActorUser {
			t.Errorf("a's event %d: tenant seq %d, actor kind %q", i+1, ev.TenantSeq, ev.ActorKind)
		}
	}
	if v, err := db.VerifyAudit(ctx); err != nil || !v.OK || v.Checked != 28 {
		t.Fatalf("VerifyAudit = %+v, %v; want 28 rows", v, err)
	}

	// A changed actor kind is covered by the tenant hash alone.
	db.g.Exec(`UPDATE audit_events SET actor_kind = 'system' WHERE tenant_id = 'tnt_b' AND tenant_seq = 7`)
	if v, _ := db.VerifyTenantAudit(ctx, "tnt_b"); v.OK || v.FirstBrokenSeq != 7 {
		t.Errorf("VerifyTenantAudit(b) after an edit = %+v; want broken at its row 7", v)
	}
	if v, _ := db.VerifyTenantAudit(ctx, "tnt_a"); !v.OK {
		t.Errorf("VerifyTenantAudit(a) = %+v after b's chain was broken", v)
	}
	if v, _ := db.VerifyAudit(ctx); v.OK {
		t.Error("the operator's verification missed the edit of a tenant's row")
	}
}

// TestAuditMigratesLegacyChain: a database made by keyport before
// migration 14 (testdata, written by that version with an audit key of
// 32 bytes of 7) migrates; its events still verify, globally and per
// tenant, and new events continue each tenant's chain.
func TestAuditMigratesLegacyChain(t *testing.T) {
	ctx := context.Background()
	gz, err := os.Open(filepath.Join("testdata", "audit_before_v14.db.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer gz.Close()
	r, err := gzip.NewReader(gz)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "old.db")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, _ := db.AppliedMigrations(ctx); len(v) == 0 || v[len(v)-1] != 13 {
		t.Fatalf("fixture migrations %v, want up to 13", v)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	db.SetAuditKey(bytes.Repeat([]byte{7}, 32))
	if v, err := db.VerifyAudit(ctx); err != nil || !v.OK || v.Checked != 7 {
		t.Fatalf("VerifyAudit after migration = %+v, %v", v, err)
	}
	evs, err := db.AuditEvents(ctx, TenantScope("tnt_a"), AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for i, e := range evs {
		if e.TenantSeq != int64(i+1) {
			t.Errorf("a's event %d has tenant seq %d", i+1, e.TenantSeq)
		}
		kinds = append(kinds, e.ActorKind)
	}
	if len(kinds) != 3 || kinds[0] != ActorUser || kinds[1] != ActorServiceToken || kinds[2] != ActorUser {
		t.Errorf("a's legacy actor kinds %v", kinds)
	}
	for tenant, n := range map[string]int64{"tnt_a": 3, "tnt_b": 3, "": 1} {
		if v, err := db.VerifyTenantAudit(ctx, tenant); err != nil || !v.OK || v.Checked != n {
			t.Errorf("VerifyTenantAudit(%q) = %+v, %v; want %d rows", tenant, v, err, n)
		}
	}
	// tnt_b is chained on its first new event (tnt_a was by verifying).
	ev, err := db.AppendAudit(ctx, AuditInput{TenantID: "tnt_b", Actor: "usr_bob", Action: "auth.sign_in"})
	if err != nil || ev.TenantSeq != 4 {
		t.Fatalf("new event of b: %+v, %v; want tenant seq 4", ev, err)
	}
	if v, err := db.VerifyAudit(ctx); err != nil || !v.OK || v.Checked != 8 {
		t.Errorf("VerifyAudit after new events = %+v, %v", v, err)
	}
	if v, err := db.VerifyTenantAudit(ctx, "tnt_b"); err != nil || !v.OK || v.Checked != 4 || !bytes.Equal(v.Head, ev.TenantHash) {
		t.Errorf("VerifyTenantAudit(b) = %+v, %v", v, err)
	}
	// A legacy row edited after chaining is still caught by the global chain.
	db.g.Exec(`UPDATE audit_events SET action = 'nothing' WHERE seq = 1`)
	if v, _ := db.VerifyAudit(ctx); v.OK || v.FirstBrokenSeq != 1 {
		t.Errorf("VerifyAudit after editing a legacy row = %+v", v)
	}
}
