package models

import (
	"context"
	"errors"
	"testing"
)

// TestDeregisterKeyFreesItsConnection: issue 14 item 5. A deregistered
// customer-managed key is DELETED with a new cache epoch and keeps its
// rows; it no longer holds its connection, which is then kept as a record
// without its secret (the key still names it) and frees its name; a
// managed key cannot be deregistered; another tenant can do neither.
func TestDeregisterKeyFreesItsConnection(t *testing.T) {
	db, _ := openTestDB(t)
	ctx := context.Background()
	a, b := connTenant(t, db, "a.test"), connTenant(t, db, "b.test")
	c := &Connection{TenantID: a.ID, Name: "prod", AccountID: "111122223333", DefaultRegion: "us-east-1", Kind: "access_key",
		AccessKeyID: "AKIAEXAMPLE000000001", SecretSealed: []byte("sealed")}
	if err := db.CreateConnection(ctx, c, AuditInput{Actor: "usr_a", Action: "connection.created"}); err != nil {
		t.Fatal(err)
	}
	nk := &NewKey{Key: Key{TenantID: a.ID, ConnectionID: c.ID, Name: "k", Mode: ModeCMK, State: StateEnabled},
		Regions: []KeyRegion{{Region: "us-east-1", KMSKeyARN: "arn:x"}},
		Version: &DataKeyVersion{Version: 1, Reason: "register"},
		Wraps:   []DataKeyWrap{{Region: "us-east-1", KMSKeyARN: "arn:x", Ciphertext: []byte("w")}}}
	if err := db.CreateKey(ctx, nk, AuditInput{Action: "key.registered"}); err != nil {
		t.Fatal(err)
	}
	before, _ := db.GetKey(ctx, a.ID, nk.Key.ID)
	if _, err := db.DeregisterKey(ctx, b.ID, nk.Key.ID, AuditInput{Action: "key.deregistered"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("tenant b deregistered a's key: %v", err)
	}
	k, err := db.DeregisterKey(ctx, a.ID, nk.Key.ID, AuditInput{Actor: "usr_a", Action: "key.deregistered"})
	if err != nil {
		t.Fatal(err)
	}
	if k.State != StateDeleted || k.CacheEpoch != before.CacheEpoch+1 || k.Revision <= before.Revision {
		t.Errorf("after deregistration: state %s epoch %d->%d revision %d->%d", k.State, before.CacheEpoch, k.CacheEpoch, before.Revision, k.Revision)
	}
	if _, err := db.DeregisterKey(ctx, a.ID, nk.Key.ID, AuditInput{Action: "key.deregistered"}); !errors.Is(err, ErrConflict) {
		t.Errorf("second deregistration: %v", err)
	}
	if vs, _ := db.DataKeyVersions(ctx, a.ID, nk.Key.ID); len(vs) != 1 {
		t.Errorf("versions kept: %d", len(vs))
	}
	if err := db.DeleteConnection(ctx, b.ID, c.ID, AuditInput{Action: "connection.deleted"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("tenant b deleted a's connection: %v", err)
	}
	if err := db.DeleteConnection(ctx, a.ID, c.ID, AuditInput{Actor: "usr_a", Action: "connection.deleted"}); err != nil {
		t.Fatalf("delete a connection whose only key is deregistered: %v", err)
	}
	if _, err := db.GetConnection(ctx, a.ID, c.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted connection still found: %v", err)
	}
	if cs, _ := db.ListConnections(ctx, a.ID); len(cs) != 0 {
		t.Errorf("deleted connection still listed: %d", len(cs))
	}
	rec, err := db.GetConnectionRecord(ctx, a.ID, c.ID)
	if err != nil || rec.DeletedAt == nil || rec.SecretSealed != nil || rec.Name != "prod (deleted "+c.ID+")" {
		t.Fatalf("kept record: %v %+v", err, rec)
	}
	if err := db.DeleteConnection(ctx, a.ID, c.ID, AuditInput{Action: "connection.deleted"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleting it twice: %v", err)
	}
	again := &Connection{TenantID: a.ID, Name: "prod", AccountID: "111122223333", DefaultRegion: "us-east-1", Kind: "assume_role",
		RoleARN: "arn:aws:iam::111122223333:role/x", ExternalID: "keyport-x"}
	if err := db.CreateConnection(ctx, again, AuditInput{Actor: "usr_a", Action: "connection.created"}); err != nil {
		t.Errorf("the name of the deleted connection is not free: %v", err)
	}
	// A key store holds its connection with a clear refusal.
	st := &KeyStore{TenantID: a.ID, ConnectionID: again.ID, Region: "us-east-1", Name: "store", CreatedBy: "usr_a"}
	if err := db.CreateKeyStore(ctx, st, AuditInput{Actor: "usr_a", Action: "store.created"}); err != nil {
		t.Fatal(err)
	}
	var ve *ValidationError
	if err := db.DeleteConnection(ctx, a.ID, again.ID, AuditInput{Action: "connection.deleted"}); !errors.As(err, &ve) || ve.Field != "connection" {
		t.Errorf("deleted a connection that holds a key store: %v", err)
	}
}
