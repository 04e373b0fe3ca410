package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Notice kinds.
const (
	NoticeBeforeRotation = "before_rotation" // the rotation is lead days away
	NoticeConfirm        = "confirm_rotation"
	NoticeRotated        = "rotated"
	NoticeHealth         = "health"
	// NoticeMaterialExpiring reminds that key material keyport imported
	// expires in KMS in a few days (its expiry itself is a health notice).
	NoticeMaterialExpiring = "material_expiring"
)

// Notice states.
const (
	NoticePlanned   = "planned"
	NoticeSent      = "sent"
	NoticeCancelled = "cancelled" // its rotation moved or already happened
)

// Notice is one message about a key to the tenant's owners and admins:
// planned ahead (before a rotation) or recorded when sent.
type Notice struct {
	ID             string
	TenantID       string
	KeyID          string
	Kind           string
	DedupeKey      string
	RotationAt     *time.Time
	LeadDays       int
	DueAt          time.Time
	State          string
	Detail         string
	SentAt         *time.Time
	AcknowledgedBy string
	AcknowledgedAt *time.Time
	CreatedAt      time.Time
}

func (n *Notice) normalize() {
	n.DueAt, n.CreatedAt = n.DueAt.UTC(), n.CreatedAt.UTC()
	n.RotationAt, n.SentAt, n.AcknowledgedAt = tsPtr(n.RotationAt), tsPtr(n.SentAt), tsPtr(n.AcknowledgedAt)
}

// GetNotice returns a tenant's notice by id, or ErrNotFound.
func (db *DB) GetNotice(ctx context.Context, tenantID, id string) (*Notice, error) {
	var n Notice
	if err := db.g.WithContext(ctx).Table("notices").Where("tenant_id = ? AND id = ?", tenantID, id).Take(&n).Error; err != nil {
		return nil, fmt.Errorf("get notice: %w", mapErr(err))
	}
	n.normalize()
	return &n, nil
}

// KeyNotices lists a tenant's key's notices that are planned or were sent,
// by due date.
func (db *DB) KeyNotices(ctx context.Context, tenantID, keyID string, limit int) ([]Notice, error) {
	var ns []Notice
	err := db.g.WithContext(ctx).Table("notices").Where("tenant_id = ? AND key_id = ? AND state <> ?", tenantID, keyID, NoticeCancelled).
		Order("due_at DESC, id").Limit(max(limit, 1)).Find(&ns).Error
	if err != nil {
		return nil, fmt.Errorf("key notices: %w", mapErr(err))
	}
	for i := range ns {
		ns[i].normalize()
	}
	return ns, nil
}

// SendNotice is the notice job's transaction: if the notice is still
// planned and, for a rotation notice, its rotation is still on the date it
// names, it is marked sent with its mail in the outbox; otherwise it is
// cancelled (or left, if already sent). The job completes either way, all
// in one transaction, so a notice goes out at most once. It returns what
// happened: "sent", "stale" or "done".
func (db *DB) SendNotice(ctx context.Context, l Lease, tenantID, noticeID string, mail []NewMail) (string, error) {
	outcome := ""
	err := db.g.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var n Notice
		if err := tx.Table("notices").Where("tenant_id = ? AND id = ?", tenantID, noticeID).Take(&n).Error; err != nil {
			return err
		}
		n.normalize()
		switch {
		case n.State != NoticePlanned:
			outcome = "done"
		case !noticeCurrent(tx, &n):
			outcome = "stale"
			if err := tx.Table("notices").Where("id = ?", n.ID).Update("state", NoticeCancelled).Error; err != nil {
				return err
			}
		default:
			outcome = "sent"
			now := db.now()
			if err := tx.Table("notices").Where("id = ? AND state = ?", n.ID, NoticePlanned).
				Updates(map[string]any{"state": NoticeSent, "sent_at": now}).Error; err != nil {
				return err
			}
			if err := db.enqueueMailTx(tx, mail); err != nil {
				return err
			}
			if err := db.enqueueWebhookEventTx(tx, n.TenantID, WebhookNoticeDue, now, noticeWebhookData(&n)); err != nil {
				return err
			}
		}
		return db.completeJobTx(tx, l, outcome)
	})
	if err != nil {
		return "", fmt.Errorf("send notice: %w", mapErr(err))
	}
	return outcome, nil
}

