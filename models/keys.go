package models

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"gorm.io/gorm"
)

// Key is one of a tenant's logical keys. Its KMS keys (one per region, for
// DR) are KeyRegions; its data keys are DataKeyVersions.
type Key struct {
	ID             string
	TenantID       string
	ConnectionID   string
	Name           string
	Mode           Mode
	State          KeyState
	Health         Health
	HealthDetail   string
	CurrentVersion int64
	// MinDecryptionVersion is the oldest data-key version that still
	// decrypts; 1 (the default) retires nothing.
	MinDecryptionVersion int64
	CacheEpoch           int64
	CreatedBy            string
	CreatedAt            time.Time
	UpdatedAt            time.Time
	ValidatedAt          *time.Time
	Revision             int64
	// TenantDataKeys: the tenant supplies the key's data keys (registered
	// with an encrypted data key); keyport never generates one for it, a
	// due rotation asks the tenant for the next.
	TenantDataKeys bool
}

// KeyRegion is the KMS key that wraps a key's data keys in one region.
// Priority 0 is the primary; decrypt falls back in priority order.
type KeyRegion struct {
	KeyID     string
	Region    string
	KMSKeyARN string `gorm:"column:kms_key_arn"`
	Priority  int
}

// DataKeyVersion is one data key of a key. Its plaintext never reaches the
// database: only KMS-wrapped copies (DataKeyWrap), one per region.
type DataKeyVersion struct {
	KeyID            string
	Version          int64
	Reason           string // "register", "manual", "scheduled", "retired"
	CreatedBy        string
	CreatedAt        time.Time
	MessagesReserved int64
	Encrypts         int64      // flushed counts of this version's use
	Decrypts         int64      //
	LastUsedAt       *time.Time // last encrypt or decrypt, nil if never used
	LastDecryptAt    *time.Time // last decrypt, nil if never decrypted
}

// DataKeyWrap is a data key version wrapped by one region's KMS key.
type DataKeyWrap struct {
	KeyID      string
	Version    int64
	Region     string
	KMSKeyARN  string `gorm:"column:kms_key_arn"`
	Ciphertext []byte
	// NoContext: KMS wrapped it without keyport's encryption context (a
	// tenant's own data key made with none); unwrap it without one.
	NoContext bool
}

// nextRevision bumps the provider-wide change counter inside tx and returns
// the new value; every change that replicas must notice carries one. The
// UPDATE locks the counter row until tx ends (on PostgreSQL as on SQLite),
// so revisions commit in the order they are handed out and a replica that
// polls "revision > last seen" never skips one committed late.
func nextRevision(tx *gorm.DB) (int64, error) {
	var rev int64
	if err := tx.Raw(`UPDATE change_counter SET revision = revision + 1 WHERE id = 1 RETURNING revision`).Scan(&rev).Error; err != nil {
		return 0, err
	}
	return rev, notifyChange(tx, rev)
}

// NewKey is what registering or creating a key records in one transaction.
type NewKey struct {
	Key     Key
	Regions []KeyRegion
	Version *DataKeyVersion // the first data key, if there is one yet
	Wraps   []DataKeyWrap
}

// CreateKey records a new key, its regions and its first data-key version,
// with the audit event, in one transaction. ID and times are filled in.
func (db *DB) CreateKey(ctx context.Context, nk *NewKey, audit AuditInput) error {
	k := &nk.Key
	if k.ID == "" {
		k.ID = NewID("key_")
	}
	name, err := validateName("name", k.Name, 100)
	if err != nil {
		return err
	}
	k.Name = name
	now := db.now()
	k.CreatedAt, k.UpdatedAt = now, now
	if k.Health == "" {
		k.Health = HealthUnknown
	}
	if len(nk.Regions) == 0 {
		return invalid("regions", "a key needs at least one KMS key")
	}
	audit.TenantID, audit.TargetType, audit.TargetID = k.TenantID, "key", k.ID
	return db.changeRev(ctx, "create key", func(tx *gorm.DB, rev int64) (*AuditInput, error) {
		if err := tenantOpenTx(tx, k.TenantID); err != nil {
			return nil, err
		}
		k.Revision = rev
		if nk.Version != nil {
			k.CurrentVersion = nk.Version.Version
		}
		if taken, err := nameTaken(tx, "keys", k.TenantID, name, ""); err != nil || taken {
			return nil, cmp.Or(err, error(ErrNameTaken))
		}
		if err := tx.Table("keys").Create(k).Error; err != nil {
			return nil, duplicateName(err)
		}
		for i := range nk.Regions {
			nk.Regions[i].KeyID = k.ID
		}
		if err := tx.Table("key_regions").Create(&nk.Regions).Error; err != nil {
			return nil, err
		}
		if nk.Version != nil {
			if err := insertVersion(tx, k.ID, nk.Version, nk.Wraps, now); err != nil {
				return nil, err
			}
		}
		return &audit, nil
	})
}

