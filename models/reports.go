package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// KeyReport is everything the compliance reports say about one key, read in
// a few queries for a whole tenant (or, for operators, every tenant). It
// holds no secret: wrapped data keys are reduced to fingerprints here.
type KeyReport struct {
	Key        Key
	TenantName string
	Connection string // the AWS connection (key store) the key is used through
	AccountID  string
	Regions    []KeyRegion        // primary first
	Versions   []KeyReportVersion // newest first
	Validation *KeyValidation     // the latest, nil when never validated
	// Managed is the lifecycle record of a key whose material keyport
	// holds (modes 2 and 3), with its key store's name and its active
	// material's expiry in KMS; nil for a customer-managed key.
	Managed *KeyReportManaged
	// RotationPeriodDays is the key's own rotation policy; 0 when it has none.
	RotationPeriodDays int
	NextRotationAt     *time.Time // the policy's next rotation, nil without a policy
}

// KeyReportManaged is what reports need of a key whose material keyport holds.
type KeyReportManaged struct {
	StoreName       string
	AliasName       string
	ValidDays       int  // 0: the material never expires in KMS
	Held            bool // kept by keyport, never imported into KMS
	MaterialValidTo *time.Time
}

// KeyReportVersion is a data-key version with its fingerprint.
type KeyReportVersion struct {
	DataKeyVersion
	// Fingerprint is the hex SHA-256 of the version's wrapped copy in the
	// primary region. The plaintext never reaches the database; the wrapped
	// copy identifies the version, and a swapped copy changes it.
	Fingerprint string
}

// KeyReports returns the report data of every key of a tenant, by name.
func (db *DB) KeyReports(ctx context.Context, tenantID string) ([]KeyReport, error) {
	if tenantID == "" {
		return nil, fmt.Errorf("key reports: %w", ErrNotFound)
	}
	return db.keyReports(ctx, tenantID)
}

// KeyReportsAllTenants returns the report data of every key of every tenant,
// by tenant and name: the operator's view.
func (db *DB) KeyReportsAllTenants(ctx context.Context) ([]KeyReport, error) {
	return db.keyReports(ctx, "")
}

// keyReports reads keys and their parts; tenantID "" means every tenant,
// which only the two exported wrappers above decide.
func (db *DB) keyReports(ctx context.Context, tenantID string) ([]KeyReport, error) {
	g := db.g.WithContext(ctx)
	scope := func(q *gorm.DB) *gorm.DB {
		if tenantID != "" {
			return q.Where("k.tenant_id = ?", tenantID)
		}
		return q
	}
	var rows []struct {
		Key
		TenantName     string
		ConnectionName string
		AccountID      string
	}
	err := scope(g.Table("keys AS k").
		Select("k.*, t.name AS tenant_name, c.name AS connection_name, c.account_id AS account_id").
		Joins("JOIN tenants t ON t.id = k.tenant_id").
		Joins("LEFT JOIN aws_connections c ON c.id = k.connection_id")).
		Order("lower(t.name), t.id, lower(k.name), k.id").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("key reports: %w", mapErr(err))
	}
	out := make([]KeyReport, len(rows))
	byID := make(map[string]*KeyReport, len(rows))
	for i, r := range rows {
		k := r.Key
		fixKeyTimes(&k)
		out[i] = KeyReport{Key: k, TenantName: r.TenantName, Connection: r.ConnectionName, AccountID: r.AccountID}
		byID[k.ID] = &out[i]
	}
	if len(out) == 0 {
		return out, nil
	}

	var regions []KeyRegion
	if err := scope(g.Table("key_regions AS r").Select("r.*").Joins("JOIN keys k ON k.id = r.key_id")).
		Order("r.key_id, r.priority").Find(&regions).Error; err != nil {
		return nil, fmt.Errorf("key reports: regions: %w", mapErr(err))
	}
	for _, r := range regions {
		if kr := byID[r.KeyID]; kr != nil {
			kr.Regions = append(kr.Regions, r)
		}
	}

	var versions []DataKeyVersion
	if err := scope(g.Table("data_key_versions AS v").Select("v.*").Joins("JOIN keys k ON k.id = v.key_id")).
		Order("v.key_id, v.version DESC").Find(&versions).Error; err != nil {
		return nil, fmt.Errorf("key reports: versions: %w", mapErr(err))
	}
	fps, err := db.wrapFingerprints(ctx, scope)
	if err != nil {
		return nil, err
	}
	for _, v := range versions {
		if kr := byID[v.KeyID]; kr != nil {
			v.CreatedAt = v.CreatedAt.UTC()
			kr.Versions = append(kr.Versions, KeyReportVersion{DataKeyVersion: v, Fingerprint: fps[fpKey{v.KeyID, v.Version}]})
		}
	}

	if err := db.keyReportPolicies(ctx, scope, byID); err != nil {
		return nil, err
	}

	// Validations are pruned to a few per key, so reading them all and
	// keeping the newest is cheaper than a correlated subquery per key.
	var vals []KeyValidation
	if err := scope(g.Table("key_validations AS v").Select("v.*").Joins("JOIN keys k ON k.id = v.key_id")).
		Order("v.key_id, v.created_at DESC, v.id DESC").Find(&vals).Error; err != nil {
		return nil, fmt.Errorf("key reports: validations: %w", mapErr(err))
	}
	for i := range vals {
		if kr := byID[vals[i].KeyID]; kr != nil && kr.Validation == nil && vals[i].TenantID == kr.Key.TenantID {
			vals[i].CreatedAt = vals[i].CreatedAt.UTC()
			kr.Validation = &vals[i]
		}
	}
	return out, nil
}

