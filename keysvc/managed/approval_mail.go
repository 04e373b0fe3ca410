package managed

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"keyport/keysvc/mailer"
	"keyport/models"
)

// ApprovalMail is what an email about an approval says: every owner of
// the tenant hears of each request and each decision, so that one owner
// (or an admin) cannot quietly get a second person's approval.
type ApprovalMail struct {
	To         string
	TenantName string
	KeyID      string
	KeyName    string
	Action     string // models.ApprovalExport or models.ApprovalDelete
	Event      string // models.ApprovalPending (requested), ApprovalApproved or ApprovalDenied
	Requester  string // email of who asked
	Decider    string // email of who decided; "" for a request
	ExpiresAt  time.Time
}

// MailContent is a rendered email.
type MailContent struct {
	Subject, Text, HTML string
}

// ApprovalRenderer renders approval emails: managed knows nothing of
// templates (handlers/notice renders from the views).
type ApprovalRenderer interface {
	RenderApproval(ctx context.Context, m ApprovalMail) (MailContent, error)
}

// SetApprovalMail makes approval requests and decisions email every owner
// through the outbox, in the transaction that records them. Without it
// (tests that do not look at mail) no approval email is written.
func (s *Service) SetApprovalMail(ob *mailer.Outbox, r ApprovalRenderer) {
	s.mailOut, s.mailRender = ob, r
}

// approvalMails composes the emails about an approval event to every
// owner and to also (for a request: the admins who could approve it; for a
// decision: the requester), each address once; nil when no outbox is set.
func (s *Service) approvalMails(ctx context.Context, a *models.Approval, event, decider string, also ...string) ([]models.NewMail, error) {
	if s.mailOut == nil || s.mailRender == nil {
		return nil, nil
	}
	owners, err := s.db.TenantOwnerEmails(ctx, a.TenantID)
	if err != nil {
		return nil, err
	}
	for _, e := range also {
		if strings.Contains(e, "@") && !slices.Contains(owners, e) {
			owners = append(owners, e)
		}
	}
	slices.SortFunc(owners, func(x, y string) int { return strings.Compare(strings.ToLower(x), strings.ToLower(y)) })
	t, err := s.db.GetTenant(ctx, a.TenantID)
	if err != nil {
		return nil, err
	}
	k, err := s.db.GetKey(ctx, a.TenantID, a.KeyID)
	if err != nil {
		return nil, err
	}
	m := ApprovalMail{TenantName: t.Name, KeyID: k.ID, KeyName: k.Name, Action: a.Action, Event: event,
		Requester: s.userEmail(ctx, a.RequestedBy), ExpiresAt: a.ExpiresAt}
	if decider != "" {
		m.Decider = s.userEmail(ctx, decider)
	}
	out := make([]models.NewMail, 0, len(owners))
	for _, to := range owners {
		m.To = to
		c, err := s.mailRender.RenderApproval(ctx, m)
		if err != nil {
			return nil, fmt.Errorf("keysvc: render approval email: %w", err)
		}
		nm, err := s.mailOut.Compose(a.TenantID, "approval", "", mailer.Message{To: []string{to}, Subject: c.Subject, Text: c.Text, HTML: c.HTML})
		if err != nil {
			return nil, err
		}
		out = append(out, nm)
	}
	return out, nil
}

// userEmail names a user in an email: their address, or their id when the
// user is gone.
func (s *Service) userEmail(ctx context.Context, id string) string {
	if u, err := s.db.GetUser(ctx, id); err == nil && u.Email != "" {
		return u.Email
	}
	return id
}