func insertVersion(tx *gorm.DB, keyID string, v *DataKeyVersion, wraps []DataKeyWrap, now time.Time) error {
	if len(wraps) == 0 {
		return invalid("wraps", "a data key version needs at least one wrapped copy")
	}
	v.KeyID, v.CreatedAt = keyID, now
	if err := tx.Table("data_key_versions").Create(v).Error; err != nil {
		return err
	}
	for i := range wraps {
		wraps[i].KeyID, wraps[i].Version = keyID, v.Version
	}
	return tx.Table("data_key_wraps").Create(&wraps).Error
}

// AddDataKeyVersion records the next data-key version of a key and makes it
// current, with the audit event. The version number must be current+1, so
// two concurrent rotations cannot both succeed (the loser gets ErrConflict).
// Concurrent calls in this process commit together (see versionBatcher).
func (db *DB) AddDataKeyVersion(ctx context.Context, tenantID, keyID string, v *DataKeyVersion, wraps []DataKeyWrap, audit AuditInput) error {
	audit.TenantID, audit.TargetType, audit.TargetID = tenantID, "key", keyID
	if len(wraps) == 0 {
		return fmt.Errorf("add data key version: %w", invalid("wraps", "a data key version needs at least one wrapped copy"))
	}
	return db.versions.add(ctx, db, &versionWrite{tenantID: tenantID, keyID: keyID, v: v, wraps: wraps, audit: audit})
}

// addDataKeyVersionAlone is AddDataKeyVersion in a transaction of its own.
func (db *DB) addDataKeyVersionAlone(ctx context.Context, w *versionWrite) error {
	return db.changeRev(ctx, "add data key version", func(tx *gorm.DB, rev int64) (*AuditInput, error) {
		if err := addVersionTx(tx, w, rev, db.now()); err != nil {
			return nil, err
		}
		return &w.audit, nil
	})
}

// addVersionTx moves the key of w to its new version (if it is still on
// the one before) and records the version, stamped with rev.
func addVersionTx(tx *gorm.DB, w *versionWrite, rev int64, now time.Time) error {
	res := tx.Table("keys").Where("tenant_id = ? AND id = ? AND current_version = ?", w.tenantID, w.keyID, w.v.Version-1).
		Updates(map[string]any{"current_version": w.v.Version, "updated_at": now, "revision": rev})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		if _, err := getKeyTx(tx, w.tenantID, w.keyID); err != nil {
			return err
		}
		return ErrConflict
	}
	return insertVersion(tx, w.keyID, w.v, w.wraps, now)
}

func getKeyTx(tx *gorm.DB, tenantID, keyID string) (*Key, error) {
	var k Key
	if err := tx.Table("keys").Where("tenant_id = ? AND id = ?", tenantID, keyID).Take(&k).Error; err != nil {
		return nil, err
	}
	fixKeyTimes(&k)
	return &k, nil
}

func fixKeyTimes(k *Key) {
	k.CreatedAt, k.UpdatedAt, k.ValidatedAt = k.CreatedAt.UTC(), k.UpdatedAt.UTC(), tsPtr(k.ValidatedAt)
}

// GetKey returns a tenant's key, or ErrNotFound (also for another tenant's).
func (db *DB) GetKey(ctx context.Context, tenantID, keyID string) (*Key, error) {
	k, err := getKeyTx(db.reader(ctx), tenantID, keyID)
	if err != nil {
		return nil, fmt.Errorf("get key: %w", mapErr(err))
	}
	return k, nil
}

// ListKeys lists a tenant's keys by name.
func (db *DB) ListKeys(ctx context.Context, tenantID string) ([]Key, error) {
	var ks []Key
	if err := db.g.WithContext(ctx).Table("keys").Where("tenant_id = ?", tenantID).Order("lower(name), id").Find(&ks).Error; err != nil {
		return nil, fmt.Errorf("list keys: %w", mapErr(err))
	}
	for i := range ks {
		fixKeyTimes(&ks[i])
	}
	return ks, nil
}

