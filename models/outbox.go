package models

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Outbox message states.
const (
	MailPending = "pending"
	MailSent    = "sent" // the relay accepted it
	MailFailed  = "failed"
)

// JobKindEmail is the job that delivers one outbox message.
const JobKindEmail = "email.deliver"

// OutboxMessage is one email waiting for (or past) delivery. The body is
// sealed by keysvc; the store never sees it.
type OutboxMessage struct {
	ID         string
	TenantID   string
	Kind       string // "invitation", "rotation_notice", "rotated", "health", ...
	DedupeKey  string
	Recipient  string
	Subject    string
	BodySealed []byte
	MessageID  string
	State      string
	Attempts   int
	LastError  string
	CreatedAt  time.Time
	SentAt     *time.Time
}

// String leaves the sealed body out of logs.
func (m OutboxMessage) String() string {
	return fmt.Sprintf("models.OutboxMessage{id: %s, tenant: %s, kind: %s, state: %s}", m.ID, m.TenantID, m.Kind, m.State)
}

// LogValue redacts for slog too (its JSON handler ignores String).
func (m OutboxMessage) LogValue() slog.Value { return slog.StringValue(m.String()) }

func (m *OutboxMessage) normalize() {
	m.CreatedAt, m.SentAt = m.CreatedAt.UTC(), tsPtr(m.SentAt)
}

// NewMail is a message to put in the outbox; keysvc fills it (ComposeMail)
// with a sealed body. ID is chosen by the caller, because the seal and the
// Message-ID are bound to it.
type NewMail struct {
	ID         string
	TenantID   string
	Kind       string
	DedupeKey  string // "" means ID: never collapsed with another message
	Recipient  string
	Subject    string
	BodySealed []byte
	MessageID  string
}

// String leaves the sealed body out of logs.
func (m NewMail) String() string {
	return fmt.Sprintf("models.NewMail{id: %s, tenant: %s, kind: %s}", m.ID, m.TenantID, m.Kind)
}

// LogValue redacts for slog too (its JSON handler ignores String).
func (m NewMail) LogValue() slog.Value { return slog.StringValue(m.String()) }

// EmailPayload is the payload of an email delivery job.
type EmailPayload struct {
	OutboxID string `json:"outbox_id"`
}

// EnqueueMail puts messages in the outbox, each with its delivery job, in
// one transaction. A message whose dedupe key is already there is skipped.
func (db *DB) EnqueueMail(ctx context.Context, msgs ...NewMail) error {
	err := db.g.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return db.enqueueMailTx(tx, msgs)
	})
	if err != nil {
		return fmt.Errorf("enqueue mail: %w", mapErr(err))
	}
	return nil
}

// enqueueMailTx writes messages and their delivery jobs inside the caller's
// transaction: the mail exists exactly when the event that caused it does.
func (db *DB) enqueueMailTx(tx *gorm.DB, msgs []NewMail) error {
	now := db.now()
	for _, in := range msgs {
		if in.ID == "" || in.Recipient == "" || len(in.BodySealed) == 0 {
			return invalid("mail", "id, recipient and body are required")
		}
		if in.DedupeKey == "" {
			in.DedupeKey = in.ID
		}
		m := OutboxMessage{ID: in.ID, TenantID: in.TenantID, Kind: in.Kind, DedupeKey: in.DedupeKey, Recipient: in.Recipient,
			Subject: in.Subject, BodySealed: in.BodySealed, MessageID: in.MessageID, State: MailPending, CreatedAt: now}
		res := tx.Table("outbox").Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "dedupe_key"}}, DoNothing: true}).Create(&m)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			continue
		}
		payload, _ := json.Marshal(EmailPayload{OutboxID: m.ID}) // a struct of strings always marshals
		if _, _, err := db.enqueueJobTx(tx, NewJob{Kind: JobKindEmail, TenantID: m.TenantID, RunKey: "email:" + m.ID,
			Payload: string(payload), MaxAttempts: 12}); err != nil {
			return err
		}
	}
	return nil
}

// GetOutboxMessage returns one message of any tenant: the outbox is the
// provider's, read by the delivery job that has only the message id.
func (db *DB) GetOutboxMessage(ctx context.Context, id string) (*OutboxMessage, error) {
	var m OutboxMessage
	if err := db.g.WithContext(ctx).Table("outbox").Where("id = ?", id).Take(&m).Error; err != nil {
		return nil, fmt.Errorf("get outbox message: %w", mapErr(err))
	}
	m.normalize()
	return &m, nil
}

// MarkMailSent records that the relay accepted the message and completes
// its delivery job, in one transaction: if the lease was lost, neither
// happens (and the worker that holds it now will send again; see keysvc's
// note on the undecidable window).
func (db *DB) MarkMailSent(ctx context.Context, l Lease, id string) error {
	err := db.g.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		now := db.now()
		if err := tx.Table("outbox").Where("id = ? AND state = ?", id, MailPending).Updates(map[string]any{
			"state": MailSent, "sent_at": now, "attempts": gorm.Expr("attempts + 1"), "last_error": "",
		}).Error; err != nil {
			return err
		}
		return db.completeJobTx(tx, l, "sent")
	})
	if err != nil {
		return fmt.Errorf("mark mail sent: %w", mapErr(err))
	}
	return nil
}

