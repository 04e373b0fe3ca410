package handlers

import (
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/labstack/echo/v4"

	"keyport/keysvc/compliance"
	"keyport/models"
	"keyport/views"
)

// Operator is the provider's overview: every tenant with its keys counted
// by health, and the keys that need attention, worst first. It shows names,
// states and health only, never secrets.
func (h *Handler) Operator(c echo.Context) error {
	ctx := c.Request().Context()
	counts, err := h.db.TenantKeyCounts(ctx)
	if err != nil {
		return fmt.Errorf("operator overview: %w", err)
	}
	krs, err := h.db.KeyReportsAllTenants(ctx)
	if err != nil {
		return fmt.Errorf("operator overview: %w", err)
	}
	_, owners, err := h.tenantOwners(ctx)
	if err != nil {
		return fmt.Errorf("operator overview: %w", err)
	}
	m := views.Operator{Tenants: operatorTenants(counts, h.now())}
	for i := range m.Tenants {
		m.Tenants[i].Owner = owners[m.Tenants[i].ID].OwnerLabel()
	}
	for _, a := range compliance.NeedsAttention(krs, h.now()) {
		m.Attention = append(m.Attention, views.AttentionKey{TenantName: a.TenantName, TenantID: a.Key.TenantID,
			TenantOwner: owners[a.Key.TenantID].OwnerLabel(), KeyID: a.Key.ID, KeyName: a.Key.Name,
			State: string(a.Key.State), Health: string(a.Key.Health), Reasons: a.Reasons})
	}
	return render(c, http.StatusOK, views.OperatorPage(h.page(c, "Operator", "operator"), m))
}

// operatorTenants folds the per-state-and-health counts into one row per
// tenant, by the keys' status.
func operatorTenants(counts []models.TenantKeyCount, now time.Time) []views.OperatorTenant {
	var out []views.OperatorTenant
	for _, tc := range counts {
		if len(out) == 0 || out[len(out)-1].ID != tc.TenantID {
			out = append(out, views.OperatorTenant{ID: tc.TenantID, Name: tc.TenantName})
		}
		t := &out[len(out)-1]
		if tc.Health == "" || tc.Count == 0 {
			continue
		}
		t.Keys += tc.Count
		st := views.StatusOf(string(tc.State), string(tc.Health), nil, now)
		if st.OK() {
			t.Healthy += tc.Count
			continue
		}
		t.ByHealth = addStatusCount(t.ByHealth, st, tc.Count)
	}
	// Tenants with unhealthy keys first, then by name (the query's order).
	sort.SliceStable(out, func(i, j int) bool { return len(out[i].ByHealth) > 0 && len(out[j].ByHealth) == 0 })
	return out
}
