package models

import (
	"context"
	"errors"
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

// CreateApproval records a pending approval request with its audit event
// and the emails about it (see enqueueMailTx). a.ID is kept when set.
func (db *DB) CreateApproval(ctx context.Context, a *Approval, ttl time.Duration, audit AuditInput, mail ...NewMail) error {
	now := db.now()
	if a.ID == "" {
		a.ID = NewID("apr_")
	}
	a.State, a.CreatedAt, a.ExpiresAt = ApprovalPending, now, now.Add(ttl)
	audit.TenantID, audit.TargetType, audit.TargetID = a.TenantID, "key", a.KeyID
	audit.Details = map[string]string{"approval_id": a.ID, "action": a.Action}
	return db.change(ctx, "create approval", func(tx *gorm.DB) (*AuditInput, error) {
		if err := tx.Table("key_approvals").Create(a).Error; err != nil {
			return nil, err
		}
		return &audit, db.enqueueMailTx(tx, mail)
	})
}

// GetApproval reads one approval of a tenant's key.
func (db *DB) GetApproval(ctx context.Context, tenantID, keyID, id string) (*Approval, error) {
	var a Approval
	err := db.g.WithContext(ctx).Table("key_approvals").Where("tenant_id = ? AND key_id = ? AND id = ?", tenantID, keyID, id).Take(&a).Error
	if err != nil {
		return nil, fmt.Errorf("get approval: %w", mapErr(err))
	}
	return &a, nil
}

// OpenApprovals lists a tenant's pending, unexpired approval requests,
// oldest first.
func (db *DB) OpenApprovals(ctx context.Context, tenantID string) ([]Approval, error) {
	var out []Approval
	err := db.g.WithContext(ctx).Table("key_approvals").Where("tenant_id = ? AND state = ? AND expires_at > ?", tenantID, ApprovalPending, ts(db.now())).
		Order("created_at, id").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("open approvals: %w", mapErr(err))
	}
	return out, nil
}

// TenantApproval reads one approval of a tenant by its id alone.
func (db *DB) TenantApproval(ctx context.Context, tenantID, id string) (*Approval, error) {
	var a Approval
	err := db.g.WithContext(ctx).Table("key_approvals").Where("tenant_id = ? AND id = ?", tenantID, id).Take(&a).Error
	if err != nil {
		return nil, fmt.Errorf("get approval: %w", mapErr(err))
	}
	return &a, nil
}

