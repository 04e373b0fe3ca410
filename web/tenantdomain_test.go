package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"keyport/handlers"
	"keyport/models"
	"keyport/web/devidp"
)

// TestTenantBoundToOwnerEmail: a tenant made for an email (keyport tenant
// create) becomes that person's at their first verified sign-in through
// the real OIDC flow; no tenant of their own is made, and the rest of
// their domain is pointed at it.
func TestTenantBoundToOwnerEmail(t *testing.T) {
	s := newStack(t, nil)
	ctx := context.Background()
	tn, err := s.DB.CreateTenantForOwner(ctx, "Acme Corp", "amy@acme.test", models.AuditInput{Actor: "keyport tenant create"})
	if err != nil {
		t.Fatal(err)
	}
	amy := devidp.Identity{Email: "Amy@Acme.test", Name: "Amy Owner", EmailVerified: true}

	// An unverified email is refused before anything is bound.
	res, _ := s.signIn(t, newBrowser(t), devidp.Identity{Email: amy.Email})
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("unverified sign-in: %d", res.StatusCode)
	}

	res, body := s.signIn(t, newBrowser(t), amy)
	if res.StatusCode != http.StatusOK || res.Request.URL.Path != "/dashboard" || !strings.Contains(body, "Acme Corp") {
		t.Fatalf("bound owner's first sign-in: %d at %s", res.StatusCode, res.Request.URL)
	}
	ts, err := s.DB.TenantsForUser(ctx, s.userID(t, amy))
	if err != nil || len(ts) != 1 || ts[0].Tenant.ID != tn.ID || ts[0].Role != models.RoleOwner {
		t.Fatalf("amy's tenants = %+v, %v", ts, err)
	}
	all, _ := s.DB.ListTenants(ctx)
	if len(all) != 1 {
		t.Errorf("%d tenants after the bound sign-in, want 1", len(all))
	}
	got := strings.Join(s.auditActions(t, tn.ID), "\n")
	for _, want := range []string{"tenant.created:", "tenant.owner_bound:", "auth.sign_in:"} {
		if !strings.Contains(got, want) {
			t.Errorf("audit lacks %s:\n%s", want, got)
		}
	}

	// A colleague at the same domain is told whom to ask.
	res, body = s.signIn(t, newBrowser(t), devidp.Identity{Email: "ben@acme.test", EmailVerified: true})
	if res.StatusCode != http.StatusForbidden || !strings.Contains(body, `data-testid="problem"`) ||
		!strings.Contains(body, "Acme Corp") || !strings.Contains(body, "Amy@Acme.test") || !strings.Contains(body, "invite ben@acme.test") {
		t.Errorf("colleague's sign-in: %d\n%s", res.StatusCode, body)
	}
}

// TestOneTenantPerDomain: the second person of a domain gets a page
// naming the domain's tenant and its owners instead of a second tenant,
// so does a removed member signing in again; invited people and operators
// still get in; with the rule off, each first sign-in has a tenant.
func TestOneTenantPerDomain(t *testing.T) {
	ctx := context.Background()
	olga := devidp.Identity{Email: "olga@acme.test", Name: "Olga Owner", EmailVerified: true}
	pete := devidp.Identity{Email: "pete@acme.test", Name: "Pete", EmailVerified: true}
	ops := devidp.Identity{Email: "ops@acme.test", Name: "Ops", EmailVerified: true}

	t.Run("on", func(t *testing.T) {
		s := newStack(t, func(c *handlers.Config) { c.Operators = []string{"ops@acme.test"} })
		ob := newBrowser(t)
		s.signIn(t, ob, olga)
		tenantID := s.tenantOf(t, olga)

		res, body := s.signIn(t, newBrowser(t), pete)
		if res.StatusCode != http.StatusForbidden || !strings.Contains(body, "Your organisation already has a tenant") ||
			!strings.Contains(body, tenantID) || !strings.Contains(body, "olga@acme.test") {
			t.Fatalf("second person of the domain: %d\n%s", res.StatusCode, body)
		}
		if ts := s.tenantsOf(t, pete); len(ts) != 0 {
			t.Fatalf("pete got tenants %v", ts)
		}
		if all, _ := s.DB.ListTenants(ctx); len(all) != 1 {
			t.Errorf("%d tenants, want 1", len(all))
		}
		if got := strings.Join(s.auditActions(t, ""), "\n"); !strings.Contains(got, `auth.sign_in_failed:{"reason":"domain_has_tenant"}`) {
			t.Errorf("refusal not audited:\n%s", got)
		}

		// Invited, pete joins; removed, he is pointed at the tenant again.
		s.join(t, ob, pete, "admin")
		if res, _ := s.memberPost(t, ob, "/members/"+s.userID(t, pete)+"/remove", nil); res.Request.URL.RawQuery != "done=removed" {
			t.Fatalf("remove ended at %s", res.Request.URL)
		}
		res, body = s.signIn(t, newBrowser(t), pete)
		if res.StatusCode != http.StatusForbidden || !strings.Contains(body, "olga@acme.test") {
			t.Errorf("removed member signing in again: %d", res.StatusCode)
		}
		if ts := s.tenantsOf(t, pete); len(ts) != 0 {
			t.Errorf("removed member got tenants %v", ts)
		}

		// An operator of that domain reaches the operator pages, tenantless.
		res, body = s.signIn(t, newBrowser(t), ops)
		if res.StatusCode != http.StatusOK || res.Request.URL.Path != "/operator" {
			t.Errorf("operator: %d at %s", res.StatusCode, res.Request.URL)
		}
		if ts := s.tenantsOf(t, ops); len(ts) != 0 {
			t.Errorf("operator got tenants %v", ts)
		}
	})

	t.Run("off", func(t *testing.T) {
		s := newStack(t, func(c *handlers.Config) { c.SeveralTenantsPerDomain = true })
		s.signIn(t, newBrowser(t), olga)
		res, _ := s.signIn(t, newBrowser(t), pete)
		if res.StatusCode != http.StatusOK || res.Request.URL.Path != "/dashboard" {
			t.Fatalf("second person with the rule off: %d at %s", res.StatusCode, res.Request.URL)
		}
		if s.tenantOf(t, pete) == s.tenantOf(t, olga) {
			t.Error("pete landed in olga's tenant")
		}
	})
}
