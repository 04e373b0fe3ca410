package handlers

import (
	"context"
	"fmt"

	"keyport/keysvc"
	"keyport/views"
)

// keyCharts is a key's use over time for its page.
func (h *Handler) keyCharts(ctx context.Context, tenantID, keyID string) (*views.UsageCharts, error) {
	u, err := h.keys.KeyUsageHistory(ctx, tenantID, keyID)
	if err != nil {
		return nil, fmt.Errorf("key usage history: %w", err)
	}
	return usageCharts("key", u), nil
}

// tenantCharts is the use of all the tenant's keys over time for the
// dashboard (one grouped query, whatever the number of keys).
func (h *Handler) tenantCharts(ctx context.Context, tenantID string) (*views.UsageCharts, error) {
	if h.keys == nil { // a stack without key management has no use to show
		return nil, nil
	}
	u, err := h.keys.TenantUsageHistory(ctx, tenantID)
	if err != nil {
		return nil, fmt.Errorf("tenant usage history: %w", err)
	}
	return usageCharts("tenant", u), nil
}

func usageCharts(scope string, u keysvc.UsageHistory) *views.UsageCharts {
	in := views.UsageChartsInput{Scope: scope, SavedHourly: u.SavedHourly, SavedDaily: u.SavedDaily, PricePer10k: u.PricePer10k}
	for _, p := range u.Hourly {
		in.Hourly = append(in.Hourly, views.UsagePoint(p))
	}
	for _, p := range u.Daily {
		in.Daily = append(in.Daily, views.UsagePoint(p))
	}
	c := views.NewUsageCharts(in)
	return &c
}