// MarkMailAttempt records a failed delivery attempt of a message of any
// tenant (the delivery worker's, across tenants by design); final marks the
// message failed (its job ran out of attempts or the message cannot be
// sent at all).
func (db *DB) MarkMailAttempt(ctx context.Context, id, lastError string, final bool) error {
	set := map[string]any{"attempts": gorm.Expr("attempts + 1"), "last_error": truncate(lastError, 2000)}
	if final {
		set["state"] = MailFailed
	}
	err := db.g.WithContext(ctx).Table("outbox").Where("id = ? AND state = ?", id, MailPending).Updates(set).Error
	if err != nil {
		return fmt.Errorf("mark mail attempt: %w", mapErr(err))
	}
	return nil
}

// OutboxProblems lists failed messages and pending ones created before
// stuckBefore, oldest first, for the operator. Bodies are left out.
func (db *DB) OutboxProblems(ctx context.Context, stuckBefore time.Time, limit int) ([]OutboxMessage, error) {
	var ms []OutboxMessage
	err := db.g.WithContext(ctx).Table("outbox").
		Select("id, tenant_id, kind, dedupe_key, recipient, subject, message_id, state, attempts, last_error, created_at, sent_at").
		Where("state = ? OR (state = ? AND created_at < ?)", MailFailed, MailPending, ts(stuckBefore)).
		Order("created_at, id").Limit(max(limit, 1)).Find(&ms).Error
	if err != nil {
		return nil, fmt.Errorf("list outbox problems: %w", mapErr(err))
	}
	for i := range ms {
		ms[i].normalize()
	}
	return ms, nil
}

// OutboxCounts counts every tenant's messages by state.
func (db *DB) OutboxCounts(ctx context.Context) (map[string]int64, error) {
	var rows []struct {
		State string
		N     int64
	}
	if err := db.g.WithContext(ctx).Table("outbox").Select("state, COUNT(*) AS n").Group("state").Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("count outbox: %w", mapErr(err))
	}
	out := map[string]int64{}
	for _, r := range rows {
		out[r.State] = r.N
	}
	return out, nil
}

// RetryMail puts a failed message of any tenant back in the queue with a
// fresh set of attempts (the operator fixed the relay), with an audit event.
// Across tenants by design: only the operator may call it.
func (db *DB) RetryMail(ctx context.Context, id string, audit AuditInput) error {
	return db.change(ctx, "retry mail", func(tx *gorm.DB) (*AuditInput, error) {
		now := db.now()
		res := tx.Table("outbox").Where("id = ? AND state = ?", id, MailFailed).Updates(map[string]any{"state": MailPending, "last_error": ""})
		if res.Error != nil {
			return nil, res.Error
		}
		if res.RowsAffected != 1 {
			return nil, ErrNotFound
		}
		if err := tx.Table("jobs").Where("run_key = ? AND state IN ?", "email:"+id, []string{JobFailed, JobCancelled}).Updates(map[string]any{
			"state": JobPending, "attempts": 0, "due_at": now, "updated_at": now, "finished_at": nil, "last_error": "",
		}).Error; err != nil {
			return nil, err
		}
		audit.TargetType, audit.TargetID = "mail", id
		return &audit, nil
	})
}

// MailRecipients lists the emails of a tenant's owners and admins who have
// not opted out of kind; critical kinds ignore opt-outs.
func (db *DB) MailRecipients(ctx context.Context, tenantID, kind string, critical bool) ([]string, error) {
	q := db.g.WithContext(ctx).Table("memberships AS m").Select("u.email").
		Joins("JOIN users AS u ON u.id = m.user_id").
		Where("m.tenant_id = ? AND m.role IN ? AND u.email <> ''", tenantID, []Role{RoleOwner, RoleAdmin})
	if !critical {
		q = q.Where("NOT EXISTS (SELECT 1 FROM mail_optouts o WHERE o.tenant_id = m.tenant_id AND o.user_id = m.user_id AND o.kind = ?)", kind)
	}
	var out []string
	if err := q.Order("lower(u.email)").Pluck("u.email", &out).Error; err != nil {
		return nil, fmt.Errorf("mail recipients: %w", mapErr(err))
	}
	return out, nil
}

// MailOptOuts returns the kinds userID opted out of in tenantID.
func (db *DB) MailOptOuts(ctx context.Context, tenantID, userID string) ([]string, error) {
	var out []string
	err := db.g.WithContext(ctx).Table("mail_optouts").Where("tenant_id = ? AND user_id = ?", tenantID, userID).
		Order("kind").Pluck("kind", &out).Error
	if err != nil {
		return nil, fmt.Errorf("mail opt-outs: %w", mapErr(err))
	}
	return out, nil
}

// SetMailOptOuts replaces userID's opt-outs in tenantID with kinds.
func (db *DB) SetMailOptOuts(ctx context.Context, tenantID, userID string, kinds []string) error {
	err := db.g.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec("DELETE FROM mail_optouts WHERE tenant_id = ? AND user_id = ?", tenantID, userID).Error; err != nil {
			return err
		}
		now := db.now()
		for _, k := range kinds {
			row := map[string]any{"tenant_id": tenantID, "user_id": userID, "kind": k, "created_at": now}
			if err := tx.Table("mail_optouts").Create(row).Error; err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set mail opt-outs: %w", mapErr(err))
	}
	return nil
}
