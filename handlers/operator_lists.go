package handlers

import (
	"context"

	"keyport/models"
)

// tenantChoiceLabel names a tenant in operators' lists and choices so that
// tenants of the same name can be told apart: its name, its owner's email
// (or the bound owner who has not signed in yet) and its id.
func tenantChoiceLabel(t models.TenantOwners) string {
	return t.Name + " — " + t.OwnerLabel() + " (" + t.ID + ")"
}

// tenantOwners maps every tenant id to the tenant with its owners: one
// listing for an operator's page.
func (h *Handler) tenantOwners(ctx context.Context) ([]models.TenantOwners, map[string]models.TenantOwners, error) {
	ts, err := h.db.ListTenantsWithOwners(ctx)
	if err != nil {
		return nil, nil, err
	}
	byID := make(map[string]models.TenantOwners, len(ts))
	for _, t := range ts {
		byID[t.ID] = t
	}
	return ts, byID, nil
}
