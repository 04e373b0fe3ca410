package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"keyport/keysvc/managed"
	"keyport/models"
	"keyport/views"
)

// ClosePage shows an owner what closing the tenant does, the downloads to
// take first, and the confirmation form or the pending closure.
func (h *Handler) ClosePage(c echo.Context) error {
	return h.renderClose(c, http.StatusOK, strconv.Itoa(managed.DefaultClosureDays), "", nil)
}

func (h *Handler) renderClose(c echo.Context, status int, window, confirm string, errs map[string]string) error {
	v := viewerFrom(c)
	ctx := c.Request().Context()
	d := views.TenantClosurePage{TenantName: v.Tenant.Name, WindowDays: window, ConfirmName: confirm, Errors: errs,
		Downloads: closureDownloads(v.Tenant.CreatedAt, h.now())}
	var err error
	if d.Pending, err = h.closureInfo(ctx, v.Tenant.ID); err != nil {
		return err
	}
	return render(c, status, views.ClosePage(h.page(c, "Close "+v.Tenant.Name, "members"), d))
}

// closureDownloads are the existing CSV and JSON exports of the audit log
// (the activity report, from the tenant's first day) and the reports.
func closureDownloads(created, now time.Time) []views.Link {
	period := "from=" + created.UTC().Format(time.DateOnly) + "&to=" + now.UTC().Format(time.DateOnly)
	return []views.Link{
		{Label: "Audit log, whole history (CSV)", Href: "/reports/activity?format=csv&" + period},
		{Label: "Audit log, whole history (JSON)", Href: "/reports/activity?format=json&" + period},
		{Label: "Key inventory (CSV)", Href: "/reports/inventory?format=csv"},
		{Label: "Key inventory (JSON)", Href: "/reports/inventory?format=json"},
		{Label: "Configuration validation (CSV)", Href: "/reports/validation?format=csv"},
		{Label: "Configuration validation (JSON)", Href: "/reports/validation?format=json"},
	}
}

// RequestClosure starts the tenant's waiting window before it closes. It
// needs the tenant's name typed in and a recent sign-in.
func (h *Handler) RequestClosure(c echo.Context) error {
	v := viewerFrom(c)
	if !h.signedInRecently(c) {
		return signInAgain(c, "/tenant/close")
	}
	days, _ := strconv.Atoi(c.FormValue("window_days"))
	_, err := h.mgd.RequestClosure(c.Request().Context(), v.Tenant.ID, h.by(c), managed.ClosureInput{ConfirmName: c.FormValue("confirm_name"), WindowDays: days})
	if errs := fieldErrors(err); errs != nil {
		return h.renderClose(c, http.StatusUnprocessableEntity, c.FormValue("window_days"), c.FormValue("confirm_name"), errs)
	}
	if err != nil {
		return fmt.Errorf("request tenant closure: %w", err)
	}
	return c.Redirect(http.StatusSeeOther, "/tenant/close")
}

// CancelClosure cancels the tenant's pending closure.
func (h *Handler) CancelClosure(c echo.Context) error {
	if err := h.mgd.CancelClosure(c.Request().Context(), viewerFrom(c).Tenant.ID, h.by(c)); err != nil {
		return fmt.Errorf("cancel tenant closure: %w", err)
	}
	return c.Redirect(http.StatusSeeOther, "/dashboard")
}

// closureInfo is the tenant's pending or running closure for pages, nil
// when there is none (or it is closed: nobody sees its pages then).
func (h *Handler) closureInfo(ctx context.Context, tenantID string) (*views.ClosureInfo, error) {
	cl, err := h.mgd.Closure(ctx, tenantID)
	if err != nil || cl == nil || cl.State == models.ClosureClosed {
		return nil, err
	}
	by := cl.RequestedBy
	if u, err := h.db.GetUser(ctx, cl.RequestedBy); err == nil {
		by = u.Email
	} else if !errors.Is(err, models.ErrNotFound) {
		return nil, err
	}
	return &views.ClosureInfo{CloseAt: cl.CloseAt, WindowDays: cl.WindowDays, RequestedBy: by, Closing: cl.State == models.ClosureClosing}, nil
}

// withClosing puts the viewer's tenant's closure on the page, for the
// banner every member sees; a failed read leaves it off (the page itself
// reads the store and fails on its own).
func (h *Handler) withClosing(c echo.Context, p views.Page) views.Page {
	v := viewerFrom(c)
	if v == nil || v.Tenant == nil || h.mgd == nil {
		return p
	}
	info, err := h.closureInfo(c.Request().Context(), v.Tenant.ID)
	if err != nil {
		h.log.Warn("read tenant closure", "request_id", RequestID(c), "err", err)
		return p
	}
	p.Closing = info
	return p
}

// refuseClosedTenant refuses the sign-in of a former member of a closed
// tenant who belongs to no other: the tenant stays closed, and keyport
// does not quietly give them a new, empty one in its place. An
// invitation to another tenant still lets them in.
func (h *Handler) refuseClosedTenant(ctx context.Context, userID string) error {
	t, closedAt, err := h.db.ClosedTenantOf(ctx, userID)
	if errors.Is(err, models.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check closed tenants: %w", err)
	}
	return refuse("tenant_closed", http.StatusForbidden, "Tenant closed",
		"Your tenant "+t.Name+" was closed on "+closedAt.Format("2006-01-02")+" and cannot be opened again. To use keyport again, ask an owner of another tenant to invite you.")
}