// noticeCurrent reports whether a rotation notice still names the key's
// next rotation.
func noticeCurrent(tx *gorm.DB, n *Notice) bool {
	if n.Kind != NoticeBeforeRotation && n.Kind != NoticeConfirm {
		return true
	}
	var p RotationPolicy
	if err := tx.Table("rotation_policies").Where("tenant_id = ? AND key_id = ?", n.TenantID, n.KeyID).Take(&p).Error; err != nil {
		return false
	}
	return n.RotationAt != nil && p.NextRotationAt.UTC().Equal(*n.RotationAt)
}

// AcknowledgeNotice records that userID read a tenant's notice. A second
// acknowledgement changes nothing.
func (db *DB) AcknowledgeNotice(ctx context.Context, tenantID, noticeID, userID string, audit AuditInput) error {
	return db.change(ctx, "acknowledge notice", func(tx *gorm.DB) (*AuditInput, error) {
		var n Notice
		if err := tx.Table("notices").Where("tenant_id = ? AND id = ? AND state <> ?", tenantID, noticeID, NoticeCancelled).Take(&n).Error; err != nil {
			return nil, err
		}
		if n.AcknowledgedAt != nil {
			return nil, nil
		}
		if err := tx.Table("notices").Where("id = ?", n.ID).
			Updates(map[string]any{"acknowledged_by": userID, "acknowledged_at": db.now()}).Error; err != nil {
			return nil, err
		}
		audit.TenantID, audit.TargetType, audit.TargetID = tenantID, "key", n.KeyID
		audit.Details = withDetails(audit.Details, "notice", n.ID, "kind", n.Kind)
		return &audit, nil
	})
}

// CalendarFeed is a tenant's calendar capability (only its hash is kept).
type CalendarFeed struct {
	TenantID  string
	TokenHash []byte
	CreatedBy string
	CreatedAt time.Time
}

// SetCalendarFeed creates or replaces a tenant's calendar feed token (the
// old URL stops working), with an audit event.
func (db *DB) SetCalendarFeed(ctx context.Context, tenantID string, tokenHash []byte, audit AuditInput) error {
	f := CalendarFeed{TenantID: tenantID, TokenHash: tokenHash, CreatedBy: audit.Actor, CreatedAt: db.now()}
	return db.change(ctx, "set calendar feed", func(tx *gorm.DB) (*AuditInput, error) {
		err := tx.Table("calendar_feeds").Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "tenant_id"}}, UpdateAll: true}).Create(&f).Error
		if err != nil {
			return nil, err
		}
		audit.TenantID, audit.TargetType, audit.TargetID = tenantID, "calendar_feed", tenantID
		return &audit, nil
	})
}

// RevokeCalendarFeed deletes a tenant's feed token, with an audit event.
func (db *DB) RevokeCalendarFeed(ctx context.Context, tenantID string, audit AuditInput) error {
	return db.change(ctx, "revoke calendar feed", func(tx *gorm.DB) (*AuditInput, error) {
		res := tx.Exec("DELETE FROM calendar_feeds WHERE tenant_id = ?", tenantID)
		if err := oneRow(res); err != nil {
			return nil, err
		}
		audit.TenantID, audit.TargetType, audit.TargetID = tenantID, "calendar_feed", tenantID
		return &audit, nil
	})
}

// GetCalendarFeed returns a tenant's feed, or ErrNotFound.
func (db *DB) GetCalendarFeed(ctx context.Context, tenantID string) (*CalendarFeed, error) {
	var f CalendarFeed
	if err := db.g.WithContext(ctx).Table("calendar_feeds").Where("tenant_id = ?", tenantID).Take(&f).Error; err != nil {
		return nil, fmt.Errorf("get calendar feed: %w", mapErr(err))
	}
	f.CreatedAt = f.CreatedAt.UTC()
	return &f, nil
}

// CalendarFeedByToken returns the tenant whose feed token hashes to
// tokenHash, or ErrNotFound.
func (db *DB) CalendarFeedByToken(ctx context.Context, tokenHash []byte) (string, error) {
	var f CalendarFeed
	err := db.g.WithContext(ctx).Table("calendar_feeds").Where("token_hash = ?", tokenHash).Take(&f).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return "", fmt.Errorf("calendar feed: %w", ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("calendar feed: %w", err)
	}
	return f.TenantID, nil
}

