package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// PrefixAPIKey starts a tenant API key's id. The key a script presents is
// "kpa_<id>_<secret>"; the id finds the row, only a SHA-256 of the secret is
// stored.
const PrefixAPIKey = "kak_"

// APIKey lets a tenant's scripts call the management API with the rights of
// one tenant role (admin or auditor).
type APIKey struct {
	ID         string
	TenantID   string
	Name       string
	Role       Role
	SecretHash []byte
	CreatedBy  string
	CreatedAt  time.Time
	ExpiresAt  *time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

func fixAPIKeyTimes(k *APIKey) {
	k.CreatedAt, k.ExpiresAt, k.LastUsedAt, k.RevokedAt = k.CreatedAt.UTC(), tsPtr(k.ExpiresAt), tsPtr(k.LastUsedAt), tsPtr(k.RevokedAt)
}

// Usable reports whether the key may authenticate at now: not revoked, not
// expired.
func (k *APIKey) Usable(now time.Time) bool {
	return k.RevokedAt == nil && (k.ExpiresAt == nil || now.Before(*k.ExpiresAt))
}

// migration40APIKeys adds tenant API keys and the management API's
// idempotency records (a replayed POST answers what the first one did).
var migration40APIKeys = migration{
	version: 40,
	name:    "tenant API keys and idempotency records",
	stmts: []string{
		`CREATE TABLE api_keys (
			id text PRIMARY KEY,
			tenant_id text NOT NULL REFERENCES tenants(id),
			name text NOT NULL,
			role text NOT NULL,
			secret_hash {{bytes}} NOT NULL,
			created_by text NOT NULL,
			created_at {{time}} NOT NULL,
			expires_at {{time}},
			last_used_at {{time}},
			revoked_at {{time}}
		)`,
		`CREATE INDEX api_keys_tenant_idx ON api_keys (tenant_id, created_at)`,
		`CREATE TABLE idempotency_records (
			id text PRIMARY KEY,
			request_hash {{bytes}} NOT NULL,
			status integer NOT NULL,
			body_sealed {{bytes}},
			created_at {{time}} NOT NULL
		)`,
		`CREATE INDEX idempotency_records_created_idx ON idempotency_records (created_at)`,
	},
}

// CreateAPIKey stores a new key of a tenant with its audit event.
func (db *DB) CreateAPIKey(ctx context.Context, k *APIKey, audit AuditInput) error {
	name, err := validateName("name", k.Name, 100)
	if err != nil {
		return err
	}
	k.Name = name
	if k.Role != RoleAdmin && k.Role != RoleAuditor {
		return invalid("role", "must be admin or auditor")
	}
	if len(k.SecretHash) != 32 {
		return invalid("secret_hash", "must be a SHA-256 hash")
	}
	if k.ID == "" {
		k.ID = NewID(PrefixAPIKey)
	}
	k.CreatedAt = db.now()
	if k.ExpiresAt != nil {
		e := ts(*k.ExpiresAt)
		if !e.After(k.CreatedAt) {
			return invalid("expires", "must be in the future")
		}
		k.ExpiresAt = &e
	}
	audit.TenantID, audit.TargetType, audit.TargetID = k.TenantID, "api_key", k.ID
	return db.change(ctx, "create API key", func(tx *gorm.DB) (*AuditInput, error) {
		var n int64
		if err := tx.Table("tenants").Where("id = ?", k.TenantID).Count(&n).Error; err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, invalid("tenant", "no such tenant")
		}
		if err := tx.Table("api_keys").Create(k).Error; err != nil {
			return nil, err
		}
		return &audit, nil
	})
}

// ListAPIKeys lists a tenant's keys, newest first, revoked ones included.
func (db *DB) ListAPIKeys(ctx context.Context, tenantID string) ([]APIKey, error) {
	var ks []APIKey
	if err := db.g.WithContext(ctx).Table("api_keys").Where("tenant_id = ?", tenantID).
		Order("created_at DESC, id").Find(&ks).Error; err != nil {
		return nil, fmt.Errorf("list API keys: %w", mapErr(err))
	}
	for i := range ks {
		fixAPIKeyTimes(&ks[i])
	}
	return ks, nil
}

// GetAPIKey returns one key by id, of any tenant: authentication finds the
// tenant from the key. Callers acting for a tenant use TenantAPIKey.
func (db *DB) GetAPIKey(ctx context.Context, id string) (*APIKey, error) {
	var k APIKey
	if err := db.g.WithContext(ctx).Table("api_keys").Where("id = ?", id).Take(&k).Error; err != nil {
		return nil, fmt.Errorf("get API key: %w", mapErr(err))
	}
	fixAPIKeyTimes(&k)
	return &k, nil
}

// TenantAPIKey returns a tenant's key, or ErrNotFound (also for another
// tenant's).
func (db *DB) TenantAPIKey(ctx context.Context, tenantID, id string) (*APIKey, error) {
	var k APIKey
	if err := db.g.WithContext(ctx).Table("api_keys").Where("tenant_id = ? AND id = ?", tenantID, id).Take(&k).Error; err != nil {
		return nil, fmt.Errorf("get API key: %w", mapErr(err))
	}
	fixAPIKeyTimes(&k)
	return &k, nil
}