// KeysChangedSince returns every key (of every tenant) whose revision is
// above rev, for the replicas' in-memory key table.
func (db *DB) KeysChangedSince(ctx context.Context, rev int64) ([]Key, error) {
	var ks []Key
	if err := db.g.WithContext(ctx).Table("keys").Where("revision > ?", rev).Order("revision").Find(&ks).Error; err != nil {
		return nil, fmt.Errorf("keys changed since %d: %w", rev, mapErr(err))
	}
	for i := range ks {
		fixKeyTimes(&ks[i])
	}
	return ks, nil
}

// KeyRegions lists a key's KMS keys, primary first.
func (db *DB) KeyRegions(ctx context.Context, tenantID, keyID string) ([]KeyRegion, error) {
	var rs []KeyRegion
	err := db.reader(ctx).Table("key_regions AS r").Select("r.*").
		Joins("JOIN keys k ON k.id = r.key_id").Where("k.tenant_id = ? AND r.key_id = ?", tenantID, keyID).
		Order("r.priority").Find(&rs).Error
	if err != nil {
		return nil, fmt.Errorf("key regions: %w", mapErr(err))
	}
	return rs, nil
}

// DataKeyWraps returns the wrapped copies of one data-key version, primary
// region first; ErrNotFound when the version does not exist for the tenant.
func (db *DB) DataKeyWraps(ctx context.Context, tenantID, keyID string, version int64) ([]DataKeyWrap, error) {
	var ws []DataKeyWrap
	err := db.g.WithContext(ctx).Table("data_key_wraps AS w").Select("w.*").
		Joins("JOIN keys k ON k.id = w.key_id").
		Joins("LEFT JOIN key_regions r ON r.key_id = w.key_id AND r.region = w.region").
		Where("k.tenant_id = ? AND w.key_id = ? AND w.version = ?", tenantID, keyID, version).
		Order("COALESCE(r.priority, 1000), w.region").Find(&ws).Error
	if err != nil {
		return nil, fmt.Errorf("data key wraps: %w", mapErr(err))
	}
	if len(ws) == 0 {
		return nil, fmt.Errorf("data key wraps: %w", ErrNotFound)
	}
	return ws, nil
}

// WrapRef names one data-key version of a tenant's key.
type WrapRef struct {
	TenantID string
	KeyID    string
	Version  int64
}

// DataKeyWrapsMany is DataKeyWraps for several versions in one query (the
// data path reads the misses of many requests at once). A version that does
// not exist for its tenant is absent from the result.
func (db *DB) DataKeyWrapsMany(ctx context.Context, refs []WrapRef) (map[WrapRef][]DataKeyWrap, error) {
	if len(refs) == 0 {
		return map[WrapRef][]DataKeyWrap{}, nil
	}
	ids := make([]string, 0, len(refs))
	seen := make(map[string]bool, len(refs))
	for _, r := range refs {
		if !seen[r.KeyID] {
			seen[r.KeyID] = true
			ids = append(ids, r.KeyID)
		}
	}
	var rows []struct {
		DataKeyWrap
		TenantID string
	}
	// One indexed lookup per key; the versions asked for are picked below
	// (a key has few versions, and the OR of one condition per version
	// would cost the database more than the rows it saves).
	err := db.g.WithContext(ctx).Table("data_key_wraps AS w").Select("w.*, k.tenant_id AS tenant_id").
		Joins("JOIN keys k ON k.id = w.key_id").
		Joins("LEFT JOIN key_regions r ON r.key_id = w.key_id AND r.region = w.region").
		Where("w.key_id IN ?", ids).
		Order("w.key_id, w.version, COALESCE(r.priority, 1000), w.region").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("data key wraps: %w", mapErr(err))
	}
	want := make(map[WrapRef]bool, len(refs))
	for _, r := range refs {
		want[r] = true
	}
	out := make(map[WrapRef][]DataKeyWrap, len(refs))
	for _, r := range rows {
		ref := WrapRef{TenantID: r.TenantID, KeyID: r.KeyID, Version: r.Version}
		if want[ref] {
			out[ref] = append(out[ref], r.DataKeyWrap)
		}
	}
	return out, nil
}

