package models

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestNonOwnerChanges: the changes API keys make never touch an owner nor
// make one, and find nothing in another tenant.
func TestNonOwnerChanges(t *testing.T) {
	db, tn, owner, aud := memberSetup(t)
	ctx := context.Background()
	other := mustTenant(t, db, "Other", mustUser(t, db, "other-owner"))

	if _, err := db.ChangeNonOwnerRole(ctx, tn.ID, aud.ID, RoleOwner, AuditInput{Actor: "kak_x"}); !errors.Is(err, ErrOwnerOutOfReach) {
		t.Errorf("make an owner: %v", err)
	}
	if _, err := db.ChangeNonOwnerRole(ctx, tn.ID, owner.ID, RoleAdmin, AuditInput{Actor: "kak_x"}); !errors.Is(err, ErrOwnerOutOfReach) {
		t.Errorf("demote an owner: %v", err)
	}
	if err := db.RemoveNonOwner(ctx, tn.ID, owner.ID, AuditInput{Actor: "kak_x"}); !errors.Is(err, ErrOwnerOutOfReach) {
		t.Errorf("remove an owner: %v", err)
	}
	if _, err := db.ChangeNonOwnerRole(ctx, other.ID, aud.ID, RoleAdmin, AuditInput{Actor: "kak_x"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("another tenant's member: %v", err)
	}
	if m, _ := db.GetMembership(ctx, tn.ID, owner.ID); m == nil || m.Role != RoleOwner {
		t.Fatalf("the owner after refused changes: %+v", m)
	}
	ch, err := db.ChangeNonOwnerRole(ctx, tn.ID, aud.ID, RoleAdmin, AuditInput{Actor: "kak_x", ActorKind: ActorAPIKey})
	if err != nil || ch.To != RoleAdmin {
		t.Fatalf("promote: %+v %v", ch, err)
	}
	if err := db.RemoveNonOwner(ctx, tn.ID, aud.ID, AuditInput{Actor: "kak_x", ActorKind: ActorAPIKey}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetMembership(ctx, tn.ID, aud.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after removal: %v", err)
	}
}

// TestOpenApprovals: pending, unexpired requests of one tenant, oldest
// first; TenantApproval finds only the tenant's own.
func TestOpenApprovals(t *testing.T) {
	db, clock := openTestDB(t)
	ctx := context.Background()
	owner := mustUser(t, db, "owner")
	tn := mustTenant(t, db, "Acme", owner)
	other := mustTenant(t, db, "Other", mustUser(t, db, "other-owner"))
	keys := map[string]string{}
	for _, tid := range []string{tn.ID, other.ID} {
		c := &Connection{TenantID: tid, Name: "prod", AccountID: "111122223333", DefaultRegion: "us-east-1", Kind: "assume_role",
			RoleARN: "arn:aws:iam::111122223333:role/x", ExternalID: "keyport-x"}
		if err := db.CreateConnection(ctx, c, AuditInput{Actor: owner.ID, Action: "connection.created"}); err != nil {
			t.Fatal(err)
		}
		nk := &NewKey{Key: Key{TenantID: tid, ConnectionID: c.ID, Name: "k", Mode: ModeCMK, State: StateEnabled},
			Regions: []KeyRegion{{Region: "us-east-1", KMSKeyARN: "arn:x"}}}
		if err := db.CreateKey(ctx, nk, AuditInput{Action: "key.registered"}); err != nil {
			t.Fatal(err)
		}
		keys[tid] = nk.Key.ID
	}
	mk := func(tenant string, ttl time.Duration) *Approval {
		a := &Approval{TenantID: tenant, KeyID: keys[tenant], Action: ApprovalExport, RequestedBy: owner.ID}
		if err := db.CreateApproval(ctx, a, ttl, AuditInput{Actor: owner.ID, Action: "key.approval_requested"}); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Second)
		return a
	}
	first, short, second := mk(tn.ID, time.Hour), mk(tn.ID, 2*time.Second), mk(tn.ID, time.Hour)
	mk(other.ID, time.Hour)
	clock.Advance(2 * time.Second) // short expires
	open, err := db.OpenApprovals(ctx, tn.ID)
	if err != nil || len(open) != 2 || open[0].ID != first.ID || open[1].ID != second.ID {
		t.Fatalf("open approvals: %+v %v (expired %s)", open, err, short.ID)
	}
	if a, err := db.TenantApproval(ctx, tn.ID, first.ID); err != nil || a.KeyID != keys[tn.ID] {
		t.Fatalf("TenantApproval: %+v %v", a, err)
	}
	if _, err := db.TenantApproval(ctx, other.ID, first.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another tenant's approval: %v", err)
	}
}
