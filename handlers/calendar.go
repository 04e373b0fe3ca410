package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"keyport/handlers/ical"
	"keyport/keysvc"
	"keyport/models"
	"keyport/views"
)

// UpcomingRotations lists the tenant's keys by next rotation date, with
// the calendar feed and the default policy.
func (h *Handler) UpcomingRotations(c echo.Context) error {
	v := viewerFrom(c)
	return h.renderUpcoming(c, v, http.StatusOK, views.Upcoming{Flash: rotationFlashes[c.QueryParam("done")]}, nil)
}

func (h *Handler) renderUpcoming(c echo.Context, v *Viewer, status int, m views.Upcoming, form *views.PolicyForm) error {
	s, err := h.scheduler()
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	rows, err := h.db.UpcomingRotations(ctx, v.Tenant.ID, 500)
	if err != nil {
		return err
	}
	m.Rows, m.CanManage = h.upcomingRows(rows), v.can(ActManageSettings)
	f, err := h.db.GetCalendarFeed(ctx, v.Tenant.ID)
	switch {
	case err == nil:
		m.Feed.Exists, m.Feed.CreatedAt = true, f.CreatedAt
	case !errors.Is(err, models.ErrNotFound):
		return err
	}
	if form != nil {
		m.Defaults = *form
	} else {
		d, err := s.Defaults(ctx, v.Tenant.ID)
		if err != nil {
			return err
		}
		m.Defaults = views.PolicyForm{PeriodDays: strconv.Itoa(d.PeriodDays), NoticeDays: strings.ReplaceAll(d.NoticeDays, ",", ", "),
			WindowStartHour: strconv.Itoa(d.WindowStartHour), WindowHours: strconv.Itoa(d.WindowHours), Automatic: d.Automatic}
	}
	return render(c, status, views.UpcomingPage(h.page(c, "Upcoming rotations", "rotations"), m))
}

func (h *Handler) upcomingRows(rows []models.UpcomingRotation) []views.UpcomingRow {
	now := h.now()
	out := make([]views.UpcomingRow, 0, len(rows))
	for _, r := range rows {
		out = append(out, views.UpcomingRow{TenantName: r.TenantName, KeyID: r.KeyID, KeyName: r.KeyName, NextRotationAt: r.NextRotationAt,
			Automatic: r.Automatic, Overdue: !r.NextRotationAt.After(now), Health: string(r.KeyHealth), PeriodDays: r.PeriodDays})
	}
	return out
}

// OperatorRotations is the operator's list of every tenant's upcoming
// rotations (names and dates, never secrets).
func (h *Handler) OperatorRotations(c echo.Context) error {
	rows, err := h.db.UpcomingRotations(c.Request().Context(), "", 1000)
	if err != nil {
		return err
	}
	m := views.Upcoming{AllTenants: true, Rows: h.upcomingRows(rows), Flash: rotationFlashes[c.QueryParam("done")]}
	if h.rot != nil {
		m.MaxPostpone = h.rot.MaxPostponeDays(c.Request().Context())
	}
	return render(c, http.StatusOK, views.UpcomingPage(h.page(c, "Upcoming rotations", "operator-rotations"), m))
}

// SaveMaxPostpone sets the provider's bound on postponing one rotation.
func (h *Handler) SaveMaxPostpone(c echo.Context) error {
	s, err := h.scheduler()
	if err != nil {
		return err
	}
	err = s.SetMaxPostponeDays(c.Request().Context(), h.by(c), c.FormValue("max_postpone_days"))
	var ve *keysvc.ValidationError
	if errors.As(err, &ve) {
		m := views.Upcoming{AllTenants: true, MaxPostpone: s.MaxPostponeDays(c.Request().Context()), MaxPostponeError: ve.Message}
		return render(c, http.StatusUnprocessableEntity, views.UpcomingPage(h.page(c, "Upcoming rotations", "operator-rotations"), m))
	}
	if err != nil {
		return fmt.Errorf("save postpone bound: %w", err)
	}
	return c.Redirect(http.StatusSeeOther, "/operator/rotations?done=bound")
}

// SaveRotationDefaults sets the tenant's default policy for new keys.
func (h *Handler) SaveRotationDefaults(c echo.Context) error {
	v := viewerFrom(c)
	s, err := h.scheduler()
	if err != nil {
		return err
	}
	f, in := policyForm(c)
	err = s.SetDefaults(c.Request().Context(), v.Tenant.ID, h.by(c), in)
	var ve *keysvc.ValidationError
	if errors.As(err, &ve) {
		f.Errors[ve.Field] = ve.Message
		return h.renderUpcoming(c, v, http.StatusUnprocessableEntity, views.Upcoming{}, &f)
	}
	if err != nil {
		return fmt.Errorf("save rotation defaults: %w", err)
	}
	return c.Redirect(http.StatusSeeOther, "/rotations?done=defaults")
}

// CreateCalendarFeed makes (or replaces) the tenant's calendar feed and
// shows its address once. The address is a capability URL: the token in
// its path is the only credential, so calendar apps can fetch it without
// a session; keyport keeps only its hash, and a new one revokes the old.
func (h *Handler) CreateCalendarFeed(c echo.Context) error {
	v := viewerFrom(c)
	token, err := newSecret()
	if err != nil {
		return err
	}
	if err := h.db.SetCalendarFeed(c.Request().Context(), v.Tenant.ID, hashSecret(token),
		models.AuditInput{Actor: v.User.ID, RequestID: RequestID(c), Action: "calendar_feed.created"}); err != nil {
		return fmt.Errorf("create calendar feed: %w", err)
	}
	m := views.Upcoming{Flash: rotationFlashes["calendar"]}
	m.Feed.URL = h.cfg.BaseURL + "/calendar/" + token + "/rotations.ics"
	// Rendered, not redirected: the address must not land in a URL.
	return h.renderUpcoming(c, v, http.StatusOK, m, nil)
}

// RevokeCalendarFeed stops the tenant's calendar feed.
func (h *Handler) RevokeCalendarFeed(c echo.Context) error {
	v := viewerFrom(c)
	err := h.db.RevokeCalendarFeed(c.Request().Context(), v.Tenant.ID,
		models.AuditInput{Actor: v.User.ID, RequestID: RequestID(c), Action: "calendar_feed.revoked"})
	if err != nil && !errors.Is(err, models.ErrNotFound) {
		return fmt.Errorf("revoke calendar feed: %w", err)
	}
	return c.Redirect(http.StatusSeeOther, "/rotations?done=calrevoked")
}

// CalendarFeed serves a tenant's rotations as iCalendar, to whoever holds
// the feed's capability URL. An unknown token is a plain 404.
func (h *Handler) CalendarFeed(c echo.Context) error {
	ctx := c.Request().Context()
	c.Response().Header().Set("Cache-Control", "private, no-store")
	c.Response().Header().Set("Referrer-Policy", "no-referrer")
	tok := c.Param("feed_token") // the access log writes only this route's pattern (web/middleware.go)
	if !plausibleToken(tok) {
		return echo.ErrNotFound
	}
	tenantID, err := h.db.CalendarFeedByToken(ctx, hashSecret(tok))
	if err != nil {
		return echo.ErrNotFound
	}
	t, err := h.db.GetTenant(ctx, tenantID)
	if err != nil {
		return err
	}
	rows, err := h.db.UpcomingRotations(ctx, tenantID, 1000)
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, "text/calendar; charset=utf-8", ical.Rotations(t.Name, h.cfg.BaseURL, h.now(), rows).Encode())
}
