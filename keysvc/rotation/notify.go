package rotation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"keyport/keysvc/jobs"
	"keyport/keysvc/mailer"
	"keyport/models"
)

// NoticeMail is everything an email about a key may show. Renderers pick
// what their Kind needs.
type NoticeMail struct {
	Kind        string // a models.Notice* kind
	To          string
	TenantName  string
	KeyName     string
	KeyID       string
	RotationAt  time.Time
	LeadDays    int
	Automatic   bool
	PeriodDays  int
	FromVersion int64
	NewVersion  int64
	Reason      string // "scheduled" or "manual"
	// Renewal: the rotation was (for a "rotated" notice) or will be (for
	// the notices before it) a renewal (new KMS key, alias moved), not a
	// new data key under the same KMS key.
	Renewal      bool
	RotatedAt    time.Time
	KMSDetail    string
	Health       string
	HealthDetail string
	// Material expiry (reminders and the expired notice): the KMS expiry,
	// which material (version, fingerprint, still the active one), and
	// whether keyport re-uploads it by itself.
	ValidTo         time.Time
	MaterialVersion int
	Fingerprint     string
	MaterialActive  bool
	AutoReupload    bool
	// TenantDataKeys: the tenant supplies the key's data keys, so a due
	// rotation asks for the next one instead of making it.
	TenantDataKeys bool
}

// MailContent is a rendered email.
type MailContent struct {
	Subject string
	Text    string
	HTML    string
}

// Renderer renders a notice email. rotation knows nothing of templates:
// the views render, through handlers.NoticeRenderer.
type Renderer interface {
	RenderNotice(ctx context.Context, m NoticeMail) (MailContent, error)
}

// criticalNotice reports whether a kind of notice goes to every owner and
// admin whatever their preferences: the key needs someone to act.
func criticalNotice(kind string) bool {
	return kind == models.NoticeHealth || kind == models.NoticeConfirm || kind == models.NoticeDataKeyRequested
}

// OptionalNoticeKinds are the kinds members may opt out of.
var OptionalNoticeKinds = []string{models.NoticeBeforeRotation, models.NoticeRotated, models.NoticeMaterialExpiring}

// badHealth is health that stops keyport from using a key, or soon will.
func badHealth(h models.Health) bool {
	switch h {
	case models.HealthAccessDenied, models.HealthKMSDisabled, models.HealthPendingDeletion, models.HealthMaterialExpired, models.HealthDrift:
		return true
	}
	return false
}

// noticeMail renders n for each recipient of its kind and composes the
// outbox messages, deduplicated per notice and recipient.
func (s *Scheduler) noticeMail(ctx context.Context, k *models.Key, p *models.RotationPolicy, n models.Notice, m NoticeMail) ([]models.NewMail, error) {
	if s.Render == nil {
		return nil, errors.New("keysvc: no email renderer is configured")
	}
	to, err := s.DB.MailRecipients(ctx, k.TenantID, n.Kind, criticalNotice(n.Kind))
	if err != nil || len(to) == 0 {
		return nil, err // nobody to write to (all opted out): nothing to render
	}
	t, err := s.DB.GetTenant(ctx, k.TenantID)
	if err != nil {
		return nil, err
	}
	m.Kind, m.TenantName, m.KeyName, m.KeyID, m.TenantDataKeys = n.Kind, t.Name, k.Name, k.ID, k.TenantDataKeys
	if (n.Kind == models.NoticeBeforeRotation || n.Kind == models.NoticeConfirm) && k.Mode != models.ModeCMK {
		// A key whose material keyport holds in KMS renews on schedule.
		if mk, err := s.DB.GetManagedKey(ctx, k.TenantID, k.ID); err == nil && !mk.Held {
			m.Renewal = true
		}
	}
	if p != nil {
		m.Automatic, m.PeriodDays = p.Automatic, p.PeriodDays
		if m.RotationAt.IsZero() {
			m.RotationAt = p.NextRotationAt
		}
	}
	var out []models.NewMail
	for _, addr := range to {
		m.To = addr
		c, err := s.Render.RenderNotice(ctx, m)
		if err != nil {
			return nil, fmt.Errorf("keysvc: render %s notice: %w", n.Kind, err)
		}
		nm, err := s.Outbox.Compose(k.TenantID, n.Kind, n.DedupeKey+":"+addr,
			mailer.Message{To: []string{addr}, Subject: c.Subject, Text: c.Text, HTML: c.HTML})
		if err != nil {
			return nil, err
		}
		out = append(out, nm)
	}
	return out, nil
}

