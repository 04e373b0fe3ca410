package models

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// PrefixKeyStore starts every key store id.
const PrefixKeyStore = "kst_"

// KeyStore is a named collection of a tenant's keys, bound to one AWS
// connection and region: keys keyport creates in it live in that account
// and region.
type KeyStore struct {
	ID           string
	TenantID     string
	ConnectionID string
	Region       string
	Name         string
	CreatedBy    string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// StoreKey is one key of a store with its state, for counts and for naming
// the keys that block a store's deletion.
type StoreKey struct {
	StoreID string
	KeyID   string
	Name    string
	State   string
}

// StoreNotEmptyError refuses to delete a store whose keys are not all
// DELETED; Blocking names them.
type StoreNotEmptyError struct {
	Blocking []StoreKey
}

func (e *StoreNotEmptyError) Error() string {
	return fmt.Sprintf("models: key store has %d key(s) that are not deleted", len(e.Blocking))
}

// CreateKeyStore records a new key store with its audit event.
func (db *DB) CreateKeyStore(ctx context.Context, st *KeyStore, audit AuditInput) error {
	name, err := validateName("name", st.Name, 100)
	if err != nil {
		return err
	}
	st.Name, st.ID = name, NewID(PrefixKeyStore)
	now := db.now()
	st.CreatedAt, st.UpdatedAt = now, now
	audit.TenantID, audit.TargetType, audit.TargetID = st.TenantID, "key_store", st.ID
	return db.change(ctx, "create key store", func(tx *gorm.DB) (*AuditInput, error) {
		if taken, err := nameTaken(tx, "key_stores", st.TenantID, name, ""); err != nil || taken {
			return nil, cmp.Or(err, error(ErrNameTaken))
		}
		if err := tx.Table("key_stores").Create(st).Error; err != nil {
			return nil, duplicateName(err)
		}
		return &audit, nil
	})
}

// RenameKeyStore renames a tenant's store.
func (db *DB) RenameKeyStore(ctx context.Context, tenantID, id, name string, audit AuditInput) error {
	name, err := validateName("name", name, 100)
	if err != nil {
		return err
	}
	audit.TenantID, audit.TargetType, audit.TargetID = tenantID, "key_store", id
	return db.change(ctx, "rename key store", func(tx *gorm.DB) (*AuditInput, error) {
		if taken, err := nameTaken(tx, "key_stores", tenantID, name, id); err != nil || taken {
			return nil, cmp.Or(err, error(ErrNameTaken))
		}
		res := tx.Table("key_stores").Where("tenant_id = ? AND id = ?", tenantID, id).
			Updates(map[string]any{"name": name, "updated_at": db.now()})
		if err := oneRow(res); err != nil {
			return nil, duplicateName(err)
		}
		return &audit, nil
	})
}

// GetKeyStore returns a tenant's store, or ErrNotFound.
func (db *DB) GetKeyStore(ctx context.Context, tenantID, id string) (*KeyStore, error) {
	var st KeyStore
	if err := db.g.WithContext(ctx).Table("key_stores").Where("tenant_id = ? AND id = ?", tenantID, id).Take(&st).Error; err != nil {
		return nil, fmt.Errorf("get key store: %w", mapErr(err))
	}
	st.CreatedAt, st.UpdatedAt = st.CreatedAt.UTC(), st.UpdatedAt.UTC()
	return &st, nil
}

// ListKeyStores lists a tenant's stores by name.
func (db *DB) ListKeyStores(ctx context.Context, tenantID string) ([]KeyStore, error) {
	var out []KeyStore
	if err := db.reader(ctx).Table("key_stores").Where("tenant_id = ?", tenantID).Order("lower(name), id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list key stores: %w", mapErr(err))
	}
	return out, nil
}

// StoreKeys lists the keys of a tenant's stores (storeID "" for every
// store), by name.
func (db *DB) StoreKeys(ctx context.Context, tenantID, storeID string) ([]StoreKey, error) {
	q := db.g.WithContext(ctx)
	if storeID != "" {
		q = q.Where("m.store_id = ?", storeID)
	}
	out, err := storeKeys(q, tenantID)
	if err != nil {
		return nil, fmt.Errorf("store keys: %w", mapErr(err))
	}
	return out, nil
}

// storeKeys reads a tenant's store keys that q selects, by name.
func storeKeys(q *gorm.DB, tenantID string) ([]StoreKey, error) {
	var out []StoreKey
	err := q.Table("managed_keys AS m").Select("m.store_id, k.id AS key_id, k.name, k.state").
		Joins("JOIN keys k ON k.id = m.key_id").Where("m.tenant_id = ? AND k.tenant_id = ?", tenantID, tenantID).
		Order("lower(k.name), k.id").Find(&out).Error
	return out, err
}

// DeleteKeyStore deletes a store whose keys are all DELETED; otherwise a
// *StoreNotEmptyError names the keys in the way.
func (db *DB) DeleteKeyStore(ctx context.Context, tenantID, id string, audit AuditInput) error {
	audit.TenantID, audit.TargetType, audit.TargetID = tenantID, "key_store", id
	return db.change(ctx, "delete key store", func(tx *gorm.DB) (*AuditInput, error) {
		blocking, err := storeKeys(tx.Where("m.store_id = ? AND k.state <> ?", id, StateDeleted), tenantID)
		if err != nil {
			return nil, err
		}
		if len(blocking) > 0 {
			return nil, &StoreNotEmptyError{Blocking: blocking}
		}
		res := tx.Table("key_stores").Where("tenant_id = ? AND id = ?", tenantID, id).Delete(&KeyStore{})
		if err := oneRow(res); err != nil {
			return nil, err
		}
		return &audit, nil
	})
}
