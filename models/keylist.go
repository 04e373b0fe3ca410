package models

import (
	"cmp"
	"context"
	"fmt"

	"gorm.io/gorm"
)

// RenameKey renames a tenant's key (names are unique in the tenant,
// ignoring case) with its audit event, under a new revision so every
// replica's key table sees the name. Renaming to the same name changes
// nothing and writes no event.
func (db *DB) RenameKey(ctx context.Context, tenantID, keyID, name string, audit AuditInput) (*Key, error) {
	name, err := validateName("name", name, 100)
	if err != nil {
		return nil, err
	}
	var out *Key
	audit.TenantID, audit.TargetType, audit.TargetID = tenantID, "key", keyID
	err = db.changeRev(ctx, "rename key", func(tx *gorm.DB, rev int64) (*AuditInput, error) {
		k, err := getKeyTx(tx, tenantID, keyID)
		if err != nil {
			return nil, err
		}
		if k.Name == name {
			out = k
			return nil, nil
		}
		if taken, err := nameTaken(tx, "keys", tenantID, name, keyID); err != nil || taken {
			return nil, cmp.Or(err, error(ErrNameTaken))
		}
		res := tx.Table("keys").Where("tenant_id = ? AND id = ?", tenantID, keyID).
			Updates(map[string]any{"name": name, "updated_at": db.now(), "revision": rev})
		if err := oneRow(res); err != nil {
			return nil, duplicateName(err)
		}
		audit.Details = withDetails(audit.Details, "from", k.Name, "to", name)
		out, err = getKeyTx(tx, tenantID, keyID)
		return &audit, err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// TenantKeyRegions returns the KMS keys of every key of a tenant, by key
// id, primary first: one query for a list of keys.
func (db *DB) TenantKeyRegions(ctx context.Context, tenantID string) (map[string][]KeyRegion, error) {
	var rs []KeyRegion
	err := db.g.WithContext(ctx).Table("key_regions AS r").Select("r.*").
		Joins("JOIN keys k ON k.id = r.key_id").Where("k.tenant_id = ?", tenantID).
		Order("r.key_id, r.priority").Find(&rs).Error
	if err != nil {
		return nil, fmt.Errorf("tenant key regions: %w", mapErr(err))
	}
	out := map[string][]KeyRegion{}
	for _, r := range rs {
		out[r.KeyID] = append(out[r.KeyID], r)
	}
	return out, nil
}

// TenantManagedKeys returns the lifecycle records of a tenant's keys whose
// material keyport holds, by key id.
func (db *DB) TenantManagedKeys(ctx context.Context, tenantID string) (map[string]ManagedKey, error) {
	var ms []ManagedKey
	if err := db.g.WithContext(ctx).Table("managed_keys").Where("tenant_id = ?", tenantID).Find(&ms).Error; err != nil {
		return nil, fmt.Errorf("tenant managed keys: %w", mapErr(err))
	}
	out := make(map[string]ManagedKey, len(ms))
	for _, m := range ms {
		m.DeletionAt = tsPtr(m.DeletionAt)
		out[m.KeyID] = m
	}
	return out, nil
}

// OpenNotices lists a tenant's notices that nobody acknowledged yet and
// that are still planned or were sent (not cancelled), soonest due first.
func (db *DB) OpenNotices(ctx context.Context, tenantID string) ([]Notice, error) {
	var ns []Notice
	err := db.g.WithContext(ctx).Table("notices").
		Where("tenant_id = ? AND state <> ? AND acknowledged_at IS NULL", tenantID, NoticeCancelled).
		Order("due_at, id").Find(&ns).Error
	if err != nil {
		return nil, fmt.Errorf("open notices: %w", mapErr(err))
	}
	for i := range ns {
		ns[i].normalize()
	}
	return ns, nil
}