// keyReportPolicies adds each key's store, alias, material expiry and
// rotation policy.
func (db *DB) keyReportPolicies(ctx context.Context, scope func(*gorm.DB) *gorm.DB, byID map[string]*KeyReport) error {
	g := db.g.WithContext(ctx)
	var mks []struct {
		KeyID     string
		StoreName string
		AliasName string
		ValidDays int
		Held      bool
	}
	if err := scope(g.Table("managed_keys AS m").Select("m.key_id, COALESCE(s.name, '') AS store_name, m.alias_name, m.valid_days, m.held").
		Joins("JOIN keys k ON k.id = m.key_id AND k.tenant_id = m.tenant_id").
		Joins("LEFT JOIN key_stores s ON s.id = m.store_id AND s.tenant_id = m.tenant_id")).Scan(&mks).Error; err != nil {
		return fmt.Errorf("key reports: managed keys: %w", mapErr(err))
	}
	for _, m := range mks {
		if kr := byID[m.KeyID]; kr != nil {
			kr.Managed = &KeyReportManaged{StoreName: m.StoreName, AliasName: m.AliasName, ValidDays: m.ValidDays, Held: m.Held}
		}
	}
	var mats []KeyMaterial
	if err := scope(g.Table("key_materials AS km").Select("km.key_id, km.valid_to").
		Joins("JOIN keys k ON k.id = km.key_id AND k.tenant_id = km.tenant_id").Where("km.state = ?", MaterialActive)).Scan(&mats).Error; err != nil {
		return fmt.Errorf("key reports: materials: %w", mapErr(err))
	}
	for _, m := range mats {
		if kr := byID[m.KeyID]; kr != nil && kr.Managed != nil {
			kr.Managed.MaterialValidTo = tsPtr(m.ValidTo)
		}
	}
	var pols []RotationPolicy
	if err := scope(g.Table("rotation_policies AS p").Select("p.key_id, p.period_days, p.next_rotation_at").
		Joins("JOIN keys k ON k.id = p.key_id AND k.tenant_id = p.tenant_id")).Scan(&pols).Error; err != nil {
		return fmt.Errorf("key reports: rotation policies: %w", mapErr(err))
	}
	for _, p := range pols {
		if kr := byID[p.KeyID]; kr != nil {
			next := p.NextRotationAt.UTC()
			kr.RotationPeriodDays, kr.NextRotationAt = p.PeriodDays, &next
		}
	}
	return nil
}

