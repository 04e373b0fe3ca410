package keysvc_test

import (
	"context"
	"testing"
	"time"

	"keyport/keysvc"
	"keyport/keysvc/keysvctest"
	"keyport/models"
)

// TestUsageHistoryWindows: the hourly series is the 48 hours up to the
// current one and the daily series the 90 UTC days up to today, rolled up
// from the stored hours; hours outside a window are left out of it and of
// its savings, and the savings are priced at the default price until the
// provider sets one.
func TestUsageHistoryWindows(t *testing.T) {
	e := keysvctest.New(t, keysvc.Config{})
	ctx := context.Background()
	k := e.Key(t, "orders")
	now := time.Date(2026, 3, 10, 14, 30, 0, 0, time.UTC)
	e.Clock.Set(now)
	at := func(d time.Duration) string { return now.Add(-d).Format("2006-01-02T15") }
	err := e.DB.AddKeyUsage(ctx, []models.KeyUsage{
		{KeyID: k.ID, Period: at(0), Encrypts: 1, CacheHits: 1},
		{KeyID: k.ID, Period: at(47 * time.Hour), Decrypts: 2, CacheHits: 2}, // the first hour of the 48
		{KeyID: k.ID, Period: at(48 * time.Hour), Datakeys: 4, CacheHits: 4}, // a day, not an hour, of the charts
		{KeyID: k.ID, Period: "2025-12-11T00", KMSCalls: 8, CacheHits: 8},    // the first of the 90 days
		{KeyID: k.ID, Period: "2025-12-10T23", Encrypts: 16, CacheHits: 16},  // before it
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, get := range map[string]func() (keysvc.UsageHistory, error){
		"key":    func() (keysvc.UsageHistory, error) { return e.Service.KeyUsageHistory(ctx, e.Tenant.ID, k.ID) },
		"tenant": func() (keysvc.UsageHistory, error) { return e.Service.TenantUsageHistory(ctx, e.Tenant.ID) },
	} {
		h, err := get()
		if err != nil {
			t.Fatal(err)
		}
		if len(h.Hourly) != keysvc.UsageHours || len(h.Daily) != keysvc.UsageDays {
			t.Fatalf("%s: %d hours, %d days", name, len(h.Hourly), len(h.Daily))
		}
		if first, last := h.Hourly[0], h.Hourly[47]; !first.Start.Equal(time.Date(2026, 3, 8, 15, 0, 0, 0, time.UTC)) || first.Decrypts != 2 ||
			!last.Start.Equal(time.Date(2026, 3, 10, 14, 0, 0, 0, time.UTC)) || last.Encrypts != 1 {
			t.Errorf("%s: hours %+v ... %+v", name, first, last)
		}
		if first, last := h.Daily[0], h.Daily[89]; !first.Start.Equal(time.Date(2025, 12, 11, 0, 0, 0, 0, time.UTC)) || first.KMSCalls != 8 || first.Encrypts != 0 ||
			!last.Start.Equal(time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)) || last.Encrypts != 1 {
			t.Errorf("%s: days %+v ... %+v", name, first, last)
		}
		if h.Daily[87].Decrypts != 2 || h.Daily[87].Datakeys != 4 { // 8 March 14:00 and 15:00
			t.Errorf("%s: 8 March = %+v", name, h.Daily[87])
		}
		if h.SavedHourly != 3 || h.SavedDaily != 15 || h.PricePer10k != keysvc.DefaultKMSPricePer10k || h.Empty() {
			t.Errorf("%s: saved %d / %d at %v", name, h.SavedHourly, h.SavedDaily, h.PricePer10k)
		}
	}
}
