package models

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// ServiceToken authenticates one of the provider's services on the data
// API. TenantID "" means provider-wide: the service names the tenant in each
// request. Only a hash of the token's secret is stored.
type ServiceToken struct {
	ID         string
	TenantID   string
	Name       string
	SecretHash []byte
	CreatedBy  string
	CreatedAt  time.Time
	RevokedAt  *time.Time
	LastUsedAt *time.Time
	Revision   int64
}

func fixTokenTimes(t *ServiceToken) {
	t.CreatedAt, t.RevokedAt, t.LastUsedAt = t.CreatedAt.UTC(), tsPtr(t.RevokedAt), tsPtr(t.LastUsedAt)
}

// CreateServiceToken stores a new token with its audit event. A tenant-
// scoped token's tenant must exist.
func (db *DB) CreateServiceToken(ctx context.Context, t *ServiceToken, audit AuditInput) error {
	name, err := validateName("name", t.Name, 100)
	if err != nil {
		return err
	}
	t.Name = name
	if t.ID == "" {
		t.ID = NewID("tok_")
	}
	if len(t.SecretHash) != 32 {
		return invalid("secret_hash", "must be a SHA-256 hash")
	}
	t.CreatedAt = db.now()
	audit.TenantID, audit.TargetType, audit.TargetID = t.TenantID, "service_token", t.ID
	return db.change(ctx, "create service token", func(tx *gorm.DB) (*AuditInput, error) {
		if t.TenantID != "" {
			var n int64
			if err := tx.Table("tenants").Where("id = ?", t.TenantID).Count(&n).Error; err != nil {
				return nil, err
			}
			if n == 0 {
				return nil, invalid("tenant", "no such tenant")
			}
			if err := tenantOpenTx(tx, t.TenantID); err != nil {
				return nil, err
			}
		}
		rev, err := nextRevision(tx)
		if err != nil {
			return nil, err
		}
		t.Revision = rev
		if err := tx.Table("service_tokens").Create(t).Error; err != nil {
			return nil, err
		}
		return &audit, nil
	})
}

// RevokeServiceToken revokes a token with its audit event; revoking twice
// is not an error. Tokens are the provider's (the operator manages them),
// so this works across tenants by design.
func (db *DB) RevokeServiceToken(ctx context.Context, id string, audit AuditInput) error {
	return db.change(ctx, "revoke service token", func(tx *gorm.DB) (*AuditInput, error) {
		var t ServiceToken
		if err := tx.Table("service_tokens").Where("id = ?", id).Take(&t).Error; err != nil {
			return nil, err
		}
		if t.RevokedAt != nil {
			return nil, nil
		}
		rev, err := nextRevision(tx)
		if err != nil {
			return nil, err
		}
		if err := tx.Table("service_tokens").Where("id = ?", id).
			Updates(map[string]any{"revoked_at": db.now(), "revision": rev}).Error; err != nil {
			return nil, err
		}
		audit.TenantID, audit.TargetType, audit.TargetID = t.TenantID, "service_token", id
		return &audit, nil
	})
}

// ListServiceTokens lists every token of every tenant, newest first (the
// operator's view).
func (db *DB) ListServiceTokens(ctx context.Context) ([]ServiceToken, error) {
	var ts []ServiceToken
	if err := db.g.WithContext(ctx).Table("service_tokens").Order("created_at DESC, id").Find(&ts).Error; err != nil {
		return nil, fmt.Errorf("list service tokens: %w", mapErr(err))
	}
	for i := range ts {
		fixTokenTimes(&ts[i])
	}
	return ts, nil
}

// GetServiceToken returns one token of any tenant (or provider-wide), or
// ErrNotFound: tokens are the provider's, managed by the operator.
func (db *DB) GetServiceToken(ctx context.Context, id string) (*ServiceToken, error) {
	var t ServiceToken
	if err := db.g.WithContext(ctx).Table("service_tokens").Where("id = ?", id).Take(&t).Error; err != nil {
		return nil, fmt.Errorf("get service token: %w", mapErr(err))
	}
	fixTokenTimes(&t)
	return &t, nil
}

// TokensChangedSince returns tokens whose revision is above rev, for the
// replicas' in-memory token table.
func (db *DB) TokensChangedSince(ctx context.Context, rev int64) ([]ServiceToken, error) {
	var ts []ServiceToken
	if err := db.g.WithContext(ctx).Table("service_tokens").Where("revision > ?", rev).Order("revision").Find(&ts).Error; err != nil {
		return nil, fmt.Errorf("tokens changed since %d: %w", rev, mapErr(err))
	}
	for i := range ts {
		fixTokenTimes(&ts[i])
	}
	return ts, nil
}

// TouchServiceTokens records last-used times in one batch (not a
// revision-worthy change: replicas need not hear of it).
func (db *DB) TouchServiceTokens(ctx context.Context, used map[string]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	err := db.g.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for id, at := range used {
			if err := tx.Table("service_tokens").Where("id = ?", id).Update("last_used_at", ts(at)).Error; err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("touch service tokens: %w", mapErr(err))
	}
	return nil
}
