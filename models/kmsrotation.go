package models

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// KMSRotationRecord is what KMS last said about the automatic rotation of
// one region's KMS key of a key, and when it was asked.
type KMSRotationRecord struct {
	KeyID          string
	Region         string
	TenantID       string
	KMSKeyARN      string `gorm:"column:kms_key_arn"`
	Verifiable     bool   // false: KMS did not answer; Detail says why
	Enabled        bool
	PeriodDays     int
	NextRotationAt *time.Time
	Detail         string
	CheckedAt      time.Time
}

// SetKMSRotation replaces what is recorded of a tenant's key's KMS
// automatic rotation with rs (one per region), checked at at.
func (db *DB) SetKMSRotation(ctx context.Context, tenantID, keyID string, rs []KMSRotationRecord, at time.Time) error {
	err := db.g.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec("DELETE FROM key_kms_rotation WHERE tenant_id = ? AND key_id = ?", tenantID, keyID).Error; err != nil {
			return err
		}
		if len(rs) == 0 {
			return nil
		}
		out := make([]KMSRotationRecord, len(rs))
		for i, r := range rs {
			r.TenantID, r.KeyID, r.CheckedAt, r.NextRotationAt = tenantID, keyID, ts(at), tsPtr(r.NextRotationAt)
			out[i] = r
		}
		return tx.Table("key_kms_rotation").Create(&out).Error
	})
	if err != nil {
		return fmt.Errorf("set kms rotation: %w", mapErr(err))
	}
	return nil
}

// KMSRotation returns what is recorded of a tenant's key's KMS automatic
// rotation, by region (none before the first validation).
func (db *DB) KMSRotation(ctx context.Context, tenantID, keyID string) ([]KMSRotationRecord, error) {
	var rs []KMSRotationRecord
	if err := db.g.WithContext(ctx).Table("key_kms_rotation").Where("tenant_id = ? AND key_id = ?", tenantID, keyID).
		Order("region").Find(&rs).Error; err != nil {
		return nil, fmt.Errorf("kms rotation: %w", mapErr(err))
	}
	for i := range rs {
		rs[i].CheckedAt, rs[i].NextRotationAt = rs[i].CheckedAt.UTC(), tsPtr(rs[i].NextRotationAt)
	}
	return rs, nil
}
