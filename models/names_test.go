package models

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestNamesUniqueIgnoringCasePerTenant: keys, key stores and connections
// follow one rule, unique per tenant ignoring case, refused with one error
// (issue 17 #26); another tenant may use the name.
func TestNamesUniqueIgnoringCasePerTenant(t *testing.T) {
	db, _ := openTestDB(t)
	ctx := context.Background()
	a, b := connTenant(t, db, "a.test"), connTenant(t, db, "b.test")
	conn := func(tenantID, name string) error {
		return db.CreateConnection(ctx, &Connection{TenantID: tenantID, Name: name, AccountID: "111122223333", DefaultRegion: "us-east-1",
			Kind: "assume_role", RoleARN: "arn:aws:iam::111122223333:role/x", ExternalID: "keyport-x"}, AuditInput{Action: "connection.created"})
	}
	if err := conn(a.ID, "Prod"); err != nil {
		t.Fatal(err)
	}
	if err := conn(b.ID, "b's"); err != nil {
		t.Fatal(err)
	}
	cs, _ := db.ListConnections(ctx, a.ID)
	bcs, _ := db.ListConnections(ctx, b.ID)
	key := func(tenantID, name string) error {
		connID := cs[0].ID
		if tenantID != a.ID {
			connID = bcs[0].ID
		}
		return db.CreateKey(ctx, &NewKey{Key: Key{TenantID: tenantID, ConnectionID: connID, Name: name, Mode: ModeCMK, State: StateEnabled},
			Regions: []KeyRegion{{Region: "us-east-1", KMSKeyARN: "arn:" + name}}}, AuditInput{Action: "key.registered"})
	}
	store := func(tenantID, name string) error {
		return db.CreateKeyStore(ctx, &KeyStore{TenantID: tenantID, Name: name, ConnectionID: cs[0].ID, Region: "us-east-1"}, AuditInput{Action: "key_store.created"})
	}
	managed := func(tenantID, name string) error {
		return db.StartManagedKey(ctx, &NewManagedKey{Key: Key{TenantID: tenantID, ConnectionID: cs[0].ID, Name: name, Mode: ModeGenerated},
			Op: KeyOperation{Kind: OpCreate, Step: "start"}}, AuditInput{Action: "key.create_started"})
	}
	for _, kind := range []struct {
		name   string
		create func(tenantID, name string) error
	}{{"connection", conn}, {"key", key}, {"store", store}, {"managed key", managed}} {
		first := "Orders " + kind.name
		if kind.name != "connection" {
			if err := kind.create(a.ID, first); err != nil {
				t.Fatalf("%s: %v", kind.name, err)
			}
		} else {
			first = "Prod"
		}
		for _, again := range []string{first, "  " + first + " ", strings.ToUpper(first), strings.ToLower(first)} {
			if err := kind.create(a.ID, again); !errors.Is(err, ErrNameTaken) {
				t.Errorf("%s %q after %q: %v, want ErrNameTaken", kind.name, again, first, err)
			}
		}
		if kind.name == "managed key" {
			continue // its row needs a store of tenant b; the key covers the rule
		}
		if err := kind.create(b.ID, strings.ToLower(first)); err != nil {
			t.Errorf("%s: the name in another tenant: %v", kind.name, err)
		}
	}
	// A key and a store may share a name; renaming a store onto another's
	// name in other case is refused with the same error.
	if err := store(a.ID, "Orders key"); err != nil {
		t.Errorf("a store named like a key: %v", err)
	}
	if err := store(a.ID, "Other"); err != nil {
		t.Fatal(err)
	}
	sts, _ := db.ListKeyStores(ctx, a.ID)
	for _, st := range sts {
		if st.Name == "Other" {
			if err := db.RenameKeyStore(ctx, a.ID, st.ID, "ORDERS STORE", AuditInput{Action: "key_store.renamed"}); !errors.Is(err, ErrNameTaken) {
				t.Errorf("rename onto another store's name: %v", err)
			}
			if err := db.RenameKeyStore(ctx, a.ID, st.ID, "OTHER", AuditInput{Action: "key_store.renamed"}); err != nil {
				t.Errorf("rename in another case: %v", err)
			}
		}
	}
}

// TestMigrationRenamesCaseDuplicates: names that differ only by case from
// before migration 26 are renamed "name (id)", the oldest keeping its own,
// and the unique index then holds (issue 17 #26).
func TestMigrationRenamesCaseDuplicates(t *testing.T) {
	db, clock := openTestDB(t)
	ctx := context.Background()
	a := connTenant(t, db, "a.test")
	c := &Connection{TenantID: a.ID, Name: "prod", AccountID: "111122223333", DefaultRegion: "us-east-1", Kind: "assume_role",
		RoleARN: "arn:aws:iam::111122223333:role/x", ExternalID: "keyport-x"}
	if err := db.CreateConnection(ctx, c, AuditInput{Action: "connection.created"}); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{`DROP INDEX keys_tenant_lower_name_key`, `DROP INDEX key_stores_tenant_lower_name_key`,
		`DROP INDEX aws_connections_tenant_lower_name_key`, `DELETE FROM schema_migrations WHERE version = 26`} {
		if err := db.g.Exec(stmt).Error; err != nil {
			t.Fatal(err)
		}
	}
	var ids []string
	for _, name := range []string{"Ledger", "ledger-tmp", "other-tmp"} {
		nk := &NewKey{Key: Key{TenantID: a.ID, ConnectionID: c.ID, Name: name, Mode: ModeCMK, State: StateEnabled},
			Regions: []KeyRegion{{Region: "us-east-1", KMSKeyARN: "arn:" + name}}}
		if err := db.CreateKey(ctx, nk, AuditInput{Action: "key.registered"}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, nk.Key.ID)
		clock.Advance(1e9)
	}
	// What the old schema allowed: the same name in another case.
	if err := db.g.Exec(`UPDATE keys SET name = CASE id WHEN ? THEN 'LEDGER' ELSE 'ledger' END WHERE id IN (?, ?)`, ids[1], ids[1], ids[2]).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{"Ledger", "LEDGER (" + ids[1] + ")", "ledger (" + ids[2] + ")"}
	for i, id := range ids {
		k, err := db.GetKey(ctx, a.ID, id)
		if err != nil || k.Name != want[i] {
			t.Errorf("key %d: %v %v, want %q", i, k.Name, err, want[i])
		}
	}
	if err := db.g.Exec(`UPDATE keys SET name = 'LEDGER' WHERE id = ?`, ids[2]).Error; err == nil {
		t.Error("the index lets two keys share a name in another case")
	}
}
