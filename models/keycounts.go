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
// in SQL: the dashboard's key health costs two grouped statements (three
// when some material expires) whatever the number of keys, off the
// (tenant_id, state, health) and (tenant_id, state, valid_to) indexes.
// first is the earliest expiry of an active material (nil when none
// expires before expiringBefore).
func (db *DB) KeyStatusCounts(ctx context.Context, tenantID string, expiringBefore time.Time) (counts []KeyStatusCount, first *time.Time, err error) {
	type group struct {
		State  KeyState
		Health Health
		N      int
	}
	var all, expiring []group
	g := db.reader(ctx)
	err = g.Table("keys").Select("state, health, COUNT(*) AS n").Where("tenant_id = ?", tenantID).
		Group("state, health").Order("state, health").Scan(&all).Error
	if err == nil {
		err = g.Table("key_materials AS km").Select("k.state AS state, k.health AS health, COUNT(DISTINCT k.id) AS n").
			Joins("JOIN keys AS k ON k.id = km.key_id AND k.tenant_id = km.tenant_id").
			Where("km.tenant_id = ? AND km.state = ? AND km.valid_to < ?", tenantID, MaterialActive, ts(expiringBefore)).
			Group("k.state, k.health").Scan(&expiring).Error
	}
	if err == nil && len(expiring) > 0 {
		var at []time.Time
		err = g.Table("key_materials").Where("tenant_id = ? AND state = ? AND valid_to IS NOT NULL", tenantID, MaterialActive).
			Order("valid_to").Limit(1).Pluck("valid_to", &at).Error
		if len(at) == 1 {
			t := at[0].UTC()
			first = &t
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("key status counts: %w", mapErr(err))
	}
	for _, a := range all {
		n := a.N
		for _, e := range expiring {
			if e.State == a.State && e.Health == a.Health && e.N > 0 {
				counts = append(counts, KeyStatusCount{State: a.State, Health: a.Health, Expiring: true, N: min(e.N, n)})
				n -= min(e.N, n)
			}
		}
		if n > 0 {
			counts = append(counts, KeyStatusCount{State: a.State, Health: a.Health, N: n})
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
	if err := db.reader(ctx).Table("keys").Where("tenant_id = ?", tenantID).Limit(1).Pluck("id", &ids).Error; err != nil {
		return false, fmt.Errorf("tenant has keys: %w", mapErr(err))
	}
	return len(ids) > 0, nil
}