// RevokeAPIKey revokes a tenant's key with its audit event; revoking twice
// is not an error and writes no second event.
func (db *DB) RevokeAPIKey(ctx context.Context, tenantID, id string, audit AuditInput) error {
	return db.change(ctx, "revoke API key", func(tx *gorm.DB) (*AuditInput, error) {
		var k APIKey
		if err := tx.Table("api_keys").Where("tenant_id = ? AND id = ?", tenantID, id).Take(&k).Error; err != nil {
			return nil, err
		}
		if k.RevokedAt != nil {
			return nil, nil
		}
		if err := tx.Table("api_keys").Where("id = ?", id).Update("revoked_at", db.now()).Error; err != nil {
			return nil, err
		}
		audit.TenantID, audit.TargetType, audit.TargetID = tenantID, "api_key", id
		if audit.Details == nil {
			audit.Details = map[string]string{}
		}
		audit.Details["name"] = k.Name
		return &audit, nil
	})
}

// revokeCreatorAPIKeysTx revokes the API keys userID created in tenantID
// that outrank role: all of them when role is "" (the member left or was
// removed), the admin keys of a member demoted to auditor. A key never has
// more rights than the person who made it still holds.
func revokeCreatorAPIKeysTx(tx *gorm.DB, tenantID, userID string, role Role, now time.Time) (int64, error) {
	q := tx.Table("api_keys").Where("tenant_id = ? AND created_by = ? AND revoked_at IS NULL", tenantID, userID)
	switch role {
	case "":
	case RoleAuditor:
		q = q.Where("role = ?", RoleAdmin)
	default:
		return 0, nil // owners and admins may hold admin keys
	}
	res := q.Update("revoked_at", now)
	return res.RowsAffected, res.Error
}

// TouchAPIKey records when a key was last used.
func (db *DB) TouchAPIKey(ctx context.Context, id string, at time.Time) error {
	if err := db.g.WithContext(ctx).Table("api_keys").Where("id = ?", id).Update("last_used_at", ts(at)).Error; err != nil {
		return fmt.Errorf("touch API key: %w", mapErr(err))
	}
	return nil
}

// IdempotencyRecord is the first answer to a POST that carried an
// Idempotency-Key: Status 0 marks a request still being served. ID names
// the caller and its key (keysvc derives it); the answer is sealed, since
// some answers show a secret once.
type IdempotencyRecord struct {
	ID          string
	RequestHash []byte // method, path and body of the first request
	Status      int
	BodySealed  []byte
	CreatedAt   time.Time
}

// ClaimIdempotencyKey records that the request of record id is being
// served. It returns nil and true when this call claimed it; otherwise the
// existing record (Status 0 while the first request is still running) and
// false. Records older than maxAge are replaced.
func (db *DB) ClaimIdempotencyKey(ctx context.Context, id string, requestHash []byte, maxAge time.Duration) (*IdempotencyRecord, bool, error) {
	var existing *IdempotencyRecord
	claimed := false
	err := db.g.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var r IdempotencyRecord
		err := tx.Table("idempotency_records").Where("id = ?", id).Take(&r).Error
		switch {
		case err == nil && db.now().Sub(r.CreatedAt) < maxAge:
			existing = &r
			return nil
		case err == nil:
			if err := tx.Table("idempotency_records").Where("id = ?", id).Delete(nil).Error; err != nil {
				return err
			}
		case mapErr(err) != ErrNotFound:
			return err
		}
		claimed = true
		return tx.Table("idempotency_records").Create(&IdempotencyRecord{ID: id, RequestHash: requestHash, CreatedAt: db.now()}).Error
	})
	if err != nil {
		if errors.Is(mapErr(err), ErrConflict) { // another request claimed it between our read and insert
			r, _, err2 := db.ClaimIdempotencyKey(ctx, id, requestHash, maxAge)
			return r, false, err2
		}
		return nil, false, fmt.Errorf("claim idempotency key: %w", mapErr(err))
	}
	return existing, claimed, nil
}

// FinishIdempotencyKey stores the answer of a claimed request.
func (db *DB) FinishIdempotencyKey(ctx context.Context, id string, status int, bodySealed []byte) error {
	if err := db.g.WithContext(ctx).Table("idempotency_records").Where("id = ?", id).
		Updates(map[string]any{"status": status, "body_sealed": bodySealed}).Error; err != nil {
		return fmt.Errorf("finish idempotency key: %w", mapErr(err))
	}
	return nil
}

// ReleaseIdempotencyKey forgets a claim whose request failed before it
// changed anything, so the caller may retry with the same key.
func (db *DB) ReleaseIdempotencyKey(ctx context.Context, id string) error {
	if err := db.g.WithContext(ctx).Table("idempotency_records").Where("id = ? AND status = 0", id).
		Delete(nil).Error; err != nil {
		return fmt.Errorf("release idempotency key: %w", mapErr(err))
	}
	return nil
}

// PurgeIdempotencyRecords deletes records older than before.
func (db *DB) PurgeIdempotencyRecords(ctx context.Context, before time.Time) (int64, error) {
	res := db.g.WithContext(ctx).Table("idempotency_records").Where("created_at < ?", ts(before)).Delete(nil)
	if res.Error != nil {
		return 0, fmt.Errorf("purge idempotency records: %w", mapErr(res.Error))
	}
	return res.RowsAffected, nil
}
