package notice

import (
	"bytes"
	"context"
	"fmt"

	"keyport/keysvc/managed"
	"keyport/views"
)

// RenderClosure renders the email about a tenant's closure being asked
// for or cancelled.
func (r Renderer) RenderClosure(ctx context.Context, m managed.ClosureMail) (managed.MailContent, error) {
	n := views.ClosureNotice(m.TenantName, r.BaseURL+"/dashboard", m.Event, m.By, m.CloseAt)
	var html, text bytes.Buffer
	if err := views.NoticeEmailHTML(n).Render(ctx, &html); err != nil {
		return managed.MailContent{}, fmt.Errorf("render closure email: %w", err)
	}
	if err := views.NoticeEmailText(n).Render(ctx, &text); err != nil {
		return managed.MailContent{}, fmt.Errorf("render closure email: %w", err)
	}
	return managed.MailContent{Subject: views.NoticeEmailSubject(n), Text: text.String(), HTML: html.String()}, nil
}
