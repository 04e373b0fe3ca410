// Package notice renders the rotation scheduler's notice emails from the
// views: it is the one place that knows both rotation.NoticeMail and the
// views' notice components, so that neither has to know the other.
//
// It also renders the approval emails of keysvc/managed the same way.
//
// It also renders the invitation emails of keysvc/invites (the scheduled
// report emails are handlers/reportnotice's).
//
// It imports views, keysvc/rotation, keysvc/managed, keysvc/invites,
// keysvc/mailer and models.
package notice

import (
	"bytes"
	"context"
	"fmt"

	"keyport/keysvc/invites"
	"keyport/keysvc/mailer"
	"keyport/keysvc/managed"
	"keyport/keysvc/rotation"
	"keyport/models"
	"keyport/views"
)

// Renderer renders notice emails from the views for the rotation
// scheduler, which sends notices but knows nothing of templates.
type Renderer struct {
	BaseURL string // keyport's public URL, for the links in emails
}

// RenderNotice renders a notice email: the views compose its words from the
// fields its kind shows.
func (r Renderer) RenderNotice(ctx context.Context, m rotation.NoticeMail) (rotation.MailContent, error) {
	keyURL := r.BaseURL + "/keys/" + m.KeyID
	scheduleURL := keyURL + "/rotation"
	var n views.Notice
	switch m.Kind {
	case models.NoticeBeforeRotation:
		if m.TenantDataKeys {
			n = views.BeforeDataKeyRequestNotice(m.TenantName, m.KeyName, keyURL, m.RotationAt, m.LeadDays)
			break
		}
		n = views.BeforeRotationNotice(m.TenantName, m.KeyName, scheduleURL, m.RotationAt, m.LeadDays, m.Automatic, m.Renewal)
	case models.NoticeConfirm:
		n = views.ConfirmRotationNotice(m.TenantName, m.KeyName, scheduleURL, m.RotationAt, m.Renewal)
	case models.NoticeRotated:
		n = views.RotatedNotice(m.TenantName, m.KeyName, scheduleURL, m.Reason == "manual", m.RotatedAt, m.FromVersion, m.NewVersion,
			m.KMSDetail, m.Automatic, m.PeriodDays, m.RotationAt, m.Renewal)
	case models.NoticeDataKeyRequested:
		n = views.DataKeyRequestedNotice(m.TenantName, m.KeyName, keyURL, m.RotationAt, m.FromVersion)
	case models.NoticeMaterialExpiring:
		n = views.MaterialExpiringNotice(m.TenantName, m.KeyName, keyURL, m.MaterialVersion, m.Fingerprint, m.MaterialActive, m.ValidTo,
			m.LeadDays, m.AutoReupload)
	case models.NoticeHealth:
		if !m.ValidTo.IsZero() { // the material expired: the expiry reminders' last word
			n = views.MaterialExpiredNotice(m.TenantName, m.KeyName, keyURL, m.MaterialVersion, m.Fingerprint, m.MaterialActive, m.ValidTo)
		} else {
			n = views.HealthNotice(m.TenantName, m.KeyName, scheduleURL, m.Health, m.HealthDetail)
		}
	default:
		n = views.KeyNotice(m.TenantName, m.KeyName, scheduleURL)
	}
	var html, text bytes.Buffer
	if err := views.NoticeEmailHTML(n).Render(ctx, &html); err != nil {
		return rotation.MailContent{}, fmt.Errorf("render notice email: %w", err)
	}
	if err := views.NoticeEmailText(n).Render(ctx, &text); err != nil {
		return rotation.MailContent{}, fmt.Errorf("render notice email: %w", err)
	}
	return rotation.MailContent{Subject: views.NoticeEmailSubject(n), Text: text.String(), HTML: html.String()}, nil
}

// RenderApproval renders the email about an approval request or decision.
func (r Renderer) RenderApproval(ctx context.Context, m managed.ApprovalMail) (managed.MailContent, error) {
	n := views.ApprovalNotice(m.TenantName, m.KeyName, r.BaseURL+"/keys/"+m.KeyID, m.Action, m.Event, m.Requester, m.Decider, m.ExpiresAt)
	var html, text bytes.Buffer
	if err := views.NoticeEmailHTML(n).Render(ctx, &html); err != nil {
		return managed.MailContent{}, fmt.Errorf("render approval email: %w", err)
	}
	if err := views.NoticeEmailText(n).Render(ctx, &text); err != nil {
		return managed.MailContent{}, fmt.Errorf("render approval email: %w", err)
	}
	return managed.MailContent{Subject: views.NoticeEmailSubject(n), Text: text.String(), HTML: html.String()}, nil
}

// RenderInvitation renders an invitation email. An invitation an API key
// sent names the key and the API where the email shows an address.
func (r Renderer) RenderInvitation(ctx context.Context, m invites.Mail) (mailer.Message, error) {
	from := m.InviterEmail
	if from == "" {
		from = "keyport management API"
	}
	e := views.InviteEmail{TenantName: m.TenantName, InviterName: m.InviterName, InviterEmail: from, Role: m.Role, Link: m.Link, ExpiresAt: m.ExpiresAt}
	var html, text bytes.Buffer
	if err := views.InviteEmailHTML(e).Render(ctx, &html); err != nil {
		return mailer.Message{}, fmt.Errorf("render invitation email: %w", err)
	}
	if err := views.InviteEmailText(e).Render(ctx, &text); err != nil {
		return mailer.Message{}, fmt.Errorf("render invitation email: %w", err)
	}
	return mailer.Message{To: []string{m.To}, Subject: views.InviteEmailSubject(e), Text: text.String(), HTML: html.String()}, nil
}
