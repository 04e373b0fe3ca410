package models

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"gorm.io/gorm"
)

// KeyUsage counts a key's use in one period (an hour, "2006-01-02T15"). The
// cached decrypts counted here never reach the tenant's CloudTrail, so these
// counts are the record of them.
type KeyUsage struct {
	KeyID     string
	Period    string
	Encrypts  int64
	Decrypts  int64
	Datakeys  int64
	KMSCalls  int64 `gorm:"column:kms_calls"`
	CacheHits int64
}

// AddKeyUsage adds counts to the stored totals in one transaction, and to
// the key's tenant's totals (tenant_usage). Keys deleted meanwhile are
// skipped.
func (db *DB) AddKeyUsage(ctx context.Context, us []KeyUsage) error {
	if len(us) == 0 {
		return nil
	}
	// Rows are written in one fixed order, so two replicas flushing at once
	// wait for each other instead of deadlocking on PostgreSQL.
	us = slices.Clone(us)
	slices.SortFunc(us, func(a, b KeyUsage) int { return cmp.Or(cmp.Compare(a.KeyID, b.KeyID), cmp.Compare(a.Period, b.Period)) })
	err := db.g.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for _, u := range us {
			err := tx.Exec(`INSERT INTO key_usage (key_id, period, encrypts, decrypts, datakeys, kms_calls, cache_hits)
				SELECT ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM keys WHERE id = ?)
				ON CONFLICT (key_id, period) DO UPDATE SET
					encrypts = key_usage.encrypts + excluded.encrypts,
					decrypts = key_usage.decrypts + excluded.decrypts,
					datakeys = key_usage.datakeys + excluded.datakeys,
					kms_calls = key_usage.kms_calls + excluded.kms_calls,
					cache_hits = key_usage.cache_hits + excluded.cache_hits`,
				u.KeyID, u.Period, u.Encrypts, u.Decrypts, u.Datakeys, u.KMSCalls, u.CacheHits, u.KeyID).Error
			if err != nil {
				return err
			}
		}
		return addTenantUsage(tx, us)
	})
	if err != nil {
		return fmt.Errorf("add key usage: %w", mapErr(err))
	}
	return nil
}

// KeyUsageTotals sums a tenant key's usage over all periods.
func (db *DB) KeyUsageTotals(ctx context.Context, tenantID, keyID string) (KeyUsage, error) {
	var u KeyUsage
	err := db.reader(ctx).Table("key_usage AS u").
		Select("u.key_id, '' AS period, SUM(u.encrypts) AS encrypts, SUM(u.decrypts) AS decrypts, SUM(u.datakeys) AS datakeys, SUM(u.kms_calls) AS kms_calls, SUM(u.cache_hits) AS cache_hits").
		Joins("JOIN keys k ON k.id = u.key_id").Where("k.tenant_id = ? AND u.key_id = ?", tenantID, keyID).
		Group("u.key_id").Scan(&u).Error
	if err != nil {
		return KeyUsage{}, fmt.Errorf("key usage totals: %w", mapErr(err))
	}
	u.KeyID = keyID
	return u, nil
}
