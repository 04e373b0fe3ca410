package models

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"gorm.io/gorm"
)

// Material states. Exactly one material of a live key is active: the one
// whose KMS key the alias names and new data keys are wrapped under.
// Previous materials' KMS keys stay enabled so old data decrypts.
const (
	MaterialPending   = "pending"   // generated or uploaded, not yet imported and committed
	MaterialActive    = "active"    // the alias target
	MaterialPrevious  = "previous"  // replaced by a renewal; its KMS key still decrypts
	MaterialDiscarded = "discarded" // an operation that made it was rolled back
)

// Material sources.
const (
	SourceGenerated = "generated" // keyport's crypto/rand (mode 2)
	SourceTenant    = "tenant"    // uploaded by the tenant through an import request (mode 3)
)

// ManagedKey is what keyport records about a key whose material it holds.
type ManagedKey struct {
	KeyID        string
	TenantID     string
	StoreID      string
	AliasName    string // "alias/keyport/..." in the store's account and region
	ValidDays    int    // material expiry in KMS, days after each import; 0 = never
	AutoReupload bool   // re-import before ValidTo instead of only reminding
	Held         bool   // keyport keeps the material for the provider's use; nothing is imported into KMS
	DeletionAt   *time.Time
	UpdatedAt    time.Time
}

// KeyMaterial is one version of a key's material. Sealed is the material
// under the provider KEK; it is opened only to import or export.
type KeyMaterial struct {
	ID             string
	KeyID          string
	TenantID       string
	Seq            int
	Source         string
	Sealed         []byte
	Fingerprint    string
	KMSKeyARN      string `gorm:"column:kms_key_arn"`
	State          string
	DataKeyVersion int64
	ValidTo        *time.Time
	ImportedAt     *time.Time
	CreatedBy      string
	CreatedAt      time.Time
}

// String leaves the sealed material out of logs.
func (m KeyMaterial) String() string {
	return fmt.Sprintf("models.KeyMaterial{id: %s, key: %s, seq: %d, state: %s}", m.ID, m.KeyID, m.Seq, m.State)
}

// LogValue redacts for slog too (its JSON handler ignores String).
func (m KeyMaterial) LogValue() slog.Value { return slog.StringValue(m.String()) }

func fixMaterial(m *KeyMaterial) {
	m.CreatedAt, m.ValidTo, m.ImportedAt = m.CreatedAt.UTC(), tsPtr(m.ValidTo), tsPtr(m.ImportedAt)
}

// GetManagedKey returns the lifecycle record of a tenant's key; ErrNotFound
// for a customer-managed key (mode 1) or another tenant's.
func (db *DB) GetManagedKey(ctx context.Context, tenantID, keyID string) (*ManagedKey, error) {
	var m ManagedKey
	if err := db.g.WithContext(ctx).Table("managed_keys").Where("tenant_id = ? AND key_id = ?", tenantID, keyID).Take(&m).Error; err != nil {
		return nil, fmt.Errorf("get managed key: %w", mapErr(err))
	}
	m.DeletionAt = tsPtr(m.DeletionAt)
	return &m, nil
}

// ManagedKeysPendingDeletion lists every tenant's managed keys whose
// deletion date has passed, for the background pass that marks them DELETED.
func (db *DB) ManagedKeysPendingDeletion(ctx context.Context, before time.Time) ([]ManagedKey, error) {
	var out []ManagedKey
	err := db.g.WithContext(ctx).Table("managed_keys AS m").Select("m.*").Joins("JOIN keys k ON k.id = m.key_id").
		Where("k.state = ? AND m.deletion_at IS NOT NULL AND m.deletion_at <= ?", StatePendingDeletion, ts(before)).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("managed keys pending deletion: %w", mapErr(err))
	}
	return out, nil
}

// ManagedKeyIDs lists the ids of every live managed key of every tenant
// (tenant id, key id), for the drift and expiry passes.
func (db *DB) ManagedKeyIDs(ctx context.Context) ([][2]string, error) {
	var rows []struct{ TenantID, KeyID string }
	err := db.g.WithContext(ctx).Table("managed_keys AS m").Select("m.tenant_id, m.key_id").Joins("JOIN keys k ON k.id = m.key_id").
		Where("k.state IN ?", []KeyState{StateEnabled, StateDisabled}).Order("m.key_id").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("managed key ids: %w", mapErr(err))
	}
	out := make([][2]string, len(rows))
	for i, r := range rows {
		out[i] = [2]string{r.TenantID, r.KeyID}
	}
	return out, nil
}

// KeyMaterials lists a tenant key's materials, newest first.
func (db *DB) KeyMaterials(ctx context.Context, tenantID, keyID string) ([]KeyMaterial, error) {
	var out []KeyMaterial
	err := db.g.WithContext(ctx).Table("key_materials").Where("tenant_id = ? AND key_id = ?", tenantID, keyID).Order("seq DESC").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("key materials: %w", mapErr(err))
	}
	for i := range out {
		fixMaterial(&out[i])
	}
	return out, nil
}

