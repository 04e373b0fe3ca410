package models

import (
	"context"
	"testing"
)

// TestDataKeyWrapsMany reads several versions of several keys at once, in
// the same order as DataKeyWraps, and never another tenant's.
func TestDataKeyWrapsMany(t *testing.T) {
	db, _ := openTestDB(t)
	ctx := context.Background()
	a, b := connTenant(t, db, "a.test"), connTenant(t, db, "b.test")
	var keys []*Key
	for i, tn := range []*Tenant{a, a, b} {
		c := &Connection{TenantID: tn.ID, Name: "c" + string(rune('0'+i)), AccountID: "111122223333", DefaultRegion: "us-east-1", Kind: "assume_role"}
		if err := db.CreateConnection(ctx, c, AuditInput{Action: "connection.created"}); err != nil {
			t.Fatal(err)
		}
		nk := &NewKey{Key: Key{TenantID: tn.ID, ConnectionID: c.ID, Name: "k" + string(rune('0'+i)), Mode: ModeCMK, State: StateEnabled},
			Regions: []KeyRegion{{Region: "us-west-2", KMSKeyARN: "arn:w", Priority: 0}, {Region: "eu-west-1", KMSKeyARN: "arn:e", Priority: 1}},
			Version: &DataKeyVersion{Version: 1},
			Wraps:   []DataKeyWrap{{Region: "eu-west-1", Ciphertext: []byte("e1")}, {Region: "us-west-2", Ciphertext: []byte("w1")}}}
		if err := db.CreateKey(ctx, nk, AuditInput{Action: "key.registered"}); err != nil {
			t.Fatal(err)
		}
		if err := db.AddDataKeyVersion(ctx, tn.ID, nk.Key.ID, &DataKeyVersion{Version: 2},
			[]DataKeyWrap{{Region: "us-west-2", Ciphertext: []byte("w2")}}, AuditInput{Action: "key.data_key_rotated"}); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, &nk.Key)
	}
	refs := []WrapRef{
		{TenantID: a.ID, KeyID: keys[0].ID, Version: 1},
		{TenantID: a.ID, KeyID: keys[0].ID, Version: 2},
		{TenantID: a.ID, KeyID: keys[1].ID, Version: 2},
		{TenantID: a.ID, KeyID: keys[2].ID, Version: 1}, // tenant b's key, asked for as a's
		{TenantID: a.ID, KeyID: keys[1].ID, Version: 9}, // no such version
	}
	got, err := db.DataKeyWrapsMany(ctx, refs)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("found %d versions, want 3: %v", len(got), got)
	}
	for _, ref := range refs[:3] {
		one, err := db.DataKeyWraps(ctx, ref.TenantID, ref.KeyID, ref.Version)
		if err != nil {
			t.Fatal(err)
		}
		many := got[ref]
		if len(many) != len(one) {
			t.Fatalf("%v: %d wraps, DataKeyWraps has %d", ref, len(many), len(one))
		}
		for i := range one {
			if string(many[i].Ciphertext) != string(one[i].Ciphertext) || many[i].Region != one[i].Region {
				t.Errorf("%v wrap %d = %s/%s, want %s/%s", ref, i, many[i].Region, many[i].Ciphertext, one[i].Region, one[i].Ciphertext)
			}
		}
	}
	if ws := got[refs[0]]; len(ws) != 2 || ws[0].Region != "us-west-2" {
		t.Errorf("version 1 wraps not in priority order: %+v", ws)
	}
	if empty, err := db.DataKeyWrapsMany(ctx, nil); err != nil || len(empty) != 0 {
		t.Errorf("no refs = %v, %v", empty, err)
	}
}
