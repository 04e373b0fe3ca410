package handlers

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"keyport/models"
)

// tenantsOfDomain lists the tenants that already exist for email's domain,
// which a first sign-in must not silently duplicate; none when the provider
// lets each first sign-in have a tenant of its own
// (KEYPORT_SIGNUP_SEVERAL_TENANTS_PER_DOMAIN).
func (h *Handler) tenantsOfDomain(ctx context.Context, email string) ([]models.TenantOwners, error) {
	if h.cfg.SeveralTenantsPerDomain {
		return nil, nil
	}
	_, domain, ok := strings.Cut(email, "@")
	if !ok || domain == "" {
		return nil, nil
	}
	ts, err := h.db.TenantsForDomain(ctx, domain)
	if err != nil {
		return nil, fmt.Errorf("look up tenants of %s: %w", domain, err)
	}
	return ts, nil
}

// domainHasTenant is the answer to a first sign-in (or a removed member's)
// whose domain already has a tenant: which tenant, and whom to ask for an
// invitation, rather than an empty tenant nobody can tell apart.
func domainHasTenant(email string, ts []models.TenantOwners) *signInRefused {
	_, domain, _ := strings.Cut(email, "@")
	var b strings.Builder
	if len(ts) == 1 {
		fmt.Fprintf(&b, "A keyport tenant already exists for %s: ", strings.ToLower(domain))
	} else {
		fmt.Fprintf(&b, "keyport tenants already exist for %s: ", strings.ToLower(domain))
	}
	for i, t := range ts {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%q (%s), owned by %s", t.Name, t.ID, ownersForPage(t))
	}
	fmt.Fprintf(&b, ". Ask an owner to invite %s: the link in the invitation email brings you into that tenant.", email)
	return refuse("domain_has_tenant", http.StatusForbidden, "Your organisation already has a tenant", b.String())
}

func ownersForPage(t models.TenantOwners) string {
	owners := slices.Clone(t.Owners)
	if t.PendingOwner != "" {
		owners = append(owners, t.PendingOwner)
	}
	if len(owners) == 0 {
		return "nobody yet (ask the keyport operator)"
	}
	return strings.Join(owners, ", ")
}