// DataKeyVersions lists a key's data-key versions, newest first.
func (db *DB) DataKeyVersions(ctx context.Context, tenantID, keyID string) ([]DataKeyVersion, error) {
	var vs []DataKeyVersion
	err := db.g.WithContext(ctx).Table("data_key_versions AS v").Select("v.*").
		Joins("JOIN keys k ON k.id = v.key_id").Where("k.tenant_id = ? AND v.key_id = ?", tenantID, keyID).
		Order("v.version DESC").Find(&vs).Error
	if err != nil {
		return nil, fmt.Errorf("data key versions: %w", mapErr(err))
	}
	for i := range vs {
		vs[i].CreatedAt = vs[i].CreatedAt.UTC()
		for _, t := range []*time.Time{vs[i].LastUsedAt, vs[i].LastDecryptAt} {
			if t != nil {
				*t = t.UTC()
			}
		}
	}
	return vs, nil
}

// ReserveMessages reserves n more messages of the budget of a data-key
// version of a tenant's key, refusing (ErrConflict) past limit: each replica
// encrypts only within the blocks it reserved, so the total across replicas
// never exceeds limit.
func (db *DB) ReserveMessages(ctx context.Context, tenantID, keyID string, version, n, limit int64) error {
	res := db.g.WithContext(ctx).Exec(`UPDATE data_key_versions SET messages_reserved = messages_reserved + ?
		WHERE key_id = (SELECT id FROM keys WHERE tenant_id = ? AND id = ?) AND version = ? AND messages_reserved + ? <= ?`,
		n, tenantID, keyID, version, n, limit)
	if res.Error != nil {
		return fmt.Errorf("reserve messages: %w", mapErr(res.Error))
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("reserve messages: %w", ErrConflict)
	}
	return nil
}

// KeyUpdate is a change to a key's state or health.
type KeyUpdate struct {
	State        *KeyState
	Health       *Health
	HealthDetail *string
	Validated    bool // stamp validated_at with now
	BumpEpoch    bool // invalidate every replica's cached data keys of this key
}

// UpdateKey applies u to a tenant's key with a new revision; audit is
// written in the same transaction unless its Action is empty (health
// changes seen on the data path are recorded by the caller's own event).
func (db *DB) UpdateKey(ctx context.Context, tenantID, keyID string, u KeyUpdate, audit AuditInput) (*Key, error) {
	var out *Key
	audit.TenantID, audit.TargetType, audit.TargetID = tenantID, "key", keyID
	err := db.changeRev(ctx, "update key", func(tx *gorm.DB, rev int64) (*AuditInput, error) {
		now := db.now()
		set := map[string]any{"updated_at": now, "revision": rev}
		if u.State != nil {
			set["state"] = *u.State
		}
		if u.Health != nil {
			set["health"] = *u.Health
		}
		if u.HealthDetail != nil {
			set["health_detail"] = *u.HealthDetail
		}
		if u.Validated {
			set["validated_at"] = now
		}
		if u.BumpEpoch {
			set["cache_epoch"] = gorm.Expr("cache_epoch + 1")
		}
		res := tx.Table("keys").Where("tenant_id = ? AND id = ?", tenantID, keyID).Updates(set)
		if err := oneRow(res); err != nil {
			return nil, err
		}
		var err error
		out, err = getKeyTx(tx, tenantID, keyID)
		return optional(&audit), err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PurgeTenantKeys bumps the cache epoch of every key of a tenant, with one
// audit event.
func (db *DB) PurgeTenantKeys(ctx context.Context, tenantID string, audit AuditInput) error {
	audit.TenantID, audit.TargetType, audit.TargetID = tenantID, "tenant", tenantID
	return db.changeRev(ctx, "purge tenant keys", func(tx *gorm.DB, rev int64) (*AuditInput, error) {
		if err := tx.Table("keys").Where("tenant_id = ?", tenantID).
			Updates(map[string]any{"cache_epoch": gorm.Expr("cache_epoch + 1"), "revision": rev, "updated_at": db.now()}).Error; err != nil {
			return nil, err
		}
		return &audit, nil
	})
}

// validateName trims a display name and checks it: valid text, not empty,
// at most max characters, no control characters.
// ValidateName checks a name a person typed (trimmed, at most max
// characters, no control characters) the way the store will, so a form can
// report it beside its other errors; it returns the trimmed name.
func ValidateName(field, name string, max int) (string, error) { return validateName(field, name, max) }

func validateName(field, name string, max int) (string, error) {
	name = strings.TrimSpace(name)
	switch {
	case !utf8.ValidString(name):
		return "", invalid(field, "is not valid text")
	case name == "":
		return "", invalid(field, "is required")
	case utf8.RuneCountInString(name) > max:
		return "", invalid(field, fmt.Sprintf("must be at most %d characters", max))
	case strings.ContainsFunc(name, unicode.IsControl):
		return "", invalid(field, "must not contain control characters")
	}
	return name, nil
}
