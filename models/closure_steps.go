package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// The destructive steps of a closing tenant (see closure.go): access
// ends, then its secrets are erased. Each records the closure's next step
// in its own transaction, so a crash after its commit never repeats it.

// AccessRevoked counts what RevokeTenantAccess ended.
type AccessRevoked struct {
	Members, Sessions, ServiceTokens, APIKeys, Invitations, Keys int64
}

// RevokeTenantAccess is the first step of a closing tenant, in one
// transaction with its audit event: every membership ends (kept in
// closed_memberships), with the sessions that worked in the tenant;
// open invitations and the calendar feed are revoked; the tenant's
// service tokens are revoked and its keys leave service
// (PENDING_DELETION, cached data keys dropped on every replica), both
// with a new revision so every replica's tables follow. The closure's
// step moves from step to next in the same transaction, so the effect is
// recorded once: run again (after a crash) it does nothing.
func (db *DB) RevokeTenantAccess(ctx context.Context, tenantID, closureID, step, next string, audit AuditInput) (*AccessRevoked, error) {
	var out AccessRevoked
	audit.TenantID, audit.TargetType, audit.TargetID = tenantID, "tenant", tenantID
	err := db.changeRev(ctx, "revoke tenant access", func(tx *gorm.DB, rev int64) (*AuditInput, error) {
		if moved, err := advanceClosureTx(tx, tenantID, closureID, step, next); err != nil || !moved {
			return nil, err
		}
		now := db.now()
		var ms []Membership
		if err := tx.Table("memberships").Where("tenant_id = ?", tenantID).Find(&ms).Error; err != nil {
			return nil, err
		}
		for _, m := range ms {
			if err := tx.Exec(`INSERT INTO closed_memberships (tenant_id, user_id, role, closed_at) VALUES (?, ?, ?, ?)
				ON CONFLICT (tenant_id, user_id) DO NOTHING`, tenantID, m.UserID, m.Role, now).Error; err != nil {
				return nil, err
			}
		}
		if err := tx.Exec("DELETE FROM memberships WHERE tenant_id = ?", tenantID).Error; err != nil {
			return nil, err
		}
		out.Members = int64(len(ms))
		// Every session working in the tenant, and each former member's
		// sessions that no longer name a tenant of theirs.
		res := tx.Exec(`DELETE FROM sessions WHERE tenant_id = ? OR (user_id IN (SELECT user_id FROM closed_memberships WHERE tenant_id = ?)
			AND tenant_id NOT IN (SELECT m.tenant_id FROM memberships m WHERE m.user_id = sessions.user_id))`, tenantID, tenantID)
		if res.Error != nil {
			return nil, res.Error
		}
		out.Sessions = res.RowsAffected
		res = tx.Table("invitations").Where("tenant_id = ? AND accepted_at IS NULL AND revoked_at IS NULL", tenantID).Update("revoked_at", now)
		if res.Error != nil {
			return nil, res.Error
		}
		out.Invitations = res.RowsAffected
		if err := tx.Exec("DELETE FROM calendar_feeds WHERE tenant_id = ?", tenantID).Error; err != nil {
			return nil, err
		}
		res = tx.Table("service_tokens").Where("tenant_id = ? AND revoked_at IS NULL", tenantID).
			Updates(map[string]any{"revoked_at": now, "revision": rev})
		if res.Error != nil {
			return nil, res.Error
		}
		out.ServiceTokens = res.RowsAffected
		var err error
		if out.APIKeys, err = revokeTenantAPIKeysTx(tx, tenantID, now); err != nil {
			return nil, err
		}
		res = tx.Table("keys").Where("tenant_id = ? AND state <> ? AND state <> ?", tenantID, StateDeleted, StatePendingDeletion).
			Updates(map[string]any{"state": StatePendingDeletion, "revision": rev, "updated_at": now, "cache_epoch": gorm.Expr("cache_epoch + 1")})
		if res.Error != nil {
			return nil, res.Error
		}
		out.Keys = res.RowsAffected
		audit.Details = withDetails(audit.Details, "members_removed", fmt.Sprint(out.Members), "sessions_ended", fmt.Sprint(out.Sessions),
			"invitations_revoked", fmt.Sprint(out.Invitations), "service_tokens_revoked", fmt.Sprint(out.ServiceTokens), "api_keys_revoked", fmt.Sprint(out.APIKeys),
			"keys_stopped", fmt.Sprint(out.Keys))
		return &audit, nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// revokeTenantAPIKeysTx revokes the tenant's management API keys.
func revokeTenantAPIKeysTx(tx *gorm.DB, tenantID string, now time.Time) (int64, error) {
	res := tx.Table("api_keys").Where("tenant_id = ? AND revoked_at IS NULL", tenantID).Update("revoked_at", now)
	return res.RowsAffected, res.Error
}

// RunningTenantOperations counts the tenant's key operations still
// running: a closing tenant waits for them before it schedules its KMS
// keys for deletion, so no operation makes a KMS key after that pass.
func (db *DB) RunningTenantOperations(ctx context.Context, tenantID string) (int64, error) {
	var n int64
	err := db.g.WithContext(ctx).Table("key_operations").Where("tenant_id = ? AND state = ?", tenantID, OpRunning).Count(&n).Error
	if err != nil {
		return 0, fmt.Errorf("count running operations: %w", mapErr(err))
	}
	return n, nil
}

// TenantKMSKey is a KMS key keyport made for a tenant (an EXTERNAL-origin
// key of a generated or imported key), with the store that reaches it.
type TenantKMSKey struct {
	KeyID     string
	StoreID   string
	KMSKeyARN string `gorm:"column:kms_key_arn"`
}

// TenantKMSKeys lists each KMS key keyport made for a tenant once: the
// KMS keys of its managed keys' materials that reached KMS (held keys'
// material never does).
func (db *DB) TenantKMSKeys(ctx context.Context, tenantID string) ([]TenantKMSKey, error) {
	var out []TenantKMSKey
	err := db.g.WithContext(ctx).Table("key_materials AS m").
		Select("DISTINCT m.key_id AS key_id, mk.store_id AS store_id, m.kms_key_arn AS kms_key_arn").
		Joins("JOIN managed_keys mk ON mk.key_id = m.key_id AND mk.tenant_id = m.tenant_id").
		Where("m.tenant_id = ? AND m.kms_key_arn <> '' AND NOT mk.held", tenantID).
		Order("kms_key_arn").Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list tenant kms keys: %w", mapErr(err))
	}
	return out, nil
}

// SecretsErased counts what EraseTenantSecrets erased.
type SecretsErased struct {
	Materials, ConnectionSecrets, ImportKeys, DataKeyWraps, Keys int64
}

// EraseTenantSecrets is the last destructive step of a closing tenant, in
// one transaction with its audit event: every sealed copy of key
// material, every connection's sealed IAM secret, every import request's
// sealed private key and every wrapped data key of the tenant is erased,
// and its keys are DELETED. The audit log is kept. Running it again
// erases nothing more. The closure's step moves from step to next in the
// same transaction, as in RevokeTenantAccess.
//
// Every sealed column that holds a tenant's secret must be erased here:
// TestClosureErasesEverySealedColumn fails for a new one until it is.
func (db *DB) EraseTenantSecrets(ctx context.Context, tenantID, closureID, step, next string, audit AuditInput) (*SecretsErased, error) {
	var out SecretsErased
	audit.TenantID, audit.TargetType, audit.TargetID = tenantID, "tenant", tenantID
	err := db.changeRev(ctx, "erase tenant secrets", func(tx *gorm.DB, rev int64) (*AuditInput, error) {
		if moved, err := advanceClosureTx(tx, tenantID, closureID, step, next); err != nil || !moved {
			return nil, err
		}
		now := db.now()
		count := func(res *gorm.DB, n *int64) error {
			if res.Error == nil {
				*n = res.RowsAffected
			}
			return res.Error
		}
		keys := tx.Table("keys").Select("id").Where("tenant_id = ?", tenantID)
		steps := []error{
			count(tx.Table("key_materials").Where("tenant_id = ? AND length(sealed) > 0", tenantID).Update("sealed", []byte{}), &out.Materials),
			count(tx.Table("aws_connections").Where("tenant_id = ? AND secret_sealed IS NOT NULL", tenantID).Update("secret_sealed", nil), &out.ConnectionSecrets),
			count(tx.Table("import_requests").Where("tenant_id = ? AND (private_sealed IS NOT NULL OR state = ?)", tenantID, "open").
				Updates(map[string]any{"private_sealed": nil, "state": gorm.Expr("CASE WHEN state = 'open' THEN 'expired' ELSE state END")}), &out.ImportKeys),
			count(tx.Exec("DELETE FROM data_key_wraps WHERE key_id IN (?)", keys), &out.DataKeyWraps),
			// The tenant's email: unsent messages go, sent ones keep their
			// envelope (subject, recipients) for the operator's page but
			// not their sealed bodies.
			tx.Exec("DELETE FROM outbox WHERE tenant_id = ? AND state <> 'sent'", tenantID).Error,
			tx.Table("outbox").Where("tenant_id = ? AND length(body_sealed) > 0", tenantID).Update("body_sealed", []byte{}).Error,
			tx.Table("managed_keys").Where("tenant_id = ?", tenantID).Update("deletion_at", nil).Error,
			// Webhook signing secrets, and the management API's answers kept
			// for replays (sealed; some show a secret once), which are keyed
			// by the API key that made the request.
			tx.Table("webhook_endpoints").Where("tenant_id = ?", tenantID).Updates(map[string]any{"secret_sealed": []byte{}, "enabled": false}).Error,
			eraseIdempotencyRecordsTx(tx, tenantID),
			count(tx.Table("keys").Where("tenant_id = ? AND state <> ?", tenantID, StateDeleted).
				Updates(map[string]any{"state": StateDeleted, "revision": rev, "updated_at": now, "cache_epoch": gorm.Expr("cache_epoch + 1")}), &out.Keys),
		}
		if err := errors.Join(steps...); err != nil {
			return nil, err
		}
		audit.Details = withDetails(audit.Details, "materials_erased", fmt.Sprint(out.Materials), "connection_secrets_erased", fmt.Sprint(out.ConnectionSecrets),
			"import_keys_erased", fmt.Sprint(out.ImportKeys), "data_key_wraps_erased", fmt.Sprint(out.DataKeyWraps), "keys_deleted", fmt.Sprint(out.Keys))
		return &audit, nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ClosureErasedColumns are the sealed columns EraseTenantSecrets empties
// for a tenant (each table but idempotency_records has a tenant_id column;
// its rows are found by the tenant's API keys).
func ClosureErasedColumns() []SealedColumn {
	return []SealedColumn{{Table: "aws_connections", BlobColumn: "secret_sealed"}, {Table: "import_requests", BlobColumn: "private_sealed"},
		{Table: "key_materials", BlobColumn: "sealed"}, {Table: "outbox", BlobColumn: "body_sealed"},
		{Table: "webhook_endpoints", BlobColumn: "secret_sealed"}, {Table: "idempotency_records", BlobColumn: "body_sealed"}}
}

// eraseIdempotencyRecordsTx deletes the recorded answers of a tenant's API
// keys (a record's id starts with the key's id and a slash).
func eraseIdempotencyRecordsTx(tx *gorm.DB, tenantID string) error {
	var ids []string
	if err := tx.Table("api_keys").Where("tenant_id = ?", tenantID).Pluck("id", &ids).Error; err != nil {
		return err
	}
	for _, id := range ids {
		if err := tx.Exec("DELETE FROM idempotency_records WHERE id LIKE ?", id+"/%").Error; err != nil {
			return err
		}
	}
	return nil
}

// closureKeeps are the sealed columns a tenant's closure leaves, and why:
// they hold no tenant's secret.
var closureKeeps = map[string]string{
	"sealed_secrets.blob": "provider-wide secrets: the audit key and the KEK kept in KMS",
}
