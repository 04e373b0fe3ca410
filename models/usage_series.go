package models

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"
)

// usageHour is the format of key_usage.period and tenant_usage.period: the
// data plane's flush writes one row per key and UTC hour and adds it to the
// tenant's hour; days are rolled up from the hours when read.
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
	var out []UsageBucket
	err := db.g.WithContext(ctx).Table("key_usage AS u").
		Select("u.period, u.encrypts, u.decrypts, u.datakeys, u.kms_calls, u.cache_hits").
		Joins("JOIN keys k ON k.id = u.key_id").
		Where("k.tenant_id = ? AND u.key_id = ? AND u.period >= ?", tenantID, keyID, from.UTC().Format(usageHour)).
		Order("u.period").Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("key usage since: %w", mapErr(err))
	}
	return out, nil
}

// TenantUsageSince returns the hourly use summed over all of a tenant's
// keys (deleted ones too) from the hour holding from onwards, oldest
// first: a read of tenant_usage, whatever the number of keys.
func (db *DB) TenantUsageSince(ctx context.Context, tenantID string, from time.Time) ([]UsageBucket, error) {
	var out []UsageBucket
	err := db.g.WithContext(ctx).Table("tenant_usage").
		Select("period, encrypts, decrypts, datakeys, kms_calls, cache_hits").
		Where("tenant_id = ? AND period >= ?", tenantID, from.UTC().Format(usageHour)).
		Order("period").Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("tenant usage since: %w", mapErr(err))
	}
	return out, nil
}

// addTenantUsage adds a flush's counts to their tenants' hours, in the
// flush's transaction: one read of the keys' tenants, then one statement per
// tenant and hour (a flush holds few), not one per key.
func addTenantUsage(tx *gorm.DB, us []KeyUsage) error {
	ids := make([]string, 0, len(us))
	for _, u := range us {
		ids = append(ids, u.KeyID)
	}
	var owners []struct{ ID, TenantID string }
	for chunk := range slices.Chunk(ids, 500) { // under every driver's parameter limit
		var part []struct{ ID, TenantID string }
		if err := tx.Table("keys").Select("id, tenant_id").Where("id IN ?", chunk).Scan(&part).Error; err != nil {
			return err
		}
		owners = append(owners, part...)
	}
	tenantOf := make(map[string]string, len(owners))
	for _, o := range owners {
		tenantOf[o.ID] = o.TenantID
	}
	type hourKey struct{ tenantID, period string }
	sums := map[hourKey]*KeyUsage{}
	var order []hourKey
	for _, u := range us {
		tid, ok := tenantOf[u.KeyID]
		if !ok { // deleted meanwhile, skipped in key_usage too
			continue
		}
		k := hourKey{tid, u.Period}
		s, ok := sums[k]
		if !ok {
			s = &KeyUsage{}
			sums[k] = s
			order = append(order, k)
		}
		s.Encrypts += u.Encrypts
		s.Decrypts += u.Decrypts
		s.Datakeys += u.Datakeys
		s.KMSCalls += u.KMSCalls
		s.CacheHits += u.CacheHits
	}
	// A fixed order (tenant, hour) so that two replicas flushing at once
	// take the rows' locks in the same order and cannot deadlock.
	slices.SortFunc(order, func(a, b hourKey) int {
		return cmp.Or(cmp.Compare(a.tenantID, b.tenantID), cmp.Compare(a.period, b.period))
	})
	for _, k := range order {
		s := sums[k]
		err := tx.Exec(`INSERT INTO tenant_usage (tenant_id, period, encrypts, decrypts, datakeys, kms_calls, cache_hits)
			VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (tenant_id, period) DO UPDATE SET
				encrypts = tenant_usage.encrypts + excluded.encrypts,
				decrypts = tenant_usage.decrypts + excluded.decrypts,
				datakeys = tenant_usage.datakeys + excluded.datakeys,
				kms_calls = tenant_usage.kms_calls + excluded.kms_calls,
				cache_hits = tenant_usage.cache_hits + excluded.cache_hits`,
			k.tenantID, k.period, s.Encrypts, s.Decrypts, s.Datakeys, s.KMSCalls, s.CacheHits).Error
		if err != nil {
			return err
		}
	}
	return nil
}
