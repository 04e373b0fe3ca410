package models

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestKeyReportsOfManagedKeys: reports read a keyport-held key's store,
// alias, material expiry and rotation policy; MaterialExpiries and
// KeyNameTaken answer for the pages. Runs on PostgreSQL too.
func TestKeyReportsOfManagedKeys(t *testing.T) {
	db, _ := openTestDB(t)
	ctx := context.Background()
	a := connTenant(t, db, "a.test")
	if err := db.CreateConnection(ctx, &Connection{TenantID: a.ID, Name: "role", AccountID: "111122223333", DefaultRegion: "us-east-1",
		Kind: "assume_role", RoleARN: "arn:aws:iam::111122223333:role/x", ExternalID: "keyport-x"}, AuditInput{Action: "connection.created"}); err != nil {
		t.Fatal(err)
	}
	cs, _ := db.ListConnections(ctx, a.ID)
	st := &KeyStore{TenantID: a.ID, Name: "production", ConnectionID: cs[0].ID, Region: "us-east-1"}
	if err := db.CreateKeyStore(ctx, st, AuditInput{Action: "key_store.created"}); err != nil {
		t.Fatal(err)
	}
	nk := &NewManagedKey{Key: Key{TenantID: a.ID, ConnectionID: cs[0].ID, Name: "Orders", Mode: ModeGenerated},
		Managed:  ManagedKey{StoreID: st.ID, AliasName: "alias/keyport/orders", ValidDays: 90},
		Material: KeyMaterial{Source: SourceGenerated, Sealed: []byte{1}, Fingerprint: "ABCDEF"},
		Op:       KeyOperation{Kind: OpCreate, Step: "start"}}
	if err := db.StartManagedKey(ctx, nk, AuditInput{Action: "key.create_started"}); err != nil {
		t.Fatal(err)
	}
	validTo := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	next := time.Date(2027, 1, 2, 3, 0, 0, 0, time.UTC)
	if err := db.g.Exec("UPDATE key_materials SET state = ?, valid_to = ? WHERE key_id = ?", MaterialActive, validTo, nk.Key.ID).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.g.Exec(`INSERT INTO rotation_policies (key_id, tenant_id, period_days, notice_days, automatic, window_start_hour, window_hours,
		next_rotation_at, from_version, updated_at) VALUES (?, ?, 30, '7', TRUE, 2, 4, ?, 1, ?)`, nk.Key.ID, a.ID, next, next).Error; err != nil {
		t.Fatal(err)
	}

	krs, err := db.KeyReports(ctx, a.ID)
	if err != nil || len(krs) != 1 {
		t.Fatalf("key reports: %v %d", err, len(krs))
	}
	kr := krs[0]
	if m := kr.Managed; m == nil || m.StoreName != "production" || m.AliasName != "alias/keyport/orders" || m.ValidDays != 90 ||
		m.MaterialValidTo == nil || !m.MaterialValidTo.Equal(validTo) {
		t.Errorf("managed part = %+v", kr.Managed)
	}
	if kr.RotationPeriodDays != 30 || kr.NextRotationAt == nil || !kr.NextRotationAt.Equal(next) {
		t.Errorf("rotation: %d days, next %v", kr.RotationPeriodDays, kr.NextRotationAt)
	}

	exp, err := db.MaterialExpiries(ctx, a.ID)
	if err != nil || !exp[nk.Key.ID].Equal(validTo) {
		t.Errorf("material expiries = %v, %v", exp, err)
	}
	if other, _ := db.MaterialExpiries(ctx, "tnt_other"); len(other) != 0 {
		t.Errorf("another tenant sees %v", other)
	}
	// The dashboard's counts: the key's material expires in 2030, so
	// "expiring" only when the warning reaches that far.
	counts, first, err := db.KeyStatusCounts(ctx, a.ID, validTo.Add(-time.Hour))
	if err != nil || len(counts) != 1 || counts[0].Expiring || counts[0].N != 1 || first != nil {
		t.Errorf("key status counts before the warning = %+v, %v, %v", counts, first, err)
	}
	counts, first, err = db.KeyStatusCounts(ctx, a.ID, validTo.Add(time.Hour))
	if err != nil || len(counts) != 1 || !counts[0].Expiring || counts[0].N != 1 || first == nil || !first.Equal(validTo) {
		t.Errorf("key status counts within the warning = %+v, %v, %v", counts, first, err)
	}
	if counts, _, _ := db.KeyStatusCounts(ctx, "tnt_other", validTo.Add(time.Hour)); len(counts) != 0 {
		t.Errorf("another tenant counts %+v", counts)
	}
	if taken, err := db.KeyNameTaken(ctx, a.ID, "orders"); err != nil || !taken {
		t.Errorf("KeyNameTaken(orders) = %v, %v", taken, err)
	}
	if taken, _ := db.KeyNameTaken(ctx, a.ID, "ledger"); taken {
		t.Error("KeyNameTaken(ledger) = true")
	}
}

// TestDismissOnboarding: dismissed once per member and tenant, audited
// once, and a stranger cannot dismiss.
func TestDismissOnboarding(t *testing.T) {
	db, _ := openTestDB(t)
	ctx := context.Background()
	u := mustUser(t, db, "owner-x")
	a, b := mustTenant(t, db, "a.test", u), mustTenant(t, db, "b.test", u)
	if d, err := db.OnboardingDismissed(ctx, a.ID, u.ID); err != nil || d {
		t.Fatalf("new member: dismissed %v, %v", d, err)
	}
	for range 2 {
		if err := db.DismissOnboarding(ctx, a.ID, u.ID, AuditInput{Actor: u.ID}); err != nil {
			t.Fatal(err)
		}
	}
	if d, _ := db.OnboardingDismissed(ctx, a.ID, u.ID); !d {
		t.Error("not dismissed")
	}
	if d, _ := db.OnboardingDismissed(ctx, b.ID, u.ID); d {
		t.Error("dismissed in the other tenant too")
	}
	evs, err := db.ListAudit(ctx, a.ID, 50)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range evs {
		if e.Action == "onboarding.dismissed" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d onboarding.dismissed events, want 1", n)
	}
	if err := db.DismissOnboarding(ctx, a.ID, "usr_stranger", AuditInput{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("a stranger dismissing: %v", err)
	}
}
