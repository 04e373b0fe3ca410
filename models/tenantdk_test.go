package models

import (
	"context"
	"testing"
)

// TestTenantDataKeyColumns: a key whose data keys the tenant supplies, and
// a wrap made without keyport's encryption context, read back as written
// through every read path (one version, many versions, the key itself).
func TestTenantDataKeyColumns(t *testing.T) {
	db, _ := openTestDB(t)
	ctx := context.Background()
	tn := connTenant(t, db, "incountry.test")
	c := &Connection{TenantID: tn.ID, Name: "c", AccountID: "111122223333", DefaultRegion: "us-east-1", Kind: "assume_role"}
	if err := db.CreateConnection(ctx, c, AuditInput{Action: "connection.created"}); err != nil {
		t.Fatal(err)
	}
	nk := &NewKey{Key: Key{TenantID: tn.ID, ConnectionID: c.ID, Name: "k", Mode: ModeCMK, State: StateEnabled, TenantDataKeys: true},
		Regions: []KeyRegion{{Region: "us-east-1", KMSKeyARN: "arn:p", Priority: 0}, {Region: "eu-west-1", KMSKeyARN: "arn:d", Priority: 1}},
		Version: &DataKeyVersion{Version: 1, Reason: "register"},
		Wraps:   []DataKeyWrap{{Region: "us-east-1", Ciphertext: []byte("p1"), NoContext: true}, {Region: "eu-west-1", Ciphertext: []byte("d1")}}}
	if err := db.CreateKey(ctx, nk, AuditInput{Action: "key.registered"}); err != nil {
		t.Fatal(err)
	}
	if err := db.AddDataKeyVersion(ctx, tn.ID, nk.Key.ID, &DataKeyVersion{Version: 2, Reason: "tenant"},
		[]DataKeyWrap{{Region: "us-east-1", Ciphertext: []byte("p2")}}, AuditInput{Action: "key.data_key_uploaded"}); err != nil {
		t.Fatal(err)
	}
	k, err := db.GetKey(ctx, tn.ID, nk.Key.ID)
	if err != nil || !k.TenantDataKeys {
		t.Fatalf("key: %v %+v", err, k)
	}
	one, err := db.DataKeyWraps(ctx, tn.ID, k.ID, 1)
	if err != nil || len(one) != 2 || !one[0].NoContext || one[1].NoContext {
		t.Fatalf("version 1 wraps: %v %+v", err, one)
	}
	many, err := db.DataKeyWrapsMany(ctx, []WrapRef{{TenantID: tn.ID, KeyID: k.ID, Version: 1}, {TenantID: tn.ID, KeyID: k.ID, Version: 2}})
	if err != nil {
		t.Fatal(err)
	}
	v1, v2 := many[WrapRef{TenantID: tn.ID, KeyID: k.ID, Version: 1}], many[WrapRef{TenantID: tn.ID, KeyID: k.ID, Version: 2}]
	if len(v1) != 2 || !v1[0].NoContext || len(v2) != 1 || v2[0].NoContext {
		t.Fatalf("many: %+v %+v", v1, v2)
	}
}
