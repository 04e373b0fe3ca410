package managed

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"keyport/keysvc"
	"keyport/keysvc/mailer"
	"keyport/models"
)

// Closing a tenant (issue 16, Cryptomathic "close my account"): an owner
// asks for it, confirming with the tenant's name; during a waiting window
// (7-30 days, like a key's deletion) the tenant works as before, every
// member sees when it closes, and an owner may cancel. When the window
// ends a durable job closes it: access ends (memberships, sessions,
// invitations, service tokens, keys leave service), the KMS keys keyport
// made in the tenant's accounts are scheduled for deletion, and every
// secret keyport holds for the tenant is erased. The audit log stays.

// Closure window bounds, those of a key's deletion.
const (
	MinClosureDays     = MinDeletionDays
	MaxClosureDays     = MaxDeletionDays
	DefaultClosureDays = DefaultDeletionDays
)

// ErrClosureRequested refuses a second closure of a tenant.
var ErrClosureRequested = errors.New("keysvc: this tenant's closure is already requested")

// ErrNoPendingClosure refuses to cancel a closure that is not pending: none
// was asked, or its window ended and the tenant is being closed.
var ErrNoPendingClosure = errors.New("keysvc: this tenant has no closure to cancel")

// ClosureInput is an owner's confirmed request to close the tenant.
type ClosureInput struct {
	// ConfirmName must be the tenant's name as shown (surrounding spaces
	// ignored): closing is not a click away.
	ConfirmName string
	WindowDays  int // 7-30; 0 means 30
}

// Closure returns the tenant's closure that is not cancelled, or nil.
func (s *Service) Closure(ctx context.Context, tenantID string) (*models.TenantClosure, error) {
	c, err := s.db.LiveTenantClosure(ctx, tenantID)
	if errors.Is(err, models.ErrNotFound) {
		return nil, nil
	}
	return c, err
}

// RequestClosure starts a tenant's waiting window before its closure;
// the job that closes it is recorded with it and falls due when the
// window ends.
func (s *Service) RequestClosure(ctx context.Context, tenantID string, by keysvc.RequestBy, in ClosureInput) (*models.TenantClosure, error) {
	t, err := s.db.GetTenant(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(in.ConfirmName) != t.Name {
		return nil, &keysvc.ValidationError{Field: "confirm_name", Message: "type the tenant's name exactly as shown to confirm"}
	}
	days := in.WindowDays
	if days == 0 {
		days = DefaultClosureDays
	}
	if days < MinClosureDays || days > MaxClosureDays {
		return nil, &keysvc.ValidationError{Field: "window_days", Message: "must be between 7 and 30 days"}
	}
	at := s.now().Add(time.Duration(days) * 24 * time.Hour).UTC()
	mails, err := s.closureMails(ctx, tenantID, "requested", by.UserID, at)
	if err != nil {
		return nil, err
	}
	c, err := s.db.RequestTenantClosure(ctx, tenantID, by.UserID, days, at, by.Audit("tenant.closure_requested", nil), mails...)
	if errors.Is(err, models.ErrConflict) {
		return nil, ErrClosureRequested
	}
	return c, err
}

// CancelClosure cancels a tenant's pending closure.
func (s *Service) CancelClosure(ctx context.Context, tenantID string, by keysvc.RequestBy) error {
	mails, err := s.closureMails(ctx, tenantID, "cancelled", by.UserID, time.Time{})
	if err != nil {
		return err
	}
	err = s.db.CancelTenantClosure(ctx, tenantID, by.UserID, by.Audit("tenant.closure_cancelled", nil), mails...)
	if errors.Is(err, models.ErrNotFound) {
		return ErrNoPendingClosure
	}
	return err
}

// ClosureMail is what an email about a tenant's closure says; every
// member gets one when it is asked for and when it is cancelled.
type ClosureMail struct {
	To         string
	TenantName string
	Event      string // "requested" or "cancelled"
	By         string // email of the owner who asked or cancelled
	CloseAt    time.Time
}

// ClosureRenderer renders closure emails. The renderer given to
// SetApprovalMail renders them too when it has this method.
type ClosureRenderer interface {
	RenderClosure(ctx context.Context, m ClosureMail) (MailContent, error)
}

// closureMails composes the emails to every member about a closure
// event; nil without an outbox or a renderer for them.
func (s *Service) closureMails(ctx context.Context, tenantID, event, byUserID string, closeAt time.Time) ([]models.NewMail, error) {
	r, ok := s.mailRender.(ClosureRenderer)
	if s.mailOut == nil || !ok {
		return nil, nil
	}
	t, err := s.db.GetTenant(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	members, err := s.db.ListMembers(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	m := ClosureMail{TenantName: t.Name, Event: event, By: s.userEmail(ctx, byUserID), CloseAt: closeAt}
	var out []models.NewMail
	for _, mem := range members {
		if mem.Email == "" {
			continue
		}
		m.To = mem.Email
		c, err := r.RenderClosure(ctx, m)
		if err != nil {
			return nil, fmt.Errorf("keysvc: render closure email: %w", err)
		}
		nm, err := s.mailOut.Compose(tenantID, "closure", "", mailer.Message{To: []string{mem.Email}, Subject: c.Subject, Text: c.Text, HTML: c.HTML})
		if err != nil {
			return nil, err
		}
		out = append(out, nm)
	}
	return out, nil
}
