package models

import (
	"context"

	"gorm.io/gorm"
)

// migration50DeregisteredKeys lets a connection be deleted once its only
// keys are deregistered (issue 14 item 5): the row stays as a record of
// where those keys were (keys.connection_id references it), marked
// deleted.
var migration50DeregisteredKeys = migration{
	version: 50,
	name:    "mark deleted connections kept for deregistered keys",
	stmts: []string{
		`ALTER TABLE aws_connections ADD COLUMN deleted_at {{time}}`,
	},
}

// DeregisterKey ends keyport's use of a customer-managed (mode cmk) key:
// the key becomes DELETED in keyport, with a new revision and cache epoch
// so that every replica drops it and its cached data keys at once. Its
// rows (regions, data-key versions, usage) stay for the audit log and the
// reports; nothing is asked of KMS, where the key stays. A key that is not
// a customer-managed key, or is already DELETED, is ErrNotFound /
// ErrConflict.
func (db *DB) DeregisterKey(ctx context.Context, tenantID, keyID string, audit AuditInput) (*Key, error) {
	audit.TenantID, audit.TargetType, audit.TargetID = tenantID, "key", keyID
	var out *Key
	err := db.changeRev(ctx, "deregister key", func(tx *gorm.DB, rev int64) (*AuditInput, error) {
		k, err := getKeyTx(tx, tenantID, keyID)
		if err != nil {
			return nil, err
		}
		if k.Mode != ModeCMK {
			return nil, ErrNotFound
		}
		res := tx.Table("keys").Where("tenant_id = ? AND id = ? AND state <> ?", tenantID, keyID, StateDeleted).
			Updates(map[string]any{"state": StateDeleted, "revision": rev, "updated_at": db.now(), "cache_epoch": gorm.Expr("cache_epoch + 1")})
		if res.Error != nil {
			return nil, res.Error
		}
		if res.RowsAffected == 0 {
			return nil, ErrConflict
		}
		out, err = getKeyTx(tx, tenantID, keyID)
		return &audit, err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
