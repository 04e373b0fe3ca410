package handlers

import (
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
	return render(c, http.StatusOK, views.OutboxOperatorPage(h.page(c, "Outgoing email", "operator-outbox"), m))
}

// RetryOutboxMessage puts a failed message back in the queue.
func (h *Handler) RetryOutboxMessage(c echo.Context) error {
	v := viewerFrom(c)
	err := h.db.RetryMail(c.Request().Context(), c.Param("id"),
		models.AuditInput{Actor: v.User.ID, RequestID: RequestID(c), Action: "mail.retried"})
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
