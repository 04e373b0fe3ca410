package models

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"gorm.io/gorm"
)

// SetMinDecryptionVersion sets how far back a tenant's key still decrypts,
// with the audit event (key.min_decryption_version_changed, naming the old
// and new minimum) in the same transaction and a new revision, so every
// replica's key table learns it. The minimum must lie between 1 and the
// key's current version; the check and the write are one transaction, so a
// concurrent rotation cannot slip under it.
func (db *DB) SetMinDecryptionVersion(ctx context.Context, tenantID, keyID string, min int64, audit AuditInput) (*Key, error) {
	var out *Key
	audit.TenantID, audit.TargetType, audit.TargetID = tenantID, "key", keyID
	audit.Action = "key.min_decryption_version_changed"
	err := db.changeRev(ctx, "set min decryption version", func(tx *gorm.DB, rev int64) (*AuditInput, error) {
		k, err := getKeyTx(tx, tenantID, keyID)
		if err != nil {
			return nil, err
		}
		if min < 1 {
			return nil, invalid("min_decryption_version", "must be at least 1")
		}
		if min > k.CurrentVersion {
			return nil, invalid("min_decryption_version", fmt.Sprintf("cannot be above the current version (%d)", k.CurrentVersion))
		}
		old := max(k.MinDecryptionVersion, 1)
		res := tx.Table("keys").Where("tenant_id = ? AND id = ?", tenantID, keyID).
			Updates(map[string]any{"min_decryption_version": min, "updated_at": db.now(), "revision": rev})
		if err := oneRow(res); err != nil {
			return nil, err
		}
		if out, err = getKeyTx(tx, tenantID, keyID); err != nil {
			return nil, err
		}
		details := map[string]string{"from": strconv.FormatInt(old, 10), "to": strconv.FormatInt(min, 10)}
		for k, v := range audit.Details {
			details[k] = v
		}
		audit.Details = details
		return &audit, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// VersionUsage is use of one data-key version gathered since the last
// write: counts to add, and when it was last used and last decrypted.
type VersionUsage struct {
	KeyID         string
	Version       int64
	Encrypts      int64
	Decrypts      int64
	LastUsedAt    time.Time
	LastDecryptAt time.Time // zero when there was no decrypt
}

// AddVersionUsage adds counts to data-key versions in one transaction and
// moves their last-use times forward (never back: replicas flush in any
// order). Versions deleted meanwhile are skipped.
func (db *DB) AddVersionUsage(ctx context.Context, us []VersionUsage) error {
	if len(us) == 0 {
		return nil
	}
	err := db.g.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for _, u := range us {
			set := map[string]any{
				"encrypts": gorm.Expr("encrypts + ?", u.Encrypts),
				"decrypts": gorm.Expr("decrypts + ?", u.Decrypts),
			}
			q := tx.Table("data_key_versions").Where("key_id = ? AND version = ?", u.KeyID, u.Version)
			if err := q.Updates(set).Error; err != nil {
				return err
			}
			at := u.LastUsedAt.UTC()
			err := tx.Table("data_key_versions").Where("key_id = ? AND version = ? AND (last_used_at IS NULL OR last_used_at < ?)", u.KeyID, u.Version, at).
				Update("last_used_at", at).Error
			if err != nil {
				return err
			}
			if !u.LastDecryptAt.IsZero() {
				at := u.LastDecryptAt.UTC()
				err := tx.Table("data_key_versions").Where("key_id = ? AND version = ? AND (last_decrypt_at IS NULL OR last_decrypt_at < ?)", u.KeyID, u.Version, at).
					Update("last_decrypt_at", at).Error
				if err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("add version usage: %w", mapErr(err))
	}
	return nil
}