// runNotice is the notice.send job: a planned notice goes out once, if its
// rotation is still on the date it names (SendNotice checks, in the same
// transaction that queues the mail and completes the job).
func (s *Scheduler) runNotice(ctx context.Context, j *models.Job, l models.Lease) error {
	var p models.NoticePayload
	if err := json.Unmarshal([]byte(j.Payload), &p); err != nil {
		return jobs.Permanent(fmt.Errorf("keysvc: notice job payload: %w", err))
	}
	n, err := s.DB.GetNotice(ctx, j.TenantID, p.NoticeID)
	if errors.Is(err, models.ErrNotFound) {
		return s.DB.CompleteJob(ctx, l, "notice gone", nil)
	}
	if err != nil {
		return err
	}
	if n.State != models.NoticePlanned {
		return s.DB.CompleteJob(ctx, l, "notice "+n.State, nil)
	}
	k, err := s.DB.GetKey(ctx, n.TenantID, n.KeyID)
	if err != nil {
		return err
	}
	pol, err := s.DB.GetRotationPolicy(ctx, n.TenantID, n.KeyID)
	if err != nil {
		return err
	}
	m := NoticeMail{LeadDays: n.LeadDays, FromVersion: k.CurrentVersion}
	if n.RotationAt != nil {
		m.RotationAt = *n.RotationAt
	}
	mail, err := s.noticeMail(ctx, k, pol, *n, m)
	if err != nil {
		return err
	}
	outcome, err := s.DB.SendNotice(ctx, l, n.TenantID, n.ID, mail)
	if err == nil && outcome == "sent" {
		s.Worker.Wake()
	}
	return err
}

// notifyHealth tells owners and admins when a key's health turns bad, once
// per change: a key that stays bad is not reported again, one that
// recovers and breaks again is.
func (s *Scheduler) notifyHealth(ctx context.Context) {
	rows, err := s.DB.HealthToNotify(ctx, 100)
	if err != nil {
		s.Logger.Warn("scheduler: health to notify", "err", err)
		return
	}
	for i := range rows {
		r := &rows[i]
		var sent []models.Notice
		var mail []models.NewMail
		if badHealth(r.KeyHealth) && !s.expiryToldFor(ctx, r.TenantID, r.KeyID, r.KeyHealth) {
			k, err := s.DB.GetKey(ctx, r.TenantID, r.KeyID)
			if err != nil {
				s.Logger.Warn("scheduler: health notice", "key_id", r.KeyID, "err", err)
				continue
			}
			n := models.Notice{TenantID: r.TenantID, KeyID: r.KeyID, Kind: models.NoticeHealth, Detail: string(r.KeyHealth),
				DedupeKey: "health:" + r.KeyID + ":" + string(r.KeyHealth) + ":" + strconv.FormatInt(s.Now().UnixMicro(), 10)}
			mail, err = s.noticeMail(ctx, k, &r.RotationPolicy, n, NoticeMail{Health: string(r.KeyHealth), HealthDetail: k.HealthDetail})
			if err != nil {
				s.Logger.Warn("scheduler: health notice", "key_id", r.KeyID, "err", err)
				continue
			}
			sent = []models.Notice{n}
		}
		if _, err := s.DB.RecordHealthNotified(ctx, r.TenantID, r.KeyID, r.HealthNotified, r.KeyHealth, sent, mail); err != nil {
			s.Logger.Warn("scheduler: record health notice", "key_id", r.KeyID, "err", err)
		}
	}
	if len(rows) > 0 {
		s.Worker.Wake()
	}
}
