package models

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Approval actions and states: a request, then one other admin's
// decision, then (if approved) one execution by the requester, within 24
// hours of the request.
const (
	ApprovalExport = "export"
	ApprovalDelete = "delete"

	ApprovalPending  = "pending"
	ApprovalApproved = "approved"
	ApprovalDenied   = "denied"
	ApprovalExecuted = "executed"
)

// Approval is a request for a second admin's approval of an export or a
// deletion.
type Approval struct {
	ID          string
	TenantID    string
	KeyID       string
	Action      string
	State       string
	RequestedBy string
	DecidedBy   string
	CreatedAt   time.Time
	ExpiresAt   time.Time
	DecidedAt   *time.Time
	ExecutedAt  *time.Time
}

// CreateApproval records a pending approval request with its audit event.
func (db *DB) CreateApproval(ctx context.Context, a *Approval, ttl time.Duration, audit AuditInput) error {
	now := db.now()
	a.ID, a.State, a.CreatedAt, a.ExpiresAt = NewID("apr_"), ApprovalPending, now, now.Add(ttl)
	audit.TenantID, audit.TargetType, audit.TargetID = a.TenantID, "key", a.KeyID
	audit.Details = map[string]string{"approval_id": a.ID, "action": a.Action}
	return db.change(ctx, "create approval", func(tx *gorm.DB) (*AuditInput, error) {
		if err := tx.Table("key_approvals").Create(a).Error; err != nil {
			return nil, err
		}
		return &audit, nil
	})
}

// KeyApprovals lists a tenant key's approvals, newest first.
func (db *DB) KeyApprovals(ctx context.Context, tenantID, keyID string) ([]Approval, error) {
	var out []Approval
	err := db.g.WithContext(ctx).Table("key_approvals").Where("tenant_id = ? AND key_id = ?", tenantID, keyID).
		Order("created_at DESC, id").Limit(20).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("key approvals: %w", mapErr(err))
	}
	return out, nil
}

// DecideApproval approves or denies a pending, unexpired request of a
// tenant; the decider must not be the requester. ErrConflict otherwise.
func (db *DB) DecideApproval(ctx context.Context, tenantID, id, decider string, approve bool, audit AuditInput) (*Approval, error) {
	state := ApprovalDenied
	if approve {
		state = ApprovalApproved
	}
	var out Approval
	err := db.change(ctx, "decide approval", func(tx *gorm.DB) (*AuditInput, error) {
		now := db.now()
		res := tx.Table("key_approvals").Where("tenant_id = ? AND id = ? AND state = ? AND expires_at > ? AND requested_by <> ?",
			tenantID, id, ApprovalPending, ts(now), decider).
			Updates(map[string]any{"state": state, "decided_by": decider, "decided_at": now})
		if err := errIfNone(res); err != nil {
			return nil, err
		}
		if err := tx.Table("key_approvals").Where("tenant_id = ? AND id = ?", tenantID, id).Take(&out).Error; err != nil {
			return nil, err
		}
		audit.TenantID, audit.TargetType, audit.TargetID = tenantID, "key", out.KeyID
		audit.Details = map[string]string{"approval_id": id, "action": out.Action, "decision": state}
		return &audit, nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ConsumeApproval marks an approved, unexpired approval of the requester
// for this key and action executed; it succeeds once (ErrConflict after).
func (db *DB) ConsumeApproval(ctx context.Context, tenantID, id, keyID, action, requester string) error {
	now := db.now()
	res := db.g.WithContext(ctx).Table("key_approvals").
		Where("tenant_id = ? AND id = ? AND key_id = ? AND action = ? AND requested_by = ? AND state = ? AND expires_at > ?",
			tenantID, id, keyID, action, requester, ApprovalApproved, ts(now)).
		Updates(map[string]any{"state": ApprovalExecuted, "executed_at": now})
	if err := errIfNone(res); err != nil {
		return fmt.Errorf("consume approval: %w", mapErr(err))
	}
	return nil
}
