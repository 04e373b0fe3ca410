package models

import (
	"context"
	"fmt"
	"time"
)

// usageHour is the format of key_usage.period: the data plane's flush
// writes one row per key and UTC hour, so hours need no table of their own
// and days are rolled up from them when read.
const usageHour = "2006-01-02T15"

// UsageBucket is the use counted in one hour, for one key or summed over a
// tenant's keys. Period is the hour as written ("2006-01-02T15", UTC).
type UsageBucket struct {
	Period    string
	Encrypts  int64
	Decrypts  int64
	Datakeys  int64
	KMSCalls  int64 `gorm:"column:kms_calls"`
	CacheHits int64
}

// KeyUsageSince returns a tenant key's hourly use from the hour holding
// from onwards, oldest first; hours without use have no bucket.
func (db *DB) KeyUsageSince(ctx context.Context, tenantID, keyID string, from time.Time) ([]UsageBucket, error) {
	out, err := db.usageSince(ctx, tenantID, keyID, from)
	if err != nil {
		return nil, fmt.Errorf("key usage since: %w", err)
	}
	return out, nil
}

// TenantUsageSince returns the hourly use summed over all of a tenant's
// keys from the hour holding from onwards, oldest first: one grouped query
// however many keys the tenant has.
func (db *DB) TenantUsageSince(ctx context.Context, tenantID string, from time.Time) ([]UsageBucket, error) {
	out, err := db.usageSince(ctx, tenantID, "", from)
	if err != nil {
		return nil, fmt.Errorf("tenant usage since: %w", err)
	}
	return out, nil
}

// usageSince is one grouped query over key_usage for a tenant, and one key
// of it when keyID is set. The sums are cast so that PostgreSQL answers
// bigint, not numeric.
func (db *DB) usageSince(ctx context.Context, tenantID, keyID string, from time.Time) ([]UsageBucket, error) {
	q := db.g.WithContext(ctx).Table("key_usage AS u").
		Select(`u.period AS period,
			CAST(SUM(u.encrypts) AS bigint) AS encrypts, CAST(SUM(u.decrypts) AS bigint) AS decrypts,
			CAST(SUM(u.datakeys) AS bigint) AS datakeys, CAST(SUM(u.kms_calls) AS bigint) AS kms_calls,
			CAST(SUM(u.cache_hits) AS bigint) AS cache_hits`).
		Joins("JOIN keys k ON k.id = u.key_id").
		Where("k.tenant_id = ? AND u.period >= ?", tenantID, from.UTC().Format(usageHour))
	if keyID != "" {
		q = q.Where("u.key_id = ?", keyID)
	}
	var out []UsageBucket
	if err := q.Group("u.period").Order("u.period").Scan(&out).Error; err != nil {
		return nil, mapErr(err)
	}
	return out, nil
}