// TenantOwnerEmails lists the email addresses of a tenant's owners.
func (db *DB) TenantOwnerEmails(ctx context.Context, tenantID string) ([]string, error) {
	var out []string
	err := db.g.WithContext(ctx).Table("memberships AS m").Joins("JOIN users AS u ON u.id = m.user_id").
		Where("m.tenant_id = ? AND m.role = ? AND u.email <> ''", tenantID, RoleOwner).Order("lower(u.email)").Pluck("u.email", &out).Error
	if err != nil {
		return nil, fmt.Errorf("tenant owners: %w", mapErr(err))
	}
	return out, nil
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

// ApprovalRules are the provider's conditions on who may approve: an
// approver must have been a member for MinMemberAge before the request,
// must not have been invited by the requester (an owner could otherwise
// invite a second mailbox of their own and approve alone), and must have
// signed in with a second factor when RequireMFA is set.
type ApprovalRules struct {
	MinMemberAge time.Duration
	RequireMFA   bool
}

// Approver is who decides: their user id and whether their session's
// sign-in asserted a second factor.
type Approver struct {
	UserID string
	MFA    bool
}

// DecideApproval approves or denies a pending, unexpired request for a
// key of a tenant. The decider must not be the requester and must meet
// rules; a request that is not pending (or not this key's) is ErrConflict,
// an ineligible decider a *ValidationError saying why. Eligibility is
// checked in the transaction that records the decision.
func (db *DB) DecideApproval(ctx context.Context, tenantID, keyID, id string, by Approver, approve bool, rules ApprovalRules, audit AuditInput,
	mail ...NewMail) (*Approval, error) {
	state := ApprovalDenied
	if approve {
		state = ApprovalApproved
	}
	var out Approval
	err := db.change(ctx, "decide approval", func(tx *gorm.DB) (*AuditInput, error) {
		now := db.now()
		var a Approval
		err := tx.Table("key_approvals").Where("tenant_id = ? AND id = ? AND key_id = ? AND state = ? AND expires_at > ? AND requested_by <> ?",
			tenantID, id, keyID, ApprovalPending, ts(now), by.UserID).Take(&a).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, ErrConflict
		}
		if err != nil {
			return nil, err
		}
		if err := approverEligible(tx, &a, by, rules); err != nil {
			return nil, err
		}
		res := tx.Table("key_approvals").Where("tenant_id = ? AND id = ? AND state = ?", tenantID, id, ApprovalPending).
			Updates(map[string]any{"state": state, "decided_by": by.UserID, "decided_at": now})
		if err := errIfNone(res); err != nil {
			return nil, err
		}
		if err := tx.Table("key_approvals").Where("tenant_id = ? AND id = ?", tenantID, id).Take(&out).Error; err != nil {
			return nil, err
		}
		audit.TenantID, audit.TargetType, audit.TargetID = tenantID, "key", out.KeyID
		audit.Details = map[string]string{"approval_id": id, "action": out.Action, "decision": state}
		return &audit, db.enqueueMailTx(tx, mail)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// approverEligible checks the decider of a against rules. Denying is held
// to the same rules: a fresh mailbox must not be able to block either.
func approverEligible(tx *gorm.DB, a *Approval, by Approver, rules ApprovalRules) error {
	var m Membership
	err := tx.Table("memberships").Where("tenant_id = ? AND user_id = ?", a.TenantID, by.UserID).Take(&m).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return invalid("approval", "only a member of this tenant can decide")
	}
	if err != nil {
		return err
	}
	switch {
	case m.InvitedBy != "" && m.InvitedBy == a.RequestedBy:
		return invalid("approval", "the requester invited you to this tenant, so your approval cannot count as a second person's; ask another admin")
	case m.CreatedAt.After(a.CreatedAt.Add(-rules.MinMemberAge)):
		return invalid("approval", fmt.Sprintf("only members who joined at least %s before the request can decide it", rules.MinMemberAge))
	case rules.RequireMFA && !by.MFA:
		return invalid("approval", "deciding an approval needs a sign-in with a second factor (MFA); sign in again with it")
	}
	return nil
}

// ConsumeApproval marks an approved, unexpired approval of the requester
// for this key and action executed; it succeeds once (ErrConflict after).
// audit, when it names an event, is written in the same transaction: an
// export is recorded and its approval spent together, or neither.
func (db *DB) ConsumeApproval(ctx context.Context, tenantID, id, keyID, action, requester string, audit *AuditInput) error {
	return db.change(ctx, "consume approval", func(tx *gorm.DB) (*AuditInput, error) {
		if err := db.spendApprovalTx(tx, tenantID, keyID, ApprovalUse{ID: id, Action: action, Requester: requester}); err != nil {
			return nil, err
		}
		return optional(audit), nil
	})
}

// ApprovalUse names the approval an action spends in the transaction that
// carries the action out (StartKeyStateOperation): an approved, unexpired
// approval of Requester for the key and Action.
type ApprovalUse struct {
	ID        string
	Action    string
	Requester string
}

// ErrApprovalUnusable: the approval an action was to spend is not (or no
// longer) approved, unexpired and the requester's for this key and action.
var ErrApprovalUnusable = errors.New("models: approval not usable")

// spendApprovalTx marks the approval executed; ErrConflict when it is not
// usable.
func (db *DB) spendApprovalTx(tx *gorm.DB, tenantID, keyID string, u ApprovalUse) error {
	now := db.now()
	res := tx.Table("key_approvals").
		Where("tenant_id = ? AND id = ? AND key_id = ? AND action = ? AND requested_by = ? AND state = ? AND expires_at > ?",
			tenantID, u.ID, keyID, u.Action, u.Requester, ApprovalApproved, ts(now)).
		Updates(map[string]any{"state": ApprovalExecuted, "executed_at": now})
	return errIfNone(res)
}

// UsableApproval reports whether id is an approved, unexpired approval of
// the requester for this key and action, without spending it.
func (db *DB) UsableApproval(ctx context.Context, tenantID, id, keyID, action, requester string) (bool, error) {
	var n int64
	err := db.g.WithContext(ctx).Table("key_approvals").
		Where("tenant_id = ? AND id = ? AND key_id = ? AND action = ? AND requested_by = ? AND state = ? AND expires_at > ?",
			tenantID, id, keyID, action, requester, ApprovalApproved, ts(db.now())).Count(&n).Error
	if err != nil {
		return false, fmt.Errorf("check approval: %w", mapErr(err))
	}
	return n > 0, nil
}
