package models

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"gorm.io/gorm"
)

// Tenant closure states. A closure is pending during its waiting window
// (an owner may cancel it), closing once its job has started (no way
// back), closed when the job has finished.
const (
	ClosurePending   = "pending"
	ClosureClosing   = "closing"
	ClosureClosed    = "closed"
	ClosureCancelled = "cancelled"
)

// JobKindTenantClose is the job that closes a tenant when its window ends.
const JobKindTenantClose = "tenant.close"

// TenantClosure is the closing of a tenant: its request, window and the
// progress of the job that carries it out. Step is the step about to run
// or running, written before its side effects (like a key operation's).
type TenantClosure struct {
	ID               string
	TenantID         string
	State            string
	WindowDays       int
	CloseAt          time.Time
	RequestedBy      string
	RequestedAt      time.Time
	CancelledBy      string
	CancelledAt      *time.Time
	ClosedAt         *time.Time
	Step             string
	JobID            string
	KMSKeysScheduled int `gorm:"column:kms_keys_scheduled"`
	Detail           string
}

func (c *TenantClosure) normalize() {
	c.CloseAt, c.RequestedAt = c.CloseAt.UTC(), c.RequestedAt.UTC()
	c.CancelledAt, c.ClosedAt = tsPtr(c.CancelledAt), tsPtr(c.ClosedAt)
}

// ClosureJobRunKey is the run key of a closure's job.
func ClosureJobRunKey(closureID string) string { return "tenant-close:" + closureID }

