package handlers

import (
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/labstack/echo/v4"

	"keyport/keysvc"
	"keyport/models"
	"keyport/views"
)

// attentionRank orders what needs attention: access revoked first (data
// is unreadable now), then what stops use soon, then what is merely due.
var attentionRank = map[string]int{
	"access revoked":           0,
	"pending deletion":         1,
	"disabled":                 2,
	"material expired":         3,
	"drift":                    4,
	"unreachable":              5,
	"rotation overdue":         6,
	"waiting for key material": 7,
	"never validated":          8,
}

// healthReasons name the healths that need attention, in attentionRank's
// words.
var healthReasons = map[models.Health]string{
	models.HealthAccessDenied:    "access revoked",
	models.HealthPendingDeletion: "pending deletion",
	models.HealthKMSDisabled:     "disabled",
	models.HealthMaterialExpired: "material expired",
	models.HealthDrift:           "drift",
	models.HealthUnreachable:     "unreachable",
	models.HealthPendingImport:   "waiting for key material",
	models.HealthUnknown:         "never validated",
	"":                           "never validated",
}

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
	m := views.Operator{Tenants: operatorTenants(counts)}
	now := h.now()
	for _, kr := range krs {
		if reasons := attentionReasons(kr, now); len(reasons) > 0 {
			k := kr.Key
			m.Attention = append(m.Attention, views.AttentionKey{TenantName: kr.TenantName, KeyID: k.ID, KeyName: k.Name,
				State: string(k.State), Health: string(k.Health), Reasons: reasons})
		}
	}
	sort.SliceStable(m.Attention, func(i, j int) bool {
		return attentionRank[m.Attention[i].Reasons[0]] < attentionRank[m.Attention[j].Reasons[0]]
	})
	return render(c, http.StatusOK, views.OperatorPage(h.page(c, "Operator", "operator"), m))
}

// operatorTenants folds the per-health counts into one row per tenant.
func operatorTenants(counts []models.TenantKeyCount) []views.OperatorTenant {
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
		if tc.Health == models.HealthOK {
			t.Healthy += tc.Count
			continue
		}
		label, advice := keysvc.HealthAdvice(tc.Health)
		t.ByHealth = append(t.ByHealth, views.HealthCount{Health: string(tc.Health), Label: label, Advice: advice, Count: tc.Count})
	}
	// Tenants with unhealthy keys first, then by name (the query's order).
	sort.SliceStable(out, func(i, j int) bool { return len(out[i].ByHealth) > 0 && len(out[j].ByHealth) == 0 })
	return out
}

// attentionReasons says why a key (not deleted) needs attention, worst
// first; none for a healthy key.
func attentionReasons(kr models.KeyReport, now time.Time) []string {
	k := kr.Key
	if k.State == models.StateDeleted {
		return nil
	}
	var rs []string
	if r, ok := healthReasons[k.Health]; ok {
		rs = append(rs, r)
	}
	switch k.State {
	case models.StateDisabled:
		rs = append([]string{"disabled"}, rs...)
	case models.StatePendingDeletion:
		rs = append([]string{"pending deletion"}, rs...)
	}
	if len(kr.Versions) > 0 && now.Sub(kr.Versions[0].CreatedAt) > defaultRotationPeriod {
		rs = append(rs, "rotation overdue")
	}
	sort.SliceStable(rs, func(i, j int) bool { return attentionRank[rs[i]] < attentionRank[rs[j]] })
	return dedupe(rs)
}

func dedupe(ss []string) []string {
	var out []string
	for _, s := range ss {
		if len(out) == 0 || out[len(out)-1] != s {
			out = append(out, s)
		}
	}
	return out
}
