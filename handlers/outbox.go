package handlers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"keyport/keysvc/rotation"
	"keyport/models"
	"keyport/views"
)

// NoticeRenderer renders notice emails from the views for the rotation
// scheduler, which sends notices but knows nothing of templates.
type NoticeRenderer struct{}

// RenderNotice renders a notice email: the views compose its words from the
// fields its kind shows.
func (NoticeRenderer) RenderNotice(ctx context.Context, m rotation.NoticeMail) (rotation.MailContent, error) {
	var n views.Notice
	switch m.Kind {
	case models.NoticeBeforeRotation:
		n = views.BeforeRotationNotice(m.TenantName, m.KeyName, m.ScheduleURL, m.RotationAt, m.LeadDays, m.Automatic)
	case models.NoticeConfirm:
		n = views.ConfirmRotationNotice(m.TenantName, m.KeyName, m.ScheduleURL, m.RotationAt)
	case models.NoticeRotated:
		n = views.RotatedNotice(m.TenantName, m.KeyName, m.ScheduleURL, m.Reason == "manual", m.RotatedAt, m.FromVersion, m.NewVersion,
			m.KMSDetail, m.Automatic, m.PeriodDays, m.RotationAt)
	case models.NoticeMaterialExpiring:
		n = views.MaterialExpiringNotice(m.TenantName, m.KeyName, m.KeyURL, m.MaterialVersion, m.Fingerprint, m.MaterialActive, m.ValidTo,
			m.LeadDays, m.AutoReupload)
	case models.NoticeHealth:
		if !m.ValidTo.IsZero() { // the material expired: the expiry reminders' last word
			n = views.MaterialExpiredNotice(m.TenantName, m.KeyName, m.KeyURL, m.MaterialVersion, m.Fingerprint, m.MaterialActive, m.ValidTo)
		} else {
			n = views.HealthNotice(m.TenantName, m.KeyName, m.ScheduleURL, m.Health, m.HealthDetail)
		}
	default:
		n = views.KeyNotice(m.TenantName, m.KeyName, m.ScheduleURL)
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

// wakeWorker makes the job worker look for work now (mail just queued).
func (h *Handler) wakeWorker() {
	if h.rot != nil {
		h.rot.Worker.Wake()
	}
}

// stuckAfter is how long a message may wait before the operator sees it.
const stuckAfter = 15 * time.Minute

// OperatorOutbox lists email that is stuck or failed: recipients,
// subjects and errors, never bodies.
func (h *Handler) OperatorOutbox(c echo.Context) error {
	ctx := c.Request().Context()
	ms, err := h.db.OutboxProblems(ctx, h.now().Add(-stuckAfter), 200)
	if err != nil {
		return err
	}
	counts, err := h.db.OutboxCounts(ctx)
	if err != nil {
		return err
	}
	var m views.OutboxPage
	for _, st := range []string{models.MailPending, models.MailSent, models.MailFailed} {
		m.Counts = append(m.Counts, views.Option{Label: st, Value: strconv.FormatInt(counts[st], 10)})
	}
	for _, x := range ms {
		m.Rows = append(m.Rows, views.OutboxRow{ID: x.ID, TenantID: x.TenantID, Kind: x.Kind, Recipient: x.Recipient, Subject: x.Subject,
			State: x.State, Attempts: x.Attempts, LastError: x.LastError, CreatedAt: x.CreatedAt})
	}
	return render(c, http.StatusOK, views.OutboxOperatorPage(h.page(c, "Outgoing email", "operator"), m))
}

// RetryOutboxMessage puts a failed message back in the queue.
func (h *Handler) RetryOutboxMessage(c echo.Context) error {
	v := viewerFrom(c)
	err := h.db.RetryMail(c.Request().Context(), c.Param("id"),
		models.AuditInput{Actor: v.User.ID, RequestID: requestID(c), Action: "mail.retried"})
	if err != nil && !errors.Is(err, models.ErrNotFound) { // gone or already pending: nothing to do
		return fmt.Errorf("retry mail: %w", err)
	}
	h.wakeWorker()
	return c.Redirect(http.StatusSeeOther, "/operator/outbox")
}

// optionalKinds describe the notices a member may turn off.
var optionalKinds = map[string][2]string{
	models.NoticeBeforeRotation: {"Before a scheduled rotation", "At each notice lead time of the key's policy."},
	models.NoticeRotated:        {"After a rotation", "What changed, and when the next rotation is."},
	models.NoticeMaterialExpiring: {"Before key material expires", "30, 7 and 1 days before material keyport imported into AWS KMS expires. " +
		"The notice that it expired always comes."},
}

// NotificationSettings shows the viewer's email preferences in the tenant.
func (h *Handler) NotificationSettings(c echo.Context) error {
	v := viewerFrom(c)
	out, err := h.db.MailOptOuts(c.Request().Context(), v.Tenant.ID, v.User.ID)
	if err != nil {
		return err
	}
	m := views.NotificationPrefs{Saved: c.QueryParam("done") == "saved"}
	for _, k := range rotation.OptionalNoticeKinds {
		d := optionalKinds[k]
		m.Kinds = append(m.Kinds, views.PrefRow{Kind: k, Label: d[0], Detail: d[1], Receives: !slices.Contains(out, k)})
	}
	return render(c, http.StatusOK, views.NotificationsPage(h.page(c, "Email notifications", ""), m))
}

// SaveNotificationSettings stores which optional notices the viewer gets.
func (h *Handler) SaveNotificationSettings(c echo.Context) error {
	v := viewerFrom(c)
	form, err := c.FormParams()
	if err != nil {
		return err
	}
	receive := form["receive"]
	var out []string
	for _, k := range rotation.OptionalNoticeKinds {
		if !slices.Contains(receive, k) {
			out = append(out, k)
		}
	}
	if err := h.db.SetMailOptOuts(c.Request().Context(), v.Tenant.ID, v.User.ID, out); err != nil {
		return fmt.Errorf("save notification settings: %w", err)
	}
	return c.Redirect(http.StatusSeeOther, "/profile/notifications?done=saved")
}
