package models

import (
	"context"
	"fmt"
	"time"
)

// KeyStateCount is how many keys share one state and health.
type KeyStateCount struct {
	State  KeyState
	Health Health
	Count  int
}

// CountKeysByHealth counts every tenant's keys by state and health: one
// grouped query over the keys table, cheap enough for a metrics scrape.
// Deleted keys are left out; they have no health worth watching.
func (db *DB) CountKeysByHealth(ctx context.Context) ([]KeyStateCount, error) {
	var out []KeyStateCount
	err := db.g.WithContext(ctx).Table("keys").
		Select("state, health, COUNT(*) AS count").
		Where("state <> ?", StateDeleted).
		Group("state, health").Order("state, health").Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("count keys by health: %w", mapErr(err))
	}
	return out, nil
}

// KeyStatusCount is how many of a tenant's keys have one state and health,
// split by whether their active material expires before a given time.
type KeyStatusCount struct {
	State    KeyState
	Health   Health
	Expiring bool
	N        int
}

// KeyStatusCounts counts a tenant's keys (deleted ones too) by state,
// health and whether their active material expires before expiringBefore,
// in SQL: the dashboard's key health costs one statement whatever the
// number of keys. first is the earliest expiry of an active material
// before expiringBefore (nil when none).
func (db *DB) KeyStatusCounts(ctx context.Context, tenantID string, expiringBefore time.Time) (counts []KeyStatusCount, first *time.Time, err error) {
	var rows []struct {
		State    KeyState
		Health   Health
		Expiring int
		N        int
	}
	err = db.g.WithContext(ctx).Table("keys AS k").
		Select(`k.state AS state, k.health AS health, CASE WHEN EXISTS (SELECT 1 FROM key_materials km WHERE km.key_id = k.id AND km.tenant_id = k.tenant_id
			AND km.state = ? AND km.valid_to IS NOT NULL AND km.valid_to < ?) THEN 1 ELSE 0 END AS expiring, COUNT(*) AS n`, MaterialActive, ts(expiringBefore)).
		Where("k.tenant_id = ?", tenantID).Group("1, 2, 3").Order("1, 2, 3").Scan(&rows).Error
	if err != nil {
		return nil, nil, fmt.Errorf("key status counts: %w", mapErr(err))
	}
	for _, r := range rows {
		counts = append(counts, KeyStatusCount{State: r.State, Health: r.Health, Expiring: r.Expiring == 1, N: r.N})
		if r.Expiring == 1 && first == nil {
			var at []time.Time
			err = db.g.WithContext(ctx).Table("key_materials").Where("tenant_id = ? AND state = ? AND valid_to IS NOT NULL", tenantID, MaterialActive).
				Order("valid_to").Limit(1).Pluck("valid_to", &at).Error
			if err != nil {
				return nil, nil, fmt.Errorf("key status counts: %w", mapErr(err))
			}
			if len(at) == 1 {
				t := at[0].UTC()
				first = &t
			}
		}
	}
	return counts, first, nil
}

// TenantHasLiveKey reports whether the tenant has a key that is not
// deleted: one indexed probe, for the one-key-per-tenant rule.
func (db *DB) TenantHasLiveKey(ctx context.Context, tenantID string) (bool, error) {
	var ids []string
	err := db.g.WithContext(ctx).Table("keys").Where("tenant_id = ? AND state <> ?", tenantID, StateDeleted).Limit(1).Pluck("id", &ids).Error
	if err != nil {
		return false, fmt.Errorf("tenant has live key: %w", mapErr(err))
	}
	return len(ids) > 0, nil
}

// TenantHasKeys reports whether the tenant has any key, deleted ones too.
func (db *DB) TenantHasKeys(ctx context.Context, tenantID string) (bool, error) {
	var ids []string
	if err := db.g.WithContext(ctx).Table("keys").Where("tenant_id = ?", tenantID).Limit(1).Pluck("id", &ids).Error; err != nil {
		return false, fmt.Errorf("tenant has keys: %w", mapErr(err))
	}
	return len(ids) > 0, nil
}
