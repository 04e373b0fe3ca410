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
