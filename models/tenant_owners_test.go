package models

import (
	"context"
	"errors"
	"slices"
	"testing"
)

// TestTenantOwnerBinding: a tenant made for an email has no member until
// that email's first sign-in claims it, exactly once; names and pending
// emails are unique; every step is audited.
func TestTenantOwnerBinding(t *testing.T) {
	db, _ := openTestDB(t)
	ctx := context.Background()

	tn, err := db.CreateTenantForOwner(ctx, " Acme ", "Alice@Acme.test", AuditInput{Actor: "cli"})
	if err != nil {
		t.Fatal(err)
	}
	if tn.Name != "Acme" {
		t.Errorf("name = %q", tn.Name)
	}
	if n, _ := db.CountMembers(ctx, tn.ID); n != 0 {
		t.Errorf("members before the first sign-in = %d", n)
	}
	for _, tc := range []struct {
		name, email string
		check       func(error) bool
	}{
		{"ACME", "bob@acme.test", func(err error) bool { return errors.Is(err, ErrTenantNameTaken) }},
		{"Other", "alice@acme.test", func(err error) bool {
			var taken *OwnerBindingTaken
			return errors.As(err, &taken) && taken.TenantID == tn.ID
		}},
		{"Other", "Alice <alice@acme.test>", func(err error) bool {
			var v *ValidationError
			return errors.As(err, &v) && v.Field == "owner"
		}},
		{"", "x@acme.test", func(err error) bool {
			var v *ValidationError
			return errors.As(err, &v) && v.Field == "name"
		}},
	} {
		if _, err := db.CreateTenantForOwner(ctx, tc.name, tc.email, AuditInput{Actor: "cli"}); !tc.check(err) {
			t.Errorf("CreateTenantForOwner(%q, %q) = %v", tc.name, tc.email, err)
		}
	}

	list, err := db.ListTenantsWithOwners(ctx)
	if err != nil || len(list) != 1 || list[0].ID != tn.ID || list[0].OwnerLabel() != "alice@acme.test" {
		t.Fatalf("list = %+v, %v", list, err)
	}

	// Another person of the domain claims nothing; alice claims it once.
	bob := mustUser(t, db, "bob")
	if got, err := db.ClaimOwnerBinding(ctx, bob.ID, "bob@acme.test", AuditInput{Actor: bob.ID}); err != nil || got != "" {
		t.Errorf("bob claims %q, %v", got, err)
	}
	alice := mustUser(t, db, "alice")
	if got, err := db.ClaimOwnerBinding(ctx, alice.ID, "ALICE@acme.test", AuditInput{Actor: alice.ID}); err != nil || got != tn.ID {
		t.Fatalf("alice claims %q, %v", got, err)
	}
	if m, err := db.GetMembership(ctx, tn.ID, alice.ID); err != nil || m.Role != RoleOwner {
		t.Fatalf("alice's membership = %+v, %v", m, err)
	}
	if got, err := db.ClaimOwnerBinding(ctx, alice.ID, "alice@acme.test", AuditInput{Actor: alice.ID}); err != nil || got != "" {
		t.Errorf("second claim = %q, %v", got, err)
	}
	list, _ = db.ListTenantsWithOwners(ctx)
	if len(list) != 1 || list[0].PendingOwner != "" || list[0].OwnerLabel() != alice.Email {
		t.Errorf("after the claim: %+v", list)
	}
	evs, err := db.ListAudit(ctx, tn.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range evs {
		actions = append(actions, e.Action)
	}
	if !slices.Equal(actions, []string{"tenant.owner_bound", "tenant.created"}) {
		t.Errorf("audit = %v", actions)
	}
}

// TestTenantsForDomain: a tenant exists for a domain through an owner or a
// pending owner there, matched exactly (no LIKE wildcards from the domain,
// no subdomain or suffix matches).
func TestTenantsForDomain(t *testing.T) {
	db, _ := openTestDB(t)
	ctx := context.Background()
	owner, _, err := db.UpsertOIDCUser(ctx, "https://idp.example", "o", "Olga@Acme.test", "Olga")
	if err != nil {
		t.Fatal(err)
	}
	auditor, _, _ := db.UpsertOIDCUser(ctx, "https://idp.example", "a", "al@partner.test", "Al")
	acme := mustTenant(t, db, "acme.test", owner)
	if err := db.AddMember(ctx, acme.ID, auditor.ID, RoleAuditor, owner.ID, AuditInput{Actor: owner.ID}); err != nil {
		t.Fatal(err)
	}
	bound, err := db.CreateTenantForOwner(ctx, "Beta", "boss@beta.test", AuditInput{Actor: "cli"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		domain string
		want   []string
		owners string
	}{
		{"acme.test", []string{acme.ID}, "Olga@Acme.test"},
		{"ACME.test", []string{acme.ID}, "Olga@Acme.test"},
		{"beta.test", []string{bound.ID}, "boss@beta.test"},
		{"partner.test", nil, ""}, // an auditor does not make a domain's tenant
		{"acme_test", nil, ""},
		{"me.test", nil, ""},
		{"%", nil, ""},
		{"", nil, ""},
	} {
		got, err := db.TenantsForDomain(ctx, tc.domain)
		if err != nil {
			t.Fatalf("%s: %v", tc.domain, err)
		}
		var ids []string
		for _, g := range got {
			ids = append(ids, g.ID)
		}
		if !slices.Equal(ids, tc.want) || (len(got) == 1 && got[0].OwnerLabel() != tc.owners) {
			t.Errorf("TenantsForDomain(%q) = %+v, want %v owned by %q", tc.domain, got, tc.want, tc.owners)
		}
	}
}
