package handlers

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"keyport/models"
	"keyport/views"
)

// ConfirmDeregisterKey shows what deregistering a customer-managed key
// ends before it happens (issue 14 item 5).
func (h *Handler) ConfirmDeregisterKey(c echo.Context) error {
	return h.renderDeregister(c, http.StatusOK, nil)
}

func (h *Handler) renderDeregister(c echo.Context, status int, errs map[string]string) error {
	v := viewerFrom(c)
	d, err := h.keys.PrepareDeregister(c.Request().Context(), v.Tenant.ID, c.Param("key_id"))
	if err != nil {
		return err
	}
	m := views.DeregisterConfirm{KeyID: d.Key.ID, KeyName: d.Key.Name, Errors: errs}
	for _, r := range d.Regions {
		m.KMSKeys = append(m.KMSKeys, r.KMSKeyARN)
	}
	for _, ver := range d.Versions {
		m.Versions = append(m.Versions, views.DeregisterVersion{Version: ver.Version, CreatedAt: ver.CreatedAt, Encrypts: ver.Encrypts,
			LastUsedAt: ver.LastUsedAt})
	}
	return render(c, status, views.DeregisterKeyPage(h.page(c, "Deregister "+d.Key.Name, "keys"), m))
}

// DeregisterKey deregisters the key when its name was typed; otherwise the
// confirmation page again with the message at the field.
func (h *Handler) DeregisterKey(c echo.Context) error {
	v := viewerFrom(c)
	_, err := h.keys.DeregisterKey(c.Request().Context(), v.Tenant.ID, h.by(c), c.Param("key_id"), c.FormValue("confirm_name"))
	if errs := fieldErrors(err); errs != nil {
		if _, ok := errs["confirm_name"]; ok {
			return h.renderDeregister(c, http.StatusUnprocessableEntity, errs)
		}
	}
	if err != nil {
		return fmt.Errorf("deregister key: %w", err)
	}
	return c.Redirect(http.StatusSeeOther, "/keys/"+c.Param("key_id")+"?done=deregistered")
}

// canDeregister: the viewer may deregister the key shown (a registered
// customer-managed key that is not DELETED).
func canDeregister(v *Viewer, k *models.Key) bool {
	return v.can(ActManageKeys) && k.Mode == models.ModeCMK && k.State != models.StateDeleted
}
