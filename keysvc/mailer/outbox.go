package mailer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"keyport/keysvc/jobs"
	"keyport/keysvc/seal"
	"keyport/models"
)

// MailSender delivers one message; *Mailer is the real one.
type MailSender interface {
	Send(ctx context.Context, m Message) error
}

// Outbox turns messages into sealed outbox rows and delivers them from
// jobs. Delivery is at least once, and exactly once except in one window:
// after the relay accepted a message and before the "sent" mark commits. A
// worker that dies (or loses its lease) there leaves the message pending,
// and the next worker sends it again, with the same Message-ID so that
// mail systems can drop the copy. No worker can know whether a send whose
// answer it never got was accepted, so no design closes that window; this
// one keeps it to a single database commit.
type Outbox struct {
	db     *models.DB
	sealer *seal.Sealer
	send   MailSender
	domain string // right-hand side of Message-IDs: keyport's host name
	// afterSend, when set (tests), runs between a successful send and the
	// sent mark; returning an error simulates a crash in that window.
	afterSend func(id string) error
	obs       Observer // nil: none (see SetObserver)
}

// NewOutbox builds the outbox. domain names keyport in Message-IDs
// (the base URL's host). send may be nil when no relay is configured:
// messages then wait in the outbox.
func NewOutbox(db *models.DB, sealer *seal.Sealer, send MailSender, domain string) *Outbox {
	if domain == "" {
		domain = "keyport.localhost"
	}
	return &Outbox{db: db, sealer: sealer, send: send, domain: domain}
}

// sealedBody is what the outbox seals: both bodies of one message.
type sealedBody struct {
	Text        string       `json:"text"`
	HTML        string       `json:"html,omitempty"`
	Attachments []Attachment `json:"attachments,omitempty"`
}

// Compose prepares a message to one recipient for the outbox: it seals
// the bodies (an invitation carries a link with a token) and fixes the
// Message-ID. dedupe names the event and recipient, so the same notice is
// never queued twice ("" means the message is unique anyway). The caller
// writes the result in the same transaction as the event that caused it.
func (o *Outbox) Compose(tenantID, kind, dedupe string, m Message) (models.NewMail, error) {
	if len(m.To) != 1 {
		return models.NewMail{}, errors.New("mailer: an outbox message has exactly one recipient")
	}
	id := models.NewID("msg_")
	body, err := json.Marshal(sealedBody{Text: m.Text, HTML: m.HTML, Attachments: m.Attachments})
	if err != nil {
		return models.NewMail{}, fmt.Errorf("mailer: encode mail body: %w", err)
	}
	sealed, err := o.sealer.Seal(seal.OutboxPurpose(id), body)
	clear(body)
	if err != nil {
		return models.NewMail{}, fmt.Errorf("mailer: seal mail body: %w", err)
	}
	return models.NewMail{ID: id, TenantID: tenantID, Kind: kind, DedupeKey: dedupe, Recipient: m.To[0],
		Subject: m.Subject, BodySealed: sealed, MessageID: id + "@" + o.domain}, nil
}

// Deliver is the email.deliver job: send the message, then mark it sent
// and complete the job in one transaction.
func (o *Outbox) Deliver(ctx context.Context, j *models.Job, l models.Lease) error {
	var p models.EmailPayload
	if err := json.Unmarshal([]byte(j.Payload), &p); err != nil {
		return jobs.Permanent(fmt.Errorf("mailer: email job payload: %w", err))
	}
	m, err := o.db.GetOutboxMessage(ctx, p.OutboxID)
	if errors.Is(err, models.ErrNotFound) {
		return jobs.Permanent(err)
	}
	if err != nil {
		return err
	}
	if m.State != models.MailPending {
		o.observeDelivery(j, m.State, nil)
		return o.db.CompleteJob(ctx, l, "already "+m.State, nil)
	}
	err = o.sendOnce(ctx, m)
	o.observeDelivery(j, "", err)
	if err != nil {
		final := j.Attempts >= j.MaxAttempts || jobs.IsPermanent(err)
		if merr := o.db.MarkMailAttempt(ctx, m.ID, err.Error(), final); merr != nil {
			return errors.Join(err, merr)
		}
		return err
	}
	if o.afterSend != nil {
		if err := o.afterSend(m.ID); err != nil {
			return err
		}
	}
	return o.db.MarkMailSent(ctx, l, m.ID)
}

func (o *Outbox) sendOnce(ctx context.Context, m *models.OutboxMessage) error {
	if o.send == nil {
		return errors.New("mailer: no mail relay is configured")
	}
	raw, err := o.sealer.Open(seal.OutboxPurpose(m.ID), m.BodySealed)
	if err != nil {
		return jobs.Permanent(fmt.Errorf("mailer: open mail body: %w", err))
	}
	var b sealedBody
	err = json.Unmarshal(raw, &b)
	clear(raw)
	if err != nil {
		return jobs.Permanent(fmt.Errorf("mailer: decode mail body: %w", err))
	}
	return o.send.Send(ctx, Message{To: []string{m.Recipient}, Subject: m.Subject, Text: b.Text, HTML: b.HTML,
		MessageID: strings.Trim(m.MessageID, "<>"), Attachments: b.Attachments})
}

// Register makes w deliver the outbox.
func (o *Outbox) Register(w *jobs.Worker) {
	w.Handle(models.JobKindEmail, o.Deliver)
}

// Observer receives every delivery attempt of an outbox message: "sent",
// "retry", "failed" or "skipped" (already sent or failed). web's Metrics
// turns it into a Prometheus series.
type Observer interface {
	EmailDelivery(outcome string)
}

// SetObserver makes the outbox report every delivery attempt to obs. Call
// it before the outbox delivers anything.
func (o *Outbox) SetObserver(obs Observer) { o.obs = obs }

// observeDelivery reports one delivery attempt's outcome.
func (o *Outbox) observeDelivery(j *models.Job, state string, err error) {
	if o.obs == nil {
		return
	}
	switch {
	case state != "":
		o.obs.EmailDelivery("skipped")
	case err == nil:
		o.obs.EmailDelivery("sent")
	case jobs.IsPermanent(err) || j.Attempts >= j.MaxAttempts:
		o.obs.EmailDelivery("failed")
	default:
		o.obs.EmailDelivery("retry")
	}
}

// SetAfterSend installs a hook between a successful send and the "sent"
// mark. Only tests call it, to crash a worker inside the one window where
// delivery can repeat.
func (o *Outbox) SetAfterSend(f func(id string) error) { o.afterSend = f }
