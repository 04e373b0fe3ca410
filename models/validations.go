package models

import (
	"context"
	"fmt"
	"time"
)

// KeyValidation is one run of a key's validation checks. Checks is the
// JSON list of check outcomes as keysvc writes it; the store keeps it as
// text.
type KeyValidation struct {
	ID        string
	KeyID     string
	TenantID  string
	OK        bool `gorm:"column:ok"`
	Checks    string
	CreatedAt time.Time
}

// AddKeyValidation records a validation run; ID and CreatedAt are filled in.
func (db *DB) AddKeyValidation(ctx context.Context, v *KeyValidation) error {
	if v.ID == "" {
		v.ID = NewID("val_")
	}
	v.CreatedAt = db.now()
	if err := db.g.WithContext(ctx).Table("key_validations").Create(v).Error; err != nil {
		return fmt.Errorf("add key validation: %w", mapErr(err))
	}
	return nil
}

// LatestKeyValidation returns the newest validation of a tenant's key, or
// ErrNotFound when it has none.
func (db *DB) LatestKeyValidation(ctx context.Context, tenantID, keyID string) (*KeyValidation, error) {
	var v KeyValidation
	err := db.reader(ctx).Table("key_validations").Where("tenant_id = ? AND key_id = ?", tenantID, keyID).
		Order("created_at DESC, id DESC").Take(&v).Error
	if err != nil {
		return nil, fmt.Errorf("latest key validation: %w", mapErr(err))
	}
	v.CreatedAt = v.CreatedAt.UTC()
	return &v, nil
}

// PruneKeyValidations keeps the newest keep validations of a tenant's key,
// so the background sweep does not grow the table without bound.
func (db *DB) PruneKeyValidations(ctx context.Context, tenantID, keyID string, keep int) error {
	err := db.g.WithContext(ctx).Exec(`DELETE FROM key_validations WHERE tenant_id = ? AND key_id = ? AND id NOT IN
		(SELECT id FROM key_validations WHERE tenant_id = ? AND key_id = ? ORDER BY created_at DESC, id DESC LIMIT ?)`,
		tenantID, keyID, tenantID, keyID, keep).Error
	if err != nil {
		return fmt.Errorf("prune key validations: %w", mapErr(err))
	}
	return nil
}