// RequestTenantClosure records a closure of tenantID due at closeAt and
// enqueues the job that carries it out then, in one transaction with its
// audit event and the emails about it. A tenant with a closure that is not cancelled gives
// ErrConflict.
func (db *DB) RequestTenantClosure(ctx context.Context, tenantID, userID string, windowDays int, closeAt time.Time, audit AuditInput, mail ...NewMail) (*TenantClosure, error) {
	now := db.now()
	c := &TenantClosure{ID: NewID("tcl_"), TenantID: tenantID, State: ClosurePending, WindowDays: windowDays, CloseAt: ts(closeAt),
		RequestedBy: userID, RequestedAt: now}
	audit.TenantID, audit.TargetType, audit.TargetID = tenantID, "tenant", tenantID
	audit.Details = withDetails(audit.Details, "closure_id", c.ID, "window_days", strconv.Itoa(windowDays), "close_at", c.CloseAt.Format(time.RFC3339))
	err := db.change(ctx, "request tenant closure", func(tx *gorm.DB) (*AuditInput, error) {
		var n int64
		if err := tx.Table("tenant_closures").Where("tenant_id = ? AND state <> ?", tenantID, ClosureCancelled).Count(&n).Error; err != nil {
			return nil, err
		}
		if n > 0 {
			return nil, ErrConflict
		}
		j, _, err := db.enqueueJobTx(tx, NewJob{Kind: JobKindTenantClose, TenantID: tenantID, RunKey: ClosureJobRunKey(c.ID),
			Payload: `{"closure_id":"` + c.ID + `"}`, DueAt: c.CloseAt, MaxAttempts: 50})
		if err != nil {
			return nil, err
		}
		c.JobID = j.ID
		if err := tx.Table("tenant_closures").Create(c).Error; err != nil {
			if errors.Is(err, gorm.ErrDuplicatedKey) {
				return nil, ErrConflict // a concurrent request won
			}
			return nil, err
		}
		if err := db.enqueueMailTx(tx, mail); err != nil {
			return nil, err
		}
		return &audit, nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// CancelTenantClosure cancels a tenant's pending closure, and its job,
// with the audit event. ErrNotFound when none is pending (none asked, or
// its job has already started: a closing tenant is not given back).
func (db *DB) CancelTenantClosure(ctx context.Context, tenantID, userID string, audit AuditInput, mail ...NewMail) error {
	audit.TenantID, audit.TargetType, audit.TargetID = tenantID, "tenant", tenantID
	return db.change(ctx, "cancel tenant closure", func(tx *gorm.DB) (*AuditInput, error) {
		var c TenantClosure
		if err := tx.Table("tenant_closures").Where("tenant_id = ? AND state = ?", tenantID, ClosurePending).Take(&c).Error; err != nil {
			return nil, err
		}
		now := db.now()
		res := tx.Table("tenant_closures").Where("id = ? AND state = ?", c.ID, ClosurePending).
			Updates(map[string]any{"state": ClosureCancelled, "cancelled_by": userID, "cancelled_at": now})
		if err := oneRow(res); err != nil {
			return nil, err
		}
		if err := cancelJobsTx(tx, now, []string{ClosureJobRunKey(c.ID)}); err != nil {
			return nil, err
		}
		if err := db.enqueueMailTx(tx, mail); err != nil {
			return nil, err
		}
		audit.Details = withDetails(audit.Details, "closure_id", c.ID)
		return &audit, nil
	})
}

// LiveTenantClosure returns the tenant's closure that is not cancelled
// (pending, closing or closed), or ErrNotFound.
func (db *DB) LiveTenantClosure(ctx context.Context, tenantID string) (*TenantClosure, error) {
	var c TenantClosure
	err := db.g.WithContext(ctx).Table("tenant_closures").Where("tenant_id = ? AND state <> ?", tenantID, ClosureCancelled).Take(&c).Error
	if err != nil {
		return nil, fmt.Errorf("get tenant closure: %w", mapErr(err))
	}
	c.normalize()
	return &c, nil
}

// GetTenantClosure returns one closure of a tenant by id, or ErrNotFound.
func (db *DB) GetTenantClosure(ctx context.Context, tenantID, id string) (*TenantClosure, error) {
	var c TenantClosure
	if err := db.g.WithContext(ctx).Table("tenant_closures").Where("tenant_id = ? AND id = ?", tenantID, id).Take(&c).Error; err != nil {
		return nil, fmt.Errorf("get tenant closure: %w", mapErr(err))
	}
	c.normalize()
	return &c, nil
}

// BeginTenantClosure moves a pending closure whose window has ended to
// closing, from which it is not cancelled. A closure already closing is
// returned as it is (a resumed job); a cancelled one, or one whose
// window has not ended, gives ErrConflict.
func (db *DB) BeginTenantClosure(ctx context.Context, tenantID, id string) (*TenantClosure, error) {
	err := db.g.WithContext(ctx).Table("tenant_closures").Where("tenant_id = ? AND id = ? AND state = ? AND close_at <= ?", tenantID, id, ClosurePending, db.now()).
		Update("state", ClosureClosing).Error
	if err != nil {
		return nil, fmt.Errorf("begin tenant closure: %w", mapErr(err))
	}
	c, err := db.GetTenantClosure(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	if c.State != ClosureClosing && c.State != ClosureClosed {
		return c, fmt.Errorf("begin tenant closure: %s: %w", c.State, ErrConflict)
	}
	return c, nil
}

// SetClosureStep records the step a closing tenant's job is about to run,
// with what the previous steps left to report.
func (db *DB) SetClosureStep(ctx context.Context, tenantID, id, step string, kmsKeysScheduled int, detail string) error {
	res := db.g.WithContext(ctx).Table("tenant_closures").Where("tenant_id = ? AND id = ? AND state = ?", tenantID, id, ClosureClosing).
		Updates(map[string]any{"step": step, "kms_keys_scheduled": kmsKeysScheduled, "detail": truncate(detail, 4000)})
	if err := oneRow(res); err != nil {
		return fmt.Errorf("set closure step: %w", mapErr(err))
	}
	return nil
}

// advanceClosureTx moves a closing tenant's closure from step to next;
// false when it is not at step (the step already committed).
func advanceClosureTx(tx *gorm.DB, tenantID, closureID, step, next string) (bool, error) {
	res := tx.Table("tenant_closures").Where("tenant_id = ? AND id = ? AND state = ? AND step = ?", tenantID, closureID, ClosureClosing, step).
		Update("step", next)
	return res.RowsAffected == 1, res.Error
}

// AccessRevoked counts what RevokeTenantAccess ended.
type AccessRevoked struct {
	Members, Sessions, ServiceTokens, Invitations, Keys int64
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
		// TODO(tenant API keys): the lead's tenant API keys table lands in
		// parallel; revoke the tenant's API keys here, in this
		// transaction, as service tokens are (see revokeTenantAPIKeysTx).
		if err := revokeTenantAPIKeysTx(tx, tenantID, now, rev); err != nil {
			return nil, err
		}
		res = tx.Table("keys").Where("tenant_id = ? AND state <> ? AND state <> ?", tenantID, StateDeleted, StatePendingDeletion).
			Updates(map[string]any{"state": StatePendingDeletion, "revision": rev, "updated_at": now, "cache_epoch": gorm.Expr("cache_epoch + 1")})
		if res.Error != nil {
			return nil, res.Error
		}
		out.Keys = res.RowsAffected
		audit.Details = withDetails(audit.Details, "members_removed", fmt.Sprint(out.Members), "sessions_ended", fmt.Sprint(out.Sessions),
			"invitations_revoked", fmt.Sprint(out.Invitations), "service_tokens_revoked", fmt.Sprint(out.ServiceTokens),
			"keys_stopped", fmt.Sprint(out.Keys))
		return &audit, nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// revokeTenantAPIKeysTx is the hook for tenant API keys (a table added in
// parallel to this change): when it exists, revoke every key of the
// tenant here. Until then there is nothing to revoke.
func revokeTenantAPIKeysTx(tx *gorm.DB, tenantID string, now time.Time, rev int64) error {
	return nil
}

// ErrTenantClosed refuses to add anything to a tenant that is being
// closed or is closed: no new key, import request or service token may
// bring it back to life.
var ErrTenantClosed = &ValidationError{Field: "tenant", Message: "is closed (or being closed)"}

// tenantOpenTx gives ErrTenantClosed when tenantID's closure has begun.
func tenantOpenTx(tx *gorm.DB, tenantID string) error {
	var n int64
	if err := tx.Table("tenant_closures").Where("tenant_id = ? AND state IN ?", tenantID, []string{ClosureClosing, ClosureClosed}).Count(&n).Error; err != nil {
		return err
	}
	if n > 0 {
		return ErrTenantClosed
	}
	return nil
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
// for a tenant (each table has a tenant_id column).
func ClosureErasedColumns() []SealedColumn {
	return []SealedColumn{{Table: "aws_connections", BlobColumn: "secret_sealed"}, {Table: "import_requests", BlobColumn: "private_sealed"},
		{Table: "key_materials", BlobColumn: "sealed"}, {Table: "outbox", BlobColumn: "body_sealed"}}
}

// closureKeeps are the sealed columns a tenant's closure leaves, and why:
// they hold no tenant's secret.
var closureKeeps = map[string]string{
	"sealed_secrets.blob": "provider-wide secrets: the audit key and the KEK kept in KMS",
}

// FinishTenantClosure marks a closing tenant closed and completes its job
// under the lease, with the audit event, in one transaction: the
// closure's end is recorded once.
func (db *DB) FinishTenantClosure(ctx context.Context, l Lease, tenantID, id string, audit AuditInput) error {
	audit.TenantID, audit.TargetType, audit.TargetID = tenantID, "tenant", tenantID
	return db.change(ctx, "finish tenant closure", func(tx *gorm.DB) (*AuditInput, error) {
		res := tx.Table("tenant_closures").Where("tenant_id = ? AND id = ? AND state = ?", tenantID, id, ClosureClosing).
			Updates(map[string]any{"state": ClosureClosed, "closed_at": db.now(), "step": "done"})
		if err := oneRow(res); err != nil {
			return nil, err
		}
		if err := db.completeJobTx(tx, l, "tenant closed"); err != nil {
			return nil, err
		}
		return &audit, nil
	})
}

// ClosedTenantOf returns a closed tenant userID belonged to when it
// closed, or ErrNotFound: sign-in tells such a user the tenant is closed
// rather than making them a new one.
func (db *DB) ClosedTenantOf(ctx context.Context, userID string) (*Tenant, time.Time, error) {
	var row struct {
		ID       string
		Name     string
		ClosedAt time.Time
	}
	err := db.g.WithContext(ctx).Table("closed_memberships AS cm").Select("t.id AS id, t.name AS name, cm.closed_at AS closed_at").
		Joins("JOIN tenants t ON t.id = cm.tenant_id").Where("cm.user_id = ?", userID).Order("cm.closed_at DESC").Limit(1).Scan(&row).Error
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("closed tenant of user: %w", mapErr(err))
	}
	if row.ID == "" {
		return nil, time.Time{}, fmt.Errorf("closed tenant of user: %w", ErrNotFound)
	}
	return &Tenant{ID: row.ID, Name: row.Name}, row.ClosedAt.UTC(), nil
}