type fpKey struct {
	keyID   string
	version int64
}

// wrapFingerprints hashes each version's primary-region wrapped copy.
func (db *DB) wrapFingerprints(ctx context.Context, scope func(*gorm.DB) *gorm.DB) (map[fpKey]string, error) {
	var wraps []struct {
		KeyID      string
		Version    int64
		Ciphertext []byte
	}
	err := scope(db.g.WithContext(ctx).Table("data_key_wraps AS w").Select("w.key_id, w.version, w.ciphertext").
		Joins("JOIN keys k ON k.id = w.key_id").
		Joins("LEFT JOIN key_regions r ON r.key_id = w.key_id AND r.region = w.region")).
		Order("w.key_id, w.version, COALESCE(r.priority, 1000), w.region").Scan(&wraps).Error
	if err != nil {
		return nil, fmt.Errorf("key reports: wraps: %w", mapErr(err))
	}
	out := make(map[fpKey]string, len(wraps))
	for _, w := range wraps {
		k := fpKey{w.KeyID, w.Version}
		if _, seen := out[k]; !seen { // the first is the primary region's
			sum := sha256.Sum256(w.Ciphertext)
			out[k] = hex.EncodeToString(sum[:])
		}
	}
	return out, nil
}

// KeyUsageRow is one key's use in one hour, for the activity report.
type KeyUsageRow struct {
	KeyUsage
	TenantID string
	KeyName  string
}

// KeyUsageBetween returns the per-hour usage counts of a scope's keys for
// the hours that overlap [from, to), by hour and key name.
func (db *DB) KeyUsageBetween(ctx context.Context, scope AuditScope, from, to time.Time) ([]KeyUsageRow, error) {
	const hour = "2006-01-02T15"
	q := db.g.WithContext(ctx).Table("key_usage AS u").
		Select("u.*, k.tenant_id AS tenant_id, k.name AS key_name").
		Joins("JOIN keys k ON k.id = u.key_id")
	if !scope.allTenants {
		q = q.Where("k.tenant_id = ?", scope.tenantID)
	}
	if !from.IsZero() {
		q = q.Where("u.period >= ?", from.UTC().Format(hour))
	}
	if !to.IsZero() {
		q = q.Where("u.period < ?", to.UTC().Add(time.Hour-time.Nanosecond).Format(hour))
	}
	var out []KeyUsageRow
	if err := q.Order("u.period, k.tenant_id, lower(k.name), k.id").Scan(&out).Error; err != nil {
		return nil, fmt.Errorf("key usage between: %w", mapErr(err))
	}
	return out, nil
}

// TenantKeyCount is how many of a tenant's keys (not deleted) have one
// state and health, for the operator's overview.
type TenantKeyCount struct {
	TenantID   string
	TenantName string
	State      KeyState // "" for a tenant without keys
	Health     Health   // "" for a tenant without keys
	Count      int
}

// TenantKeyCounts counts every tenant's keys by state and health, by
// tenant name.
func (db *DB) TenantKeyCounts(ctx context.Context) ([]TenantKeyCount, error) {
	var out []TenantKeyCount
	err := db.g.WithContext(ctx).Table("tenants AS t").
		Select("t.id AS tenant_id, t.name AS tenant_name, COALESCE(k.state, '') AS state, COALESCE(k.health, '') AS health, COUNT(k.id) AS count").
		Joins("LEFT JOIN keys k ON k.tenant_id = t.id AND k.state <> ?", StateDeleted).
		Group("t.id, t.name, k.state, k.health").Order("lower(t.name), t.id, state, health").Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("tenant key counts: %w", mapErr(err))
	}
	return out, nil
}