// GetKeyMaterial returns one material of a tenant's key.
func (db *DB) GetKeyMaterial(ctx context.Context, tenantID, id string) (*KeyMaterial, error) {
	var m KeyMaterial
	if err := db.g.WithContext(ctx).Table("key_materials").Where("tenant_id = ? AND id = ?", tenantID, id).Take(&m).Error; err != nil {
		return nil, fmt.Errorf("get key material: %w", mapErr(err))
	}
	fixMaterial(&m)
	return &m, nil
}

// ActiveMaterial returns the active material of a tenant's key.
func (db *DB) ActiveMaterial(ctx context.Context, tenantID, keyID string) (*KeyMaterial, error) {
	var m KeyMaterial
	err := db.g.WithContext(ctx).Table("key_materials").Where("tenant_id = ? AND key_id = ? AND state = ?", tenantID, keyID, MaterialActive).
		Take(&m).Error
	if err != nil {
		return nil, fmt.Errorf("active material: %w", mapErr(err))
	}
	fixMaterial(&m)
	return &m, nil
}

// MaterialExpiries maps each of a tenant's keys whose active material
// expires in KMS to that expiry: one query for the keys list and the
// dashboard, which show such keys as expiring.
func (db *DB) MaterialExpiries(ctx context.Context, tenantID string) (map[string]time.Time, error) {
	var rows []struct {
		KeyID   string
		ValidTo time.Time
	}
	err := db.g.WithContext(ctx).Table("key_materials").Select("key_id, valid_to").
		Where("tenant_id = ? AND state = ? AND valid_to IS NOT NULL", tenantID, MaterialActive).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("material expiries: %w", mapErr(err))
	}
	out := make(map[string]time.Time, len(rows))
	for _, r := range rows {
		out[r.KeyID] = r.ValidTo.UTC()
	}
	return out, nil
}

// MaterialImported records a successful import of a material into its KMS
// key (first import or re-upload) with its expiry, and the audit event.
func (db *DB) MaterialImported(ctx context.Context, tenantID, materialID string, validTo *time.Time, audit *AuditInput) error {
	return db.change(ctx, "record material import", func(tx *gorm.DB) (*AuditInput, error) {
		var vt any
		if validTo != nil {
			vt = ts(*validTo)
		}
		res := tx.Table("key_materials").Where("tenant_id = ? AND id = ?", tenantID, materialID).
			Updates(map[string]any{"valid_to": vt, "imported_at": db.now()})
		if err := oneRow(res); err != nil {
			return nil, err
		}
		return optional(audit), nil
	})
}

// CountDataKeyVersions is how many data-key versions a tenant's key has:
// each one is data that only this key's KMS keys can unwrap.
func (db *DB) CountDataKeyVersions(ctx context.Context, tenantID, keyID string) (int64, error) {
	var n int64
	err := db.g.WithContext(ctx).Table("data_key_versions AS v").Joins("JOIN keys k ON k.id = v.key_id").
		Where("k.tenant_id = ? AND v.key_id = ?", tenantID, keyID).Count(&n).Error
	if err != nil {
		return 0, fmt.Errorf("count data key versions: %w", mapErr(err))
	}
	return n, nil
}

