// Package invites invites people to a tenant: it makes the single-use
// link, stores the invitation (only the link token's hash) and sends its
// email, through the outbox in the invitation's own transaction when there
// is one, else directly after the commit. The portal's members page and
// the management API both invite through it, so the two send the same
// email. Its words come from a Renderer the caller supplies.
//
// It imports keysvc/mailer and models; nothing of HTTP or templates.
package invites

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"keyport/keysvc/mailer"
	"keyport/models"
)

// Mail is everything an invitation email shows.
type Mail struct {
	To           string
	TenantName   string
	InviterName  string
	InviterEmail string // "" when an API key invites
	Role         string
	Link         string // holds the token: never logged
	ExpiresAt    time.Time
}

// Renderer renders the invitation email (the views, through
// handlers/notice).
type Renderer interface {
	RenderInvitation(ctx context.Context, m Mail) (mailer.Message, error)
}

// Sender sends one email; *mailer.Mailer is the real one.
type Sender interface {
	Send(ctx context.Context, m mailer.Message) error
}

// Deps are the service's collaborators and settings.
type Deps struct {
	DB     *models.DB
	Outbox *mailer.Outbox // nil: send with Sender after the commit
	Sender Sender         // nil with no outbox: invitations are saved, not mailed
	Render Renderer
	Wake   func() // tells the outbox worker mail is waiting; may be nil
	// BaseURL is keyport's public URL, for the link.
	BaseURL string
	TTL     time.Duration // how long a link works
	// Limit invitations (and resends) per Window per tenant; 0 = none.
	Limit  int
	Window time.Duration
	Now    func() time.Time
	Log    *slog.Logger
}

// Service invites people to tenants.
type Service struct{ d Deps }

// New builds the service.
func New(d Deps) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	return &Service{d: d}
}

// Inviter is who invites: a member (their name and email show in the
// email) or an API key (its name shows).
type Inviter struct {
	ID        string // user id or API key id
	Kind      string // models.ActorUser or models.ActorAPIKey
	Name      string
	Email     string
	RequestID string
}

func (by Inviter) audit() models.AuditInput {
	return models.AuditInput{Actor: by.ID, ActorKind: by.Kind, RequestID: by.RequestID}
}

// Invite invites email to tenantID with role and emails the link. Older
// open invitations of the same address are revoked. mailed is false when
// the invitation was saved but its email could not be sent (it can be
// resent). Errors: models.ErrAlreadyMember, models.ErrRateLimited, and
// validation errors from the store.
func (s *Service) Invite(ctx context.Context, tenantID string, by Inviter, email string, role models.Role) (inv *models.Invitation, mailed bool, err error) {
	in, token, err := s.prepare(ctx, tenantID, by, email, role)
	if err != nil {
		return nil, false, err
	}
	if inv, err = s.d.DB.CreateInvitation(ctx, in, by.audit()); err != nil {
		return nil, false, err
	}
	return inv, s.mail(ctx, tenantID, by, inv, token), nil
}

// Resend replaces an open invitation with a fresh link and expiry and
// emails it; the old link stops working. models.ErrNotFound for another
// tenant's invitation.
func (s *Service) Resend(ctx context.Context, tenantID string, by Inviter, id string) (inv *models.Invitation, mailed bool, err error) {
	old, err := s.d.DB.GetInvitation(ctx, tenantID, id)
	if err != nil {
		return nil, false, err
	}
	in, token, err := s.prepare(ctx, tenantID, by, old.Email, old.Role)
	if err != nil {
		return nil, false, err
	}
	if inv, err = s.d.DB.ResendInvitation(ctx, tenantID, id, in, by.audit()); err != nil {
		return nil, false, err
	}
	return inv, s.mail(ctx, tenantID, by, inv, token), nil
}

// prepare makes the link's token and the invitation, with its email
// queued when there is an outbox.
func (s *Service) prepare(ctx context.Context, tenantID string, by Inviter, email string, role models.Role) (models.NewInvitation, string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return models.NewInvitation{}, "", fmt.Errorf("invites: read random: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(raw)
	clear(raw)
	sum := sha256.Sum256([]byte(token))
	in := models.NewInvitation{TenantID: tenantID, Email: email, Role: role, TokenHash: sum[:], InvitedBy: by.ID,
		TTL: s.d.TTL, Limit: s.d.Limit, Window: s.d.Window}
	if s.d.Outbox == nil {
		return in, token, nil
	}
	// The store stamps the expiry with the same clock a moment later.
	msg, err := s.message(ctx, tenantID, by, email, role, token, s.d.Now().Add(in.TTL))
	if err != nil {
		return models.NewInvitation{}, "", err
	}
	nm, err := s.d.Outbox.Compose(tenantID, "invitation", "", msg)
	if err != nil {
		return models.NewInvitation{}, "", fmt.Errorf("invites: queue invitation email: %w", err)
	}
	in.Mail = &nm
	return in, token, nil
}

// mail sends the email of a committed invitation, or wakes the outbox
// worker that sends the queued one. A failure is logged without the
// message, whose link holds the token.
func (s *Service) mail(ctx context.Context, tenantID string, by Inviter, inv *models.Invitation, token string) bool {
	if s.d.Outbox != nil {
		if s.d.Wake != nil {
			s.d.Wake()
		}
		return true
	}
	err := s.send(ctx, tenantID, by, inv, token)
	if err == nil {
		return true
	}
	s.d.Log.Warn("invitation email not sent", "request_id", by.RequestID, "tenant_id", inv.TenantID, "invitation_id", inv.ID, "err", err)
	return false
}

func (s *Service) send(ctx context.Context, tenantID string, by Inviter, inv *models.Invitation, token string) error {
	if s.d.Sender == nil {
		return errors.New("no mail server is configured")
	}
	base, err := url.Parse(s.d.BaseURL)
	if err != nil || base.Host == "" {
		return errors.New("no base url is configured for links")
	}
	msg, err := s.message(ctx, tenantID, by, inv.Email, inv.Role, token, inv.ExpiresAt)
	if err != nil {
		return err
	}
	msg.MessageID = inv.ID + "@" + base.Hostname()
	return s.d.Sender.Send(ctx, msg)
}

// message renders the invitation email.
func (s *Service) message(ctx context.Context, tenantID string, by Inviter, email string, role models.Role, token string, expires time.Time) (mailer.Message, error) {
	if s.d.Render == nil {
		return mailer.Message{}, errors.New("invites: no email renderer")
	}
	t, err := s.d.DB.GetTenant(ctx, tenantID)
	if err != nil {
		return mailer.Message{}, fmt.Errorf("invites: read tenant: %w", err)
	}
	name := by.Name
	if name == "" {
		name = by.Email
	}
	return s.d.Render.RenderInvitation(ctx, Mail{To: email, TenantName: t.Name, InviterName: name, InviterEmail: by.Email,
		Role: string(role), Link: s.d.BaseURL + "/invite?token=" + url.QueryEscape(token), ExpiresAt: expires.UTC()})
}
