package models

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestCreateTenantWithOwner(t *testing.T) {
	db, clock := openTestDB(t)
	ctx := context.Background()
	owner := mustUser(t, db, "owner")

	tn, err := db.CreateTenantWithOwner(ctx, "  Acme Corp  ", owner.ID, AuditInput{
		Actor: owner.ID, RequestID: "req-1", Details: map[string]string{"name": "Acme Corp"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tn.ID, PrefixTenant) || tn.Name != "Acme Corp" || !tn.CreatedAt.Equal(clock.Now()) {
		t.Fatalf("tenant = %+v, want trimmed name and tnt_ id", tn)
	}
	got, err := db.GetTenant(ctx, tn.ID)
	if err != nil || *got != *tn {
		t.Fatalf("GetTenant = %+v, %v; want %+v", got, err, tn)
	}
	m, err := db.GetMembership(ctx, tn.ID, owner.ID)
	if err != nil || m.Role != RoleOwner {
		t.Fatalf("GetMembership = %+v, %v; want owner", m, err)
	}
	evs, err := db.ListAudit(ctx, tn.ID, 10)
	if err != nil || len(evs) != 1 {
		t.Fatalf("ListAudit = %d events, %v; want 1", len(evs), err)
	}
	ev := evs[0]
	if ev.Action != "tenant.create" || ev.TargetType != "tenant" || ev.TargetID != tn.ID || ev.TenantID != tn.ID ||
		ev.Actor != owner.ID || ev.RequestID != "req-1" || ev.Details != `{"name":"Acme Corp"}` {
		t.Errorf("audit event = %+v", ev)
	}
}

func TestCreateTenantRollsBackOnFailure(t *testing.T) {
	for _, tc := range []struct {
		name    string
		owner   func(*User) string
		noKey   bool
		wantErr error
	}{
		{"unknown owner", func(*User) string { return "usr_nobody" }, false, ErrNotFound},
		{"no audit key", func(u *User) string { return u.ID }, true, ErrNoAuditKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, _ := openTestDB(t)
			owner := mustUser(t, db, "owner")
			if tc.noKey {
				db.SetAuditKey(nil)
			}
			_, err := db.CreateTenantWithOwner(context.Background(), "Acme", tc.owner(owner), AuditInput{Actor: "x"})
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			for _, table := range []string{"tenants", "memberships", "audit_events"} {
				var n int64
				if err := db.g.Table(table).Count(&n).Error; err != nil || n != 0 {
					t.Errorf("%s has %d rows (err %v) after a failed create, want 0", table, n, err)
				}
			}
		})
	}
}

func TestCreateTenantValidation(t *testing.T) {
	db, _ := openTestDB(t)
	owner := mustUser(t, db, "owner")
	for _, tc := range []struct{ name, tenant string }{
		{"empty", ""},
		{"blank", "   "},
		{"too long", strings.Repeat("x", 101)},
		{"control character", "Acme\x00Corp"},
		{"invalid utf-8", "Acme\xff"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := db.CreateTenantWithOwner(context.Background(), tc.tenant, owner.ID, AuditInput{Actor: owner.ID})
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != "name" {
				t.Errorf("err = %v, want ValidationError on name", err)
			}
		})
	}
}

func TestTenantScope(t *testing.T) {
	db, _ := openTestDB(t)
	ctx := context.Background()
	alice, bob := mustUser(t, db, "alice"), mustUser(t, db, "bob")
	zeta := mustTenant(t, db, "Zeta", alice)
	alpha := mustTenant(t, db, "alpha", alice)
	bobs := mustTenant(t, db, "Bob's", bob)

	t.Run("TenantsForUser lists own tenants by name", func(t *testing.T) {
		got, err := db.TenantsForUser(ctx, alice.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{alpha.ID, zeta.ID} // case-insensitive

		if len(got) != len(want) {
			t.Fatalf("got %d tenants, want %d", len(got), len(want))
		}
		for i := range want {
			if got[i].Tenant.ID != want[i] || got[i].Role != RoleOwner {
				t.Errorf("tenant %d = %+v, want %s as owner", i, got[i], want[i])
			}
		}
	})
	t.Run("no memberships", func(t *testing.T) {
		carol := mustUser(t, db, "carol")
		got, err := db.TenantsForUser(ctx, carol.ID)
		if err != nil || len(got) != 0 {
			t.Errorf("got %v, %v; want none", got, err)
		}
	})
	t.Run("membership in another tenant is not found", func(t *testing.T) {
		if _, err := db.GetMembership(ctx, bobs.ID, alice.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("err = %v, want ErrNotFound", err)
		}
	})
	t.Run("audit is listed per tenant", func(t *testing.T) {
		evs, err := db.ListAudit(ctx, bobs.ID, 100)
		if err != nil || len(evs) != 1 || evs[0].TenantID != bobs.ID {
			t.Errorf("ListAudit(bob's) = %+v, %v; want bob's single event", evs, err)
		}
	})
	t.Run("missing tenant", func(t *testing.T) {
		if _, err := db.GetTenant(ctx, "tnt_missing"); !errors.Is(err, ErrNotFound) {
			t.Errorf("err = %v, want ErrNotFound", err)
		}
	})
}
