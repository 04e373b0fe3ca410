package models

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func connTenant(tb testing.TB, db *DB, name string) *Tenant {
	tb.Helper()
	return mustTenant(tb, db, name, mustUser(tb, db, "owner-"+name))
}

func TestConnectionsAreTenantScoped(t *testing.T) {
	db, _ := openTestDB(t)
	ctx := context.Background()
	a, b := connTenant(t, db, "a.test"), connTenant(t, db, "b.test")
	c := &Connection{TenantID: a.ID, Name: "prod", AccountID: "111122223333", DefaultRegion: "us-east-1", Kind: "assume_role",
		RoleARN: "arn:aws:iam::111122223333:role/x", ExternalID: "keyport-x"}
	if err := db.CreateConnection(ctx, c, AuditInput{Actor: "usr_a", Action: "connection.created"}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.ID, PrefixConnection) || c.CreatedAt.IsZero() {
		t.Errorf("connection = %+v", c)
	}
	dup := *c
	dup.ID, dup.Name = "", "PROD"
	var ve *ValidationError
	if err := db.CreateConnection(ctx, &dup, AuditInput{Actor: "usr_a", Action: "connection.created"}); !errors.As(err, &ve) || ve.Field != "name" {
		t.Errorf("duplicate name: %v", err)
	}
	other := *c
	other.ID, other.TenantID = "", b.ID
	if err := db.CreateConnection(ctx, &other, AuditInput{Actor: "usr_b", Action: "connection.created"}); err != nil {
		t.Errorf("same name in another tenant: %v", err)
	}
	if _, err := db.GetConnection(ctx, b.ID, c.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("tenant b read tenant a's connection: %v", err)
	}
	if err := db.RecordConnectionTest(ctx, b.ID, c.ID, true, "x", AuditInput{Action: "connection.tested"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("tenant b recorded a test on a's connection: %v", err)
	}
	if err := db.DeleteConnection(ctx, b.ID, c.ID, AuditInput{Action: "connection.deleted"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("tenant b deleted a's connection: %v", err)
	}
	if err := db.RecordConnectionTest(ctx, a.ID, c.ID, false, "Assume the role: refused", AuditInput{Action: "connection.tested"}); err != nil {
		t.Fatal(err)
	}
	got, _ := db.GetConnection(ctx, a.ID, c.ID)
	if got.LastTestAt == nil || got.LastTestOK || got.LastTestSummary != "Assume the role: refused" {
		t.Errorf("recorded test = %+v", got)
	}

	// A key keeps its connection from being deleted.
	nk := &NewKey{Key: Key{TenantID: a.ID, ConnectionID: c.ID, Name: "k", Mode: ModeCMK, State: StateEnabled},
		Regions: []KeyRegion{{Region: "us-east-1", KMSKeyARN: "arn:x"}}}
	if err := db.CreateKey(ctx, nk, AuditInput{Action: "key.registered"}); err != nil {
		t.Fatal(err)
	}
	if n, _ := db.CountConnectionKeys(ctx, a.ID, c.ID); n != 1 {
		t.Errorf("keys of connection = %d", n)
	}
	if err := db.DeleteConnection(ctx, a.ID, c.ID, AuditInput{Action: "connection.deleted"}); !errors.As(err, &ve) {
		t.Errorf("deleted a connection in use: %v", err)
	}
	if err := db.DeleteConnection(ctx, b.ID, other.ID, AuditInput{Action: "connection.deleted"}); err != nil {
		t.Fatal(err)
	}
	if cs, _ := db.ListConnections(ctx, b.ID); len(cs) != 0 {
		t.Errorf("after delete: %d", len(cs))
	}
}

func TestProviderSettingsAuditOnlyChanges(t *testing.T) {
	db, _ := openTestDB(t)
	ctx := context.Background()
	changed, err := db.SetProviderSettings(ctx, map[string]string{"aws_account_id": "999988887777", "dr_regions": "1"}, AuditInput{Actor: "ops", Action: "provider.settings_updated"})
	if err != nil || len(changed) != 2 {
		t.Fatalf("changed = %v, %v", changed, err)
	}
	changed, _ = db.SetProviderSettings(ctx, map[string]string{"aws_account_id": "999988887777", "dr_regions": "2"}, AuditInput{Actor: "ops", Action: "provider.settings_updated"})
	if len(changed) != 1 || changed[0] != "dr_regions" {
		t.Errorf("changed = %v", changed)
	}
	changed, _ = db.SetProviderSettings(ctx, map[string]string{"dr_regions": "2"}, AuditInput{Actor: "ops", Action: "provider.settings_updated"})
	if len(changed) != 0 {
		t.Errorf("unchanged value reported as changed: %v", changed)
	}
	evs, _ := db.ListAudit(ctx, "", 10)
	if len(evs) != 2 || !strings.Contains(evs[0].Details, `"changed":"dr_regions"`) || !strings.Contains(evs[0].Details, `"dr_regions":"2"`) {
		t.Errorf("audit = %d events, newest %s", len(evs), evs[0].Details)
	}
	m, _ := db.ProviderSettings(ctx)
	if m["aws_account_id"] != "999988887777" || m["dr_regions"] != "2" {
		t.Errorf("settings = %v", m)
	}
}

func TestKeyValidationsLatestAndPrune(t *testing.T) {
	db, clock := openTestDB(t)
	ctx := context.Background()
	a := connTenant(t, db, "a.test")
	c := &Connection{TenantID: a.ID, Name: "p", AccountID: "111122223333", DefaultRegion: "us-east-1", Kind: "assume_role"}
	if err := db.CreateConnection(ctx, c, AuditInput{Action: "connection.created"}); err != nil {
		t.Fatal(err)
	}
	nk := &NewKey{Key: Key{TenantID: a.ID, ConnectionID: c.ID, Name: "k", Mode: ModeCMK, State: StateEnabled},
		Regions: []KeyRegion{{Region: "us-east-1", KMSKeyARN: "arn:x"}}}
	if err := db.CreateKey(ctx, nk, AuditInput{Action: "key.registered"}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.LatestKeyValidation(ctx, a.ID, nk.Key.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("no validations yet: %v", err)
	}
	for i := range 5 {
		if err := db.AddKeyValidation(ctx, &KeyValidation{KeyID: nk.Key.ID, TenantID: a.ID, OK: i == 4, Checks: "[]"}); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Minute)
	}
	v, err := db.LatestKeyValidation(ctx, a.ID, nk.Key.ID)
	if err != nil || !v.OK {
		t.Errorf("latest = %+v, %v", v, err)
	}
	if _, err := db.LatestKeyValidation(ctx, "tnt_other", nk.Key.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("another tenant read the validation: %v", err)
	}
	if err := db.PruneKeyValidations(ctx, nk.Key.TenantID, nk.Key.ID, 2); err != nil {
		t.Fatal(err)
	}
	var n int64
	db.g.Table("key_validations").Where("key_id = ?", nk.Key.ID).Count(&n)
	if n != 2 {
		t.Errorf("after prune %d rows, want 2", n)
	}
}

// TestRevisionsCountUp: every change replicas follow gets the next
// revision, and TokensChangedSince finds what changed after one.
func TestRevisionsCountUp(t *testing.T) {
	db, _ := openTestDB(t)
	ctx := context.Background()
	tn := connTenant(t, db, "rev.test")
	a := &ServiceToken{TenantID: tn.ID, Name: "a", SecretHash: make([]byte, 32)}
	b := &ServiceToken{Name: "b", SecretHash: make([]byte, 32)}
	for _, tok := range []*ServiceToken{a, b} {
		if err := db.CreateServiceToken(ctx, tok, AuditInput{Action: "token.created"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.RevokeServiceToken(ctx, a.ID, AuditInput{Action: "token.revoked"}); err != nil {
		t.Fatal(err)
	}
	if a.Revision != 1 || b.Revision != 2 {
		t.Errorf("revisions = %d, %d; want 1, 2", a.Revision, b.Revision)
	}
	changed, err := db.TokensChangedSince(ctx, 1)
	if err != nil || len(changed) != 2 || changed[0].ID != b.ID || changed[1].ID != a.ID || changed[1].Revision != 3 || changed[1].RevokedAt == nil {
		t.Errorf("TokensChangedSince(1) = %+v, %v; want b at 2, then revoked a at 3", changed, err)
	}
}
