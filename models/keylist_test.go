package models

import (
	"context"
	"errors"
	"testing"
)

// TestRenameKeyAndTenantKeyLists: a rename is audited once with both names,
// bumps the revision so replicas see it, keeps names unique per tenant
// ignoring case, and cannot reach another tenant's key; the tenant-wide
// lists and open notices hold only the tenant's rows.
func TestRenameKeyAndTenantKeyLists(t *testing.T) {
	db, _ := openTestDB(t)
	ctx := context.Background()
	a, b := connTenant(t, db, "a.test"), connTenant(t, db, "b.test")
	key := func(tenantID, name string) *Key {
		t.Helper()
		c := &Connection{TenantID: tenantID, Name: "prod " + name, AccountID: "111122223333", DefaultRegion: "us-east-1", Kind: "assume_role"}
		if err := db.CreateConnection(ctx, c, AuditInput{Action: "connection.created"}); err != nil {
			t.Fatal(err)
		}
		nk := &NewKey{Key: Key{TenantID: tenantID, ConnectionID: c.ID, Name: name, Mode: ModeCMK, State: StateEnabled},
			Regions: []KeyRegion{{Region: "us-east-1", KMSKeyARN: "arn:1:" + name}, {Region: "eu-west-1", KMSKeyARN: "arn:2:" + name, Priority: 1}}}
		if err := db.CreateKey(ctx, nk, AuditInput{Action: "key.registered"}); err != nil {
			t.Fatal(err)
		}
		return &nk.Key
	}
	ka, ka2, kb := key(a.ID, "orders"), key(a.ID, "billing"), key(b.ID, "theirs")

	k, err := db.RenameKey(ctx, a.ID, ka.ID, "  Orders EU ", AuditInput{Actor: "kak_x", ActorKind: ActorAPIKey, Action: "key.renamed"})
	if err != nil || k.Name != "Orders EU" || k.Revision <= ka.Revision {
		t.Fatalf("RenameKey = %+v, %v", k, err)
	}
	if _, err := db.RenameKey(ctx, a.ID, ka.ID, "Orders EU", AuditInput{Action: "key.renamed"}); err != nil {
		t.Fatalf("renaming to the same name: %v", err)
	}
	if _, err := db.RenameKey(ctx, a.ID, ka.ID, "BILLING", AuditInput{Action: "key.renamed"}); !errors.Is(err, ErrNameTaken) {
		t.Errorf("rename onto another key's name: %v", err)
	}
	if _, err := db.RenameKey(ctx, a.ID, ka.ID, " ", AuditInput{Action: "key.renamed"}); err == nil {
		t.Error("an empty name was accepted")
	}
	if _, err := db.RenameKey(ctx, b.ID, ka.ID, "mine", AuditInput{Action: "key.renamed"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("tenant b renamed a's key: %v", err)
	}
	if _, err := db.RenameKey(ctx, a.ID, ka2.ID, "theirs", AuditInput{Action: "key.renamed"}); err != nil {
		t.Errorf("a name another tenant uses: %v", err)
	}
	events, err := db.ListAudit(ctx, a.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	renames := 0
	for _, e := range events {
		if e.Action == "key.renamed" && e.TargetID == ka.ID {
			renames++
			if e.Details != `{"from":"orders","to":"Orders EU"}` || e.ActorKind != ActorAPIKey {
				t.Errorf("rename event: %+v", e)
			}
		}
	}
	if renames != 1 {
		t.Errorf("%d rename events of the key, want 1", renames)
	}
	if got, _ := db.GetKey(ctx, b.ID, kb.ID); got.Name != "theirs" {
		t.Errorf("tenant b's key is %q", got.Name)
	}

	rs, err := db.TenantKeyRegions(ctx, a.ID)
	if err != nil || len(rs) != 2 || len(rs[ka.ID]) != 2 || rs[ka.ID][0].Region != "us-east-1" || rs[kb.ID] != nil {
		t.Errorf("TenantKeyRegions = %+v, %v", rs, err)
	}
	if ms, err := db.TenantManagedKeys(ctx, a.ID); err != nil || len(ms) != 0 {
		t.Errorf("TenantManagedKeys of registered keys = %+v, %v", ms, err)
	}

	for i, n := range []Notice{{TenantID: a.ID, KeyID: ka.ID, Kind: NoticeHealth, DedupeKey: "h:a1"},
		{TenantID: a.ID, KeyID: ka2.ID, Kind: NoticeHealth, DedupeKey: "h:a2"}, {TenantID: b.ID, KeyID: kb.ID, Kind: NoticeHealth, DedupeKey: "h:b"}} {
		if _, err := db.RecordNotice(ctx, n, nil, nil); err != nil {
			t.Fatalf("notice %d: %v", i, err)
		}
	}
	open, err := db.OpenNotices(ctx, a.ID)
	if err != nil || len(open) != 2 {
		t.Fatalf("OpenNotices = %+v, %v", open, err)
	}
	if err := db.AcknowledgeNotice(ctx, a.ID, open[0].ID, "kak_x", AuditInput{Action: "key.notice_acknowledged"}); err != nil {
		t.Fatal(err)
	}
	if open, err = db.OpenNotices(ctx, a.ID); err != nil || len(open) != 1 || open[0].TenantID != a.ID {
		t.Fatalf("OpenNotices after an acknowledgement = %+v, %v", open, err)
	}
}
