package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"keyport/models"
	"keyport/views"
)

// RotateOptions is a key's "Rotate..." page: the ways to rotate valid for
// the key's kind, each explained, with what it costs and whether it can be
// undone. Undo renewal is offered only while the service would accept it.
func (h *Handler) RotateOptions(c echo.Context) error {
	v := viewerFrom(c)
	ctx := c.Request().Context()
	k, err := h.db.GetKey(ctx, v.Tenant.ID, c.Param("key_id"))
	if err != nil {
		return err
	}
	o := views.RotateOptions{KeyID: k.ID, KeyName: k.Name, Kind: string(k.Mode), Enabled: k.State == models.StateEnabled,
		CanManage: v.can(ActManageKeys), TenantDataKeys: k.TenantDataKeys, CurrentVersion: k.CurrentVersion, ScheduledDoes: "data_key"}
	mk, err := h.db.GetManagedKey(ctx, v.Tenant.ID, k.ID)
	switch {
	case errors.Is(err, models.ErrNotFound):
	case err != nil:
		return err
	case mk.Held:
		o.Kind = "held"
	default:
		o.ScheduledDoes = "renewal"
		if o.CanUndo, err = h.mgd.CanUndo(ctx, v.Tenant.ID, k.ID); err != nil {
			return err
		}
	}
	if s, err := h.scheduler(); err == nil {
		if p, err := s.Policy(ctx, v.Tenant.ID, k.ID); err == nil {
			o.PeriodDays = p.PeriodDays
		}
	}
	return render(c, http.StatusOK, views.RotateOptionsPage(h.page(c, "Rotate "+k.Name, "keys"), o))
}
