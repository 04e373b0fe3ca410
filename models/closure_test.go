package models

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestClosureErasesEverySealedColumn keeps "a closed tenant's secrets are
// erased" true as the schema grows: every sealed column is either one
// EraseTenantSecrets empties or one named as holding no tenant's secret.
func TestClosureErasesEverySealedColumn(t *testing.T) {
	db, _ := openTestDB(t)
	cols, err := db.SealedColumnsInSchema(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(cols) < 4 {
		t.Fatalf("only %d sealed columns found: %v", len(cols), cols)
	}
	erased := map[string]bool{}
	for _, c := range ClosureErasedColumns() {
		erased[c.String()] = true
	}
	for _, c := range cols {
		if _, kept := closureKeeps[c.String()]; !erased[c.String()] && !kept {
			t.Errorf("sealed column %s is neither erased by EraseTenantSecrets nor listed in closureKeeps: decide which", c)
		}
	}
}

// TestTenantClosureStore walks a closure through the store: one live
// closure per tenant, cancel with its job, the window's end, and steps
// that run twice without doing anything twice.
func TestTenantClosureStore(t *testing.T) {
	db, clock := openTestDB(t)
	ctx := context.Background()
	owner, other := mustUser(t, db, "owner"), mustUser(t, db, "other")
	tn := mustTenant(t, db, "Closing Co", owner)
	keep := mustTenant(t, db, "Keeps Going", other)
	if err := db.AddMember(ctx, tn.ID, other.ID, RoleAdmin, owner.ID, AuditInput{Actor: owner.ID}); err != nil {
		t.Fatal(err)
	}
	week := clock.Now().Add(7 * 24 * time.Hour)
	c, err := db.RequestTenantClosure(ctx, tn.ID, owner.ID, 7, week, AuditInput{Actor: owner.ID, Action: "tenant.closure_requested"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.RequestTenantClosure(ctx, tn.ID, owner.ID, 7, week, AuditInput{Actor: owner.ID, Action: "tenant.closure_requested"}); !errors.Is(err, ErrConflict) {
		t.Fatalf("second closure: %v, want ErrConflict", err)
	}
	if err := db.CancelTenantClosure(ctx, tn.ID, owner.ID, AuditInput{Actor: owner.ID, Action: "tenant.closure_cancelled"}); err != nil {
		t.Fatal(err)
	}
	if j, err := db.GetJob(ctx, c.JobID); err != nil || j.State != JobCancelled {
		t.Fatalf("the cancelled closure's job: %+v %v", j, err)
	}
	if err := db.CancelTenantClosure(ctx, tn.ID, owner.ID, AuditInput{Actor: owner.ID, Action: "tenant.closure_cancelled"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("cancel twice: %v, want ErrNotFound", err)
	}
	if _, err := db.BeginTenantClosure(ctx, tn.ID, c.ID); !errors.Is(err, ErrConflict) {
		t.Fatalf("begin a cancelled closure: %v", err)
	}
	c, err = db.RequestTenantClosure(ctx, tn.ID, owner.ID, 7, week, AuditInput{Actor: owner.ID, Action: "tenant.closure_requested"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.BeginTenantClosure(ctx, tn.ID, c.ID); !errors.Is(err, ErrConflict) {
		t.Fatalf("begin before the window ended: %v", err)
	}
	clock.Advance(7*24*time.Hour + time.Second)
	if c, err = db.BeginTenantClosure(ctx, tn.ID, c.ID); err != nil || c.State != ClosureClosing {
		t.Fatalf("begin: %+v %v", c, err)
	}
	if err := db.CancelTenantClosure(ctx, tn.ID, owner.ID, AuditInput{Actor: owner.ID, Action: "tenant.closure_cancelled"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("cancel a closing tenant: %v, want ErrNotFound", err)
	}
	sys := AuditInput{Actor: "keyport:closure", ActorKind: ActorSystem, Action: "tenant.access_revoked"}
	// The tenant API keys' table (added in parallel, migration 40): when
	// it is there, the tenant's keys are revoked with the rest.
	// Before that merge, a stand-in with its columns.
	if !db.g.Migrator().HasTable("api_keys") {
		if err := db.g.Exec(ddlTypes[db.g.Dialector.Name()].Replace(`CREATE TABLE api_keys (id text PRIMARY KEY,
			tenant_id text NOT NULL REFERENCES tenants(id), name text NOT NULL, role text NOT NULL, secret_hash {{bytes}} NOT NULL,
			created_by text NOT NULL, created_at {{time}} NOT NULL, expires_at {{time}}, last_used_at {{time}}, revoked_at {{time}})`)).Error; err != nil {
			t.Fatal(err)
		}
	}
	for id, tenant := range map[string]string{"apk_a": tn.ID, "apk_b": keep.ID} {
		if err := db.g.Exec(`INSERT INTO api_keys (id, tenant_id, name, role, secret_hash, created_by, created_at) VALUES (?, ?, 'ci', 'admin', ?, ?, ?)`,
			id, tenant, make([]byte, 32), owner.ID, clock.Now()).Error; err != nil {
			t.Fatal(err)
		}
	}
	if err := db.SetClosureStep(ctx, tn.ID, c.ID, "revoke_access", 0, ""); err != nil {
		t.Fatal(err)
	}
	r, err := db.RevokeTenantAccess(ctx, tn.ID, c.ID, "revoke_access", "schedule_kms_deletion", sys)
	if err != nil || r.Members != 2 || r.APIKeys != 1 {
		t.Fatalf("revoke access: %+v %v", r, err)
	}
	var live []string
	if err := db.g.Raw(`SELECT id FROM api_keys WHERE revoked_at IS NULL`).Scan(&live).Error; err != nil || len(live) != 1 || live[0] != "apk_b" {
		t.Fatalf("API keys not revoked after the closure's first step: %v %v", live, err)
	}
	// Run again (a crash after its commit): the step has moved on, nothing
	// happens twice.
	if r, err = db.RevokeTenantAccess(ctx, tn.ID, c.ID, "revoke_access", "schedule_kms_deletion", sys); err != nil || *r != (AccessRevoked{}) {
		t.Fatalf("revoke access again: %+v %v", r, err)
	}
	if c, err = db.GetTenantClosure(ctx, tn.ID, c.ID); err != nil || c.Step != "schedule_kms_deletion" {
		t.Fatalf("closure after revoking access: %+v %v", c, err)
	}
	mine, err := db.TenantsForUser(ctx, other.ID)
	if err != nil || len(mine) != 1 || mine[0].Tenant.ID != keep.ID {
		t.Fatalf("the admin's tenants after the closure: %+v %v", mine, err)
	}
	if err := db.CreateServiceToken(ctx, &ServiceToken{TenantID: tn.ID, Name: "late", SecretHash: make([]byte, 32)}, AuditInput{Actor: "operator"}); !errors.Is(err, ErrTenantClosed) {
		t.Errorf("a service token for a closing tenant: %v, want ErrTenantClosed", err)
	}
	if err := db.CreateImportRequest(ctx, &ImportRequest{ID: NewID("imp_"), TenantID: tn.ID, StoreID: "kst_x", KeyName: "late", TokenHash: make([]byte, 32)},
		time.Hour, AuditInput{Actor: "operator"}); !errors.Is(err, ErrTenantClosed) {
		t.Errorf("an import request in a closing tenant: %v, want ErrTenantClosed", err)
	}
	if err := db.SetClosureStep(ctx, tn.ID, c.ID, "erase_secrets", 0, ""); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := db.EraseTenantSecrets(ctx, tn.ID, c.ID, "erase_secrets", "finish", AuditInput{Actor: "keyport:closure", Action: "tenant.secrets_erased"}); err != nil {
			t.Fatal(err)
		}
	}
	ct, at, err := db.ClosedTenantOf(ctx, owner.ID)
	if err != nil || ct.ID != tn.ID || !at.Equal(clock.Now()) {
		t.Fatalf("closed tenant of the owner: %+v %v %v", ct, at, err)
	}
	if _, _, err := db.ClosedTenantOf(ctx, mustUser(t, db, "stranger").ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("closed tenant of a stranger: %v", err)
	}
	events, err := db.ListAudit(ctx, tn.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range events {
		actions = append(actions, e.Action)
	}
	for want, n := range map[string]int{"tenant.closure_requested": 2, "tenant.closure_cancelled": 1, "tenant.access_revoked": 1, "tenant.secrets_erased": 1} {
		if got := countOf(actions, want); got != n {
			t.Errorf("%d %s events in %v, want %d", got, want, actions, n)
		}
	}
}

func countOf(xs []string, x string) int {
	n := 0
	for _, v := range xs {
		if v == x {
			n++
		}
	}
	return n
}