// SetKeyDeletion moves a managed key into or out of its deletion window:
// with at set the key is PENDING_DELETION until at, with at nil it is
// back to DISABLED (a cancelled deletion leaves the KMS keys disabled).
func (db *DB) SetKeyDeletion(ctx context.Context, tenantID, keyID string, at *time.Time, state KeyState, audit AuditInput) (*Key, error) {
	var out *Key
	audit.TenantID, audit.TargetType, audit.TargetID = tenantID, "key", keyID
	err := db.changeRev(ctx, "set key deletion", func(tx *gorm.DB, rev int64) (*AuditInput, error) {
		var da any
		if at != nil {
			da = ts(*at)
		}
		now := db.now()
		res := tx.Table("managed_keys").Where("tenant_id = ? AND key_id = ?", tenantID, keyID).
			Updates(map[string]any{"deletion_at": da, "updated_at": now})
		if err := oneRow(res); err != nil {
			return nil, err
		}
		if err := tx.Table("keys").Where("tenant_id = ? AND id = ?", tenantID, keyID).Updates(map[string]any{
			"state": state, "revision": rev, "updated_at": now, "cache_epoch": gorm.Expr("cache_epoch + 1")}).Error; err != nil {
			return nil, err
		}
		var err error
		out, err = getKeyTx(tx, tenantID, keyID)
		return &audit, err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// MarkKeyDeleted ends a managed key whose deletion window passed: the key
// is DELETED and every sealed copy of its material is erased, so nothing
// keyport holds can bring it back.
func (db *DB) MarkKeyDeleted(ctx context.Context, tenantID, keyID string, audit AuditInput) error {
	audit.TenantID, audit.TargetType, audit.TargetID = tenantID, "key", keyID
	return db.changeRev(ctx, "mark key deleted", func(tx *gorm.DB, rev int64) (*AuditInput, error) {
		res := tx.Table("keys").Where("tenant_id = ? AND id = ? AND state = ?", tenantID, keyID, StatePendingDeletion).
			Updates(map[string]any{"state": StateDeleted, "revision": rev, "updated_at": db.now(), "cache_epoch": gorm.Expr("cache_epoch + 1")})
		if err := errIfNone(res); err != nil {
			return nil, err
		}
		if err := tx.Table("key_materials").Where("tenant_id = ? AND key_id = ?", tenantID, keyID).
			Update("sealed", []byte{}).Error; err != nil {
			return nil, err
		}
		return &audit, nil
	})
}

// KeyDrift is one difference between what keyport recorded about a key
// and what KMS says.
type KeyDrift struct {
	KeyID      string
	TenantID   string
	Field      string
	Recorded   string
	Actual     string
	DetectedAt time.Time
}

// ReplaceKeyDrift stores a key's differences as found now, replacing the
// previous finding; the audit event is written only when they changed.
func (db *DB) ReplaceKeyDrift(ctx context.Context, tenantID, keyID string, ds []KeyDrift, audit AuditInput) (changed bool, err error) {
	err = db.change(ctx, "replace key drift", func(tx *gorm.DB) (*AuditInput, error) {
		var old []KeyDrift
		if err := tx.Table("key_drift").Where("tenant_id = ? AND key_id = ?", tenantID, keyID).Order("field").Find(&old).Error; err != nil {
			return nil, err
		}
		same := len(old) == len(ds)
		for i := 0; same && i < len(ds); i++ {
			same = old[i].Field == ds[i].Field && old[i].Actual == ds[i].Actual && old[i].Recorded == ds[i].Recorded
		}
		if same {
			return nil, nil
		}
		changed = true
		if err := tx.Exec(`DELETE FROM key_drift WHERE tenant_id = ? AND key_id = ?`, tenantID, keyID).Error; err != nil {
			return nil, err
		}
		now := db.now()
		for i := range ds {
			ds[i].KeyID, ds[i].TenantID, ds[i].DetectedAt = keyID, tenantID, now
		}
		if len(ds) > 0 {
			if err := tx.Table("key_drift").Create(&ds).Error; err != nil {
				return nil, err
			}
		}
		audit.TenantID, audit.TargetType, audit.TargetID = tenantID, "key", keyID
		return &audit, nil
	})
	if err != nil {
		return false, err
	}
	return changed, nil
}

// KeyDrifts lists a tenant key's differences (tenantID "" and keyID ""
// list every tenant's, for the operator).
func (db *DB) KeyDrifts(ctx context.Context, tenantID, keyID string) ([]KeyDrift, error) {
	q := db.g.WithContext(ctx).Table("key_drift")
	if tenantID != "" {
		q = q.Where("tenant_id = ? AND key_id = ?", tenantID, keyID)
	}
	var out []KeyDrift
	if err := q.Order("tenant_id, key_id, field").Limit(1000).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("key drift: %w", mapErr(err))
	}
	return out, nil
}

// ExpiringMaterial is a material imported into KMS with an expiry, of a
// live managed key, with what a reminder about it says.
type ExpiringMaterial struct {
	ID           string
	KeyID        string
	TenantID     string
	Seq          int
	Fingerprint  string
	State        string
	ValidTo      time.Time
	KeyHealth    string
	AutoReupload bool
}

// MaterialsExpiring lists the active and previous materials of every
// tenant's live managed keys whose expiry in KMS is in [from, to], soonest
// first: the reminders' pass.
func (db *DB) MaterialsExpiring(ctx context.Context, from, to time.Time, limit int) ([]ExpiringMaterial, error) {
	var out []ExpiringMaterial
	err := db.g.WithContext(ctx).Table("key_materials AS m").
		Select("m.id, m.key_id, m.tenant_id, m.seq, m.fingerprint, m.state, m.valid_to, k.health AS key_health, mk.auto_reupload").
		Joins("JOIN keys k ON k.id = m.key_id").Joins("JOIN managed_keys mk ON mk.key_id = m.key_id").
		Where("k.state IN ? AND m.state IN ? AND m.kms_key_arn <> '' AND m.valid_to IS NOT NULL AND m.valid_to >= ? AND m.valid_to <= ?",
			[]KeyState{StateEnabled, StateDisabled}, []string{MaterialActive, MaterialPrevious}, ts(from), ts(to)).
		Order("m.valid_to, m.id").Limit(max(limit, 1)).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("materials expiring: %w", mapErr(err))
	}
	for i := range out {
		out[i].ValidTo = out[i].ValidTo.UTC()
	}
	return out, nil
}