// HealthToNotify returns policies of every tenant whose key's health
// differs from the one last notified, with the key: the scheduler's pass,
// across tenants by design.
func (db *DB) HealthToNotify(ctx context.Context, limit int) ([]UpcomingRotation, error) {
	rows, err := policyRows(db.g.WithContext(ctx).Where("k.health <> p.health_notified").Order("p.key_id").Limit(max(limit, 1)))
	if err != nil {
		return nil, fmt.Errorf("health to notify: %w", mapErr(err))
	}
	return rows, nil
}

// RecordHealthNotified moves the notified health of a tenant key's policy
// from old to health, recording the notices and mail in the same
// transaction. It reports false (and writes nothing) when another worker got
// there first.
func (db *DB) RecordHealthNotified(ctx context.Context, tenantID, keyID string, old, health Health, sent []Notice, mail []NewMail) (bool, error) {
	errRaced := errors.New("raced")
	err := db.g.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Table("rotation_policies").Where("tenant_id = ? AND key_id = ? AND health_notified = ?", tenantID, keyID, old).Update("health_notified", health)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return errRaced
		}
		now := db.now()
		for _, n := range sent {
			if _, err := insertSentNoticeTx(tx, n, now); err != nil {
				return err
			}
		}
		return db.enqueueMailTx(tx, mail)
	})
	if errors.Is(err, errRaced) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("record health notice: %w", mapErr(err))
	}
	return true, nil
}

// insertSentNoticeTx records n as sent at now, unless a notice with its
// dedupe key exists already (a notice goes out at most once); created says
// which.
func insertSentNoticeTx(tx *gorm.DB, n Notice, now time.Time) (created bool, err error) {
	n.ID, n.State, n.CreatedAt, n.SentAt, n.DueAt = NewID("ntc_"), NoticeSent, now, &now, now
	res := tx.Table("notices").Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "dedupe_key"}}, DoNothing: true}).Create(&n)
	return res.RowsAffected == 1, res.Error
}

// AnyNotice reports whether a notice exists with one of the dedupe keys
// (dedupe keys name their tenant's key, so they are unique across tenants).
func (db *DB) AnyNotice(ctx context.Context, dedupe []string) (bool, error) {
	if len(dedupe) == 0 {
		return false, nil
	}
	var n int64
	if err := db.g.WithContext(ctx).Table("notices").Where("dedupe_key IN ?", dedupe).Count(&n).Error; err != nil {
		return false, fmt.Errorf("find notice: %w", mapErr(err))
	}
	return n > 0, nil
}

// RecordNotice records a notice that goes out now, with its mail, in one
// transaction, unless a notice with n's dedupe key or one of superseded
// exists (a later stage of the same reminder, say). It reports whether it
// wrote anything; of replicas racing for the same notice, one does.
func (db *DB) RecordNotice(ctx context.Context, n Notice, superseded []string, mail []NewMail) (bool, error) {
	errDone := errors.New("done")
	err := db.g.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if len(superseded) > 0 {
			var c int64
			if err := tx.Table("notices").Where("dedupe_key IN ?", superseded).Count(&c).Error; err != nil {
				return err
			}
			if c > 0 {
				return errDone
			}
		}
		created, err := insertSentNoticeTx(tx, n, db.now())
		if err != nil {
			return err
		}
		if !created {
			return errDone
		}
		return db.enqueueMailTx(tx, mail)
	})
	if errors.Is(err, errDone) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("record notice: %w", mapErr(err))
	}
	return true, nil
}

// noticeWebhookData is the "data" of a notice.due webhook: which notice
// about which key, and the rotation it announces.
func noticeWebhookData(n *Notice) map[string]any {
	d := map[string]any{"tenant_id": n.TenantID, "notice_id": n.ID, "key_id": n.KeyID, "kind": n.Kind}
	if n.RotationAt != nil {
		d["rotation_at"] = n.RotationAt.UTC().Format(time.RFC3339)
	}
	if n.LeadDays > 0 {
		d["lead_days"] = n.LeadDays
	}
	return d
}
