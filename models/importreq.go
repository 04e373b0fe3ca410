package models

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"gorm.io/gorm"
)

// Import request states.
const (
	ImportOpen    = "open"
	ImportUsed    = "used"
	ImportExpired = "expired"
)

// ImportRequest is a tenant's request to upload its own key material
// (mode 3): keyport's RSA public key for wrapping it, and the hash of the
// one-time import token that must come with the upload.
type ImportRequest struct {
	ID            string
	TenantID      string
	StoreID       string
	KeyName       string
	TokenHash     []byte
	PublicKeyPEM  string `gorm:"column:public_key_pem"`
	PrivateSealed []byte
	State         string
	KeyID         string
	Wrapping      string // RSAES_OAEP_SHA_256 or RSAES_OAEP_SHA_1: the only one the upload may use
	ReimportKeyID string // a re-import of this key's material from the tenant's backup; "" makes a new key
	CreatedBy     string
	CreatedAt     time.Time
	ExpiresAt     time.Time
	UsedAt        *time.Time
}

// String leaves the sealed private key and token hash out of logs.
func (r ImportRequest) String() string {
	return fmt.Sprintf("models.ImportRequest{id: %s, tenant: %s, state: %s}", r.ID, r.TenantID, r.State)
}

// LogValue redacts for slog too (its JSON handler ignores String).
func (r ImportRequest) LogValue() slog.Value { return slog.StringValue(r.String()) }

// normalize puts times in UTC and reports an open request past its expiry
// at now as expired (ExpireImportRequests records that later).
func (r *ImportRequest) normalize(now time.Time) {
	r.CreatedAt, r.ExpiresAt, r.UsedAt = r.CreatedAt.UTC(), r.ExpiresAt.UTC(), tsPtr(r.UsedAt)
	if r.State == ImportOpen && !now.Before(r.ExpiresAt) {
		r.State = ImportExpired
	}
}

// CreateImportRequest records an import request with its audit event. ID
// must be set (the private key is sealed for it before).
func (db *DB) CreateImportRequest(ctx context.Context, r *ImportRequest, ttl time.Duration, audit AuditInput) error {
	now := db.now()
	r.State, r.CreatedAt, r.ExpiresAt = ImportOpen, now, now.Add(ttl)
	audit.TenantID, audit.TargetType, audit.TargetID = r.TenantID, "import_request", r.ID
	return db.change(ctx, "create import request", func(tx *gorm.DB) (*AuditInput, error) {
		if err := tenantOpenTx(tx, r.TenantID); err != nil {
			return nil, err
		}
		if err := tx.Table("import_requests").Create(r).Error; err != nil {
			return nil, err
		}
		return &audit, nil
	})
}

// GetImportRequest returns a tenant's import request; an open one past
// its expiry is reported expired.
func (db *DB) GetImportRequest(ctx context.Context, tenantID, id string) (*ImportRequest, error) {
	var r ImportRequest
	if err := db.g.WithContext(ctx).Table("import_requests").Where("tenant_id = ? AND id = ?", tenantID, id).Take(&r).Error; err != nil {
		return nil, fmt.Errorf("get import request: %w", mapErr(err))
	}
	r.normalize(db.now())
	return &r, nil
}

// ListImportRequests lists a tenant's import requests, newest first.
func (db *DB) ListImportRequests(ctx context.Context, tenantID string) ([]ImportRequest, error) {
	var out []ImportRequest
	if err := db.g.WithContext(ctx).Table("import_requests").Select("id, tenant_id, store_id, key_name, state, key_id, wrapping, reimport_key_id, created_by, created_at, expires_at, used_at").
		Where("tenant_id = ?", tenantID).Order("created_at DESC").Limit(50).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list import requests: %w", mapErr(err))
	}
	now := db.now()
	for i := range out {
		out[i].normalize(now)
	}
	return out, nil
}

// ClaimImportRequest marks an open, unexpired request used, so its token
// works once; ErrConflict when it is not open any more.
func (db *DB) ClaimImportRequest(ctx context.Context, tenantID, id string) error {
	now := db.now()
	res := db.g.WithContext(ctx).Table("import_requests").Where("tenant_id = ? AND id = ? AND state = ? AND expires_at > ?", tenantID, id, ImportOpen, ts(now)).
		Updates(map[string]any{"state": ImportUsed, "used_at": now})
	if err := errIfNone(res); err != nil {
		return fmt.Errorf("claim import request: %w", mapErr(err))
	}
	return nil
}

// ReopenImportRequest undoes a claim whose upload was refused before
// anything was created, so the tenant can try again with the same token.
func (db *DB) ReopenImportRequest(ctx context.Context, tenantID, id string) error {
	err := db.g.WithContext(ctx).Table("import_requests").Where("tenant_id = ? AND id = ? AND state = ?", tenantID, id, ImportUsed).
		Updates(map[string]any{"state": ImportOpen, "used_at": nil}).Error
	if err != nil {
		return fmt.Errorf("reopen import request: %w", mapErr(err))
	}
	return nil
}

// CompleteImportRequest records the key an upload made, erases the sealed
// private key and writes the audit event.
func (db *DB) CompleteImportRequest(ctx context.Context, tenantID, id, keyID string, audit AuditInput) error {
	audit.TenantID, audit.TargetType, audit.TargetID = tenantID, "import_request", id
	return db.change(ctx, "complete import request", func(tx *gorm.DB) (*AuditInput, error) {
		if err := tx.Table("import_requests").Where("tenant_id = ? AND id = ?", tenantID, id).
			Updates(map[string]any{"key_id": keyID, "private_sealed": nil}).Error; err != nil {
			return nil, err
		}
		return &audit, nil
	})
}

// ExpireImportRequests ends every tenant's open requests past their expiry
// and erases their sealed private keys (a background sweep).
func (db *DB) ExpireImportRequests(ctx context.Context) error {
	err := db.g.WithContext(ctx).Table("import_requests").Where("state = ? AND expires_at <= ?", ImportOpen, ts(db.now())).
		Updates(map[string]any{"state": ImportExpired, "private_sealed": nil}).Error
	if err != nil {
		return fmt.Errorf("expire import requests: %w", mapErr(err))
	}
	return nil
}

// CountOpenImportRequests counts a tenant's import requests that are open
// and not yet expired: the ones whose sealed private keys keyport keeps.
func (db *DB) CountOpenImportRequests(ctx context.Context, tenantID string) (int, error) {
	var n int64
	if err := db.g.WithContext(ctx).Table("import_requests").Where("tenant_id = ? AND state = ? AND expires_at > ?", tenantID, ImportOpen, ts(db.now())).
		Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count import requests: %w", mapErr(err))
	}
	return int(n), nil
}
