package models

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestAPIKeysAreTenantScopedAndRevocable(t *testing.T) {
	db, _ := openTestDB(t)
	ctx := context.Background()
	a, b := connTenant(t, db, "a.test"), connTenant(t, db, "b.test")
	hash := make([]byte, 32)
	exp := time.Now().Add(time.Hour)
	k := &APIKey{TenantID: a.ID, Name: "ci", Role: RoleAdmin, SecretHash: hash, CreatedBy: "usr_a", ExpiresAt: &exp}
	if err := db.CreateAPIKey(ctx, k, AuditInput{Actor: "usr_a", Action: "api_key.created"}); err != nil {
		t.Fatal(err)
	}
	var ve *ValidationError
	bad := &APIKey{TenantID: a.ID, Name: "owner key", Role: RoleOwner, SecretHash: hash}
	if err := db.CreateAPIKey(ctx, bad, AuditInput{Actor: "usr_a", Action: "api_key.created"}); !errors.As(err, &ve) || ve.Field != "role" {
		t.Fatalf("an owner API key: %v", err)
	}
	if _, err := db.TenantAPIKey(ctx, b.ID, k.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("tenant b read tenant a's key: %v", err)
	}
	if err := db.RevokeAPIKey(ctx, b.ID, k.ID, AuditInput{Actor: "usr_b", Action: "api_key.revoked"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("tenant b revoked tenant a's key: %v", err)
	}
	if got, _ := db.GetAPIKey(ctx, k.ID); !got.Usable(time.Now()) || got.Usable(exp.Add(time.Second)) {
		t.Fatalf("usable: %+v", got)
	}
	for range 2 { // twice: the second is not an error
		if err := db.RevokeAPIKey(ctx, a.ID, k.ID, AuditInput{Actor: "usr_a", Action: "api_key.revoked"}); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := db.GetAPIKey(ctx, k.ID); got.Usable(time.Now()) {
		t.Fatal("a revoked key is usable")
	}
	ks, err := db.ListAPIKeys(ctx, a.ID)
	if err != nil || len(ks) != 1 {
		t.Fatalf("list: %v %v", ks, err)
	}
}

func TestIdempotencyRecords(t *testing.T) {
	db, _ := openTestDB(t)
	ctx := context.Background()
	h1, h2 := []byte("first request"), []byte("other request")
	rec, claimed, err := db.ClaimIdempotencyKey(ctx, "kak_x/k1", h1, time.Hour)
	if err != nil || !claimed || rec != nil {
		t.Fatalf("first claim: %v %v %v", rec, claimed, err)
	}
	rec, claimed, err = db.ClaimIdempotencyKey(ctx, "kak_x/k1", h1, time.Hour)
	if err != nil || claimed || rec.Status != 0 {
		t.Fatalf("claim while running: %+v %v %v", rec, claimed, err)
	}
	if err := db.FinishIdempotencyKey(ctx, "kak_x/k1", 201, []byte("sealed")); err != nil {
		t.Fatal(err)
	}
	rec, claimed, err = db.ClaimIdempotencyKey(ctx, "kak_x/k1", h2, time.Hour)
	if err != nil || claimed || rec.Status != 201 || string(rec.BodySealed) != "sealed" || string(rec.RequestHash) != string(h1) {
		t.Fatalf("replay: %+v %v %v", rec, claimed, err)
	}
	// A released claim (the request failed) may be claimed again; a
	// finished one is not released.
	if err := db.ReleaseIdempotencyKey(ctx, "kak_x/k1"); err != nil {
		t.Fatal(err)
	}
	if _, claimed, _ := db.ClaimIdempotencyKey(ctx, "kak_x/k1", h1, time.Hour); claimed {
		t.Fatal("a finished answer was released")
	}
	if _, claimed, _ := db.ClaimIdempotencyKey(ctx, "kak_x/k2", h1, time.Hour); !claimed {
		t.Fatal("k2 not claimed")
	}
	if err := db.ReleaseIdempotencyKey(ctx, "kak_x/k2"); err != nil {
		t.Fatal(err)
	}
	if _, claimed, _ := db.ClaimIdempotencyKey(ctx, "kak_x/k2", h2, time.Hour); !claimed {
		t.Fatal("a released key could not be claimed again")
	}
	// Past its age a record is replaced, and purged.
	if _, claimed, _ := db.ClaimIdempotencyKey(ctx, "kak_x/k1", h2, -time.Second); !claimed {
		t.Fatal("an expired record was not replaced")
	}
	if n, err := db.PurgeIdempotencyRecords(ctx, time.Now().Add(time.Hour)); err != nil || n != 2 {
		t.Fatalf("purge: %d %v", n, err)
	}
}

func TestAPIKeysFollowTheirCreatorsMembership(t *testing.T) {
	db, _ := openTestDB(t)
	ctx := context.Background()
	owner := mustUser(t, db, "owner-keys")
	tn := mustTenant(t, db, "keys.test", owner)
	admin := mustUser(t, db, "admin-keys")
	if err := db.AddMember(ctx, tn.ID, admin.ID, RoleAdmin, owner.ID, AuditInput{Actor: owner.ID, Action: "member.added"}); err != nil {
		t.Fatal(err)
	}
	mk := func(by string, role Role) string {
		k := &APIKey{TenantID: tn.ID, Name: "k-" + string(role) + by, Role: role, SecretHash: make([]byte, 32), CreatedBy: by}
		if err := db.CreateAPIKey(ctx, k, AuditInput{Actor: by, Action: "api_key.created"}); err != nil {
			t.Fatal(err)
		}
		return k.ID
	}
	adminKey, auditorKey, ownersKey := mk(admin.ID, RoleAdmin), mk(admin.ID, RoleAuditor), mk(owner.ID, RoleAdmin)
	usable := func(id string) bool {
		k, err := db.GetAPIKey(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return k.Usable(time.Now())
	}
	// Demoted to auditor: the admin keys they made stop, their auditor keys stay.
	if _, err := db.ChangeMemberRole(ctx, tn.ID, admin.ID, RoleAuditor, AuditInput{Actor: owner.ID}); err != nil {
		t.Fatal(err)
	}
	if usable(adminKey) || !usable(auditorKey) || !usable(ownersKey) {
		t.Fatalf("after demotion: admin key %v, auditor key %v, owner's key %v", usable(adminKey), usable(auditorKey), usable(ownersKey))
	}
	// Removed: every key they made stops; others' keys stay.
	if err := db.RemoveMember(ctx, tn.ID, admin.ID, true, AuditInput{Actor: owner.ID}); err != nil {
		t.Fatal(err)
	}
	if usable(auditorKey) || !usable(ownersKey) {
		t.Fatalf("after removal: auditor key %v, owner's key %v", usable(auditorKey), usable(ownersKey))
	}
}
