package models

import (
	"context"
	"errors"
	"testing"
)

// TestNoticesAreOnceAndTenantScoped: a notice is recorded once per dedupe
// key, and only its tenant can read it.
func TestNoticesAreOnceAndTenantScoped(t *testing.T) {
	db, _ := openTestDB(t)
	ctx := context.Background()
	a, b := connTenant(t, db, "a.test"), connTenant(t, db, "b.test")
	c := &Connection{TenantID: a.ID, Name: "prod", AccountID: "111122223333", DefaultRegion: "us-east-1", Kind: "assume_role"}
	if err := db.CreateConnection(ctx, c, AuditInput{Action: "connection.created"}); err != nil {
		t.Fatal(err)
	}
	nk := &NewKey{Key: Key{TenantID: a.ID, ConnectionID: c.ID, Name: "k", Mode: ModeCMK, State: StateEnabled},
		Regions: []KeyRegion{{Region: "us-east-1", KMSKeyARN: "arn:x"}}}
	if err := db.CreateKey(ctx, nk, AuditInput{Action: "key.registered"}); err != nil {
		t.Fatal(err)
	}
	n := Notice{TenantID: a.ID, KeyID: nk.Key.ID, Kind: NoticeHealth, DedupeKey: "health:" + nk.Key.ID + ":1"}
	for i, want := range []bool{true, false} {
		if wrote, err := db.RecordNotice(ctx, n, nil, nil); err != nil || wrote != want {
			t.Fatalf("RecordNotice #%d = %v, %v; want %v", i+1, wrote, err, want)
		}
	}
	ns, err := db.KeyNotices(ctx, a.ID, nk.Key.ID, 10)
	if err != nil || len(ns) != 1 || ns[0].State != NoticeSent || ns[0].SentAt == nil {
		t.Fatalf("KeyNotices = %+v, %v; want the one sent notice", ns, err)
	}
	if got, err := db.GetNotice(ctx, a.ID, ns[0].ID); err != nil || got.DedupeKey != n.DedupeKey {
		t.Errorf("GetNotice(own tenant) = %+v, %v", got, err)
	}
	for _, tenant := range []string{b.ID, ""} {
		if _, err := db.GetNotice(ctx, tenant, ns[0].ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("GetNotice(%q) read tenant a's notice: %v", tenant, err)
		}
	}
}
