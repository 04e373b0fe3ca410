package handlers

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"keyport/views"
)

// Mailbox is what the development mail page needs of the mail catcher.
type Mailbox interface {
	List() []views.Mail
	Get(id string) (views.Mail, bool)
}

// DevMail lists caught messages (development mode only).
func (h *Handler) DevMail(c echo.Context) error {
	var list []views.MailSummary
	for _, m := range h.mail.List() {
		list = append(list, m.MailSummary)
	}
	return render(c, http.StatusOK, views.DevMailPage(h.page(c, "Mail catcher", ""), list))
}

// DevMailMessage shows one caught message (development mode only).
func (h *Handler) DevMailMessage(c echo.Context) error {
	m, ok := h.mail.Get(c.Param("id"))
	if !ok {
		return echo.ErrNotFound
	}
	m.To = strings.TrimSpace(m.To)
	return render(c, http.StatusOK, views.DevMailMessagePage(h.page(c, m.Subject, ""), m))
}
