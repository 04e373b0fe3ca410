package keysvc

import (
	"context"
	"fmt"
	"time"

	"keyport/models"
)

// Spans of the usage charts.
const (
	UsageHours = 48 // hourly points
	UsageDays  = 90 // daily points, rolled up from the hours
)

// UsagePoint is the use counted in one hour or one UTC day.
type UsagePoint struct {
	Start     time.Time // the hour or day, UTC
	Encrypts  int64
	Decrypts  int64
	Datakeys  int64
	CacheHits int64
	KMSCalls  int64
}

// UsageHistory is the use of a key, or of all a tenant's keys, over time:
// every hour of the last UsageHours and every day of the last UsageDays,
// oldest first, zero where nothing was used.
type UsageHistory struct {
	Hourly []UsagePoint
	Daily  []UsagePoint
	// SavedHourly and SavedDaily are the KMS requests the data-key cache
	// saved in each span: each cache hit is a request keyport did not send
	// to KMS. PricePer10k is the provider's price of 10,000 KMS requests
	// (USD) that the costs are estimated with.
	SavedHourly, SavedDaily int64
	PricePer10k             float64
}

// Empty reports whether nothing was used in the daily span (which holds
// the hourly one).
func (h UsageHistory) Empty() bool {
	for _, p := range h.Daily {
		if p.Encrypts+p.Decrypts+p.Datakeys+p.CacheHits+p.KMSCalls > 0 {
			return false
		}
	}
	return true
}

// Cost estimates what n KMS requests cost at the provider's price.
func (h UsageHistory) Cost(n int64) float64 { return float64(n) * h.PricePer10k / 10000 }

// KeyUsageHistory is one tenant key's use over time.
func (s *Service) KeyUsageHistory(ctx context.Context, tenantID, keyID string) (UsageHistory, error) {
	return s.usageHistory(ctx, func(from time.Time) ([]models.UsageBucket, error) {
		return s.db.KeyUsageSince(ctx, tenantID, keyID, from)
	})
}

// TenantUsageHistory is the use of all a tenant's keys over time, read
// with one grouped query.
func (s *Service) TenantUsageHistory(ctx context.Context, tenantID string) (UsageHistory, error) {
	return s.usageHistory(ctx, func(from time.Time) ([]models.UsageBucket, error) {
		return s.db.TenantUsageSince(ctx, tenantID, from)
	})
}

func (s *Service) usageHistory(ctx context.Context, read func(time.Time) ([]models.UsageBucket, error)) (UsageHistory, error) {
	ps, err := s.ProviderSettings(ctx)
	if err != nil {
		return UsageHistory{}, err
	}
	now := s.now().UTC()
	hour := now.Truncate(time.Hour)
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	firstHour := hour.Add(-(UsageHours - 1) * time.Hour)
	firstDay := day.AddDate(0, 0, -(UsageDays - 1))
	rows, err := read(firstDay)
	if err != nil {
		return UsageHistory{}, err
	}
	h := UsageHistory{PricePer10k: ps.KMSPricePer10k, Hourly: make([]UsagePoint, UsageHours), Daily: make([]UsagePoint, UsageDays)}
	for i := range h.Hourly {
		h.Hourly[i].Start = firstHour.Add(time.Duration(i) * time.Hour)
	}
	for i := range h.Daily {
		h.Daily[i].Start = firstDay.AddDate(0, 0, i)
	}
	for _, r := range rows {
		at, err := time.Parse("2006-01-02T15", r.Period)
		if err != nil {
			return UsageHistory{}, fmt.Errorf("keysvc: usage period %q: %w", r.Period, err)
		}
		if i := int(at.Sub(firstHour) / time.Hour); at.Compare(firstHour) >= 0 && i < UsageHours {
			addUsage(&h.Hourly[i], r)
			h.SavedHourly += r.CacheHits
		}
		// UTC days have no daylight saving: each is 24 hours.
		if i := int(at.Sub(firstDay) / (24 * time.Hour)); i >= 0 && i < UsageDays {
			addUsage(&h.Daily[i], r)
			h.SavedDaily += r.CacheHits
		}
	}
	return h, nil
}

func addUsage(p *UsagePoint, r models.UsageBucket) {
	p.Encrypts += r.Encrypts
	p.Decrypts += r.Decrypts
	p.Datakeys += r.Datakeys
	p.CacheHits += r.CacheHits
	p.KMSCalls += r.KMSCalls
}
