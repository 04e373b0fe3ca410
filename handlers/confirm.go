package handlers

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"keyport/keysvc/managed"
	"keyport/models"
	"keyport/views"
)

// ConfirmKeyAction asks before an action on a key that causes an outage,
// costs money in AWS or cannot be undone (views.KeyActionConfirm names
// them). The page posts the action's own form with the data-key version
// it showed, so a repeated submit does the action once.
func (h *Handler) ConfirmKeyAction(c echo.Context) error {
	return h.renderKeyConfirm(c, http.StatusOK, c.Param("action"), nil)
}

func (h *Handler) renderKeyConfirm(c echo.Context, status int, action string, errs map[string]string) error {
	v := viewerFrom(c)
	ctx := c.Request().Context()
	k, err := h.db.GetKey(ctx, v.Tenant.ID, c.Param("key_id"))
	if err != nil {
		return err
	}
	held := false
	if mk, err := h.db.GetManagedKey(ctx, v.Tenant.ID, k.ID); err == nil {
		held = mk.Held
	} else if !errors.Is(err, models.ErrNotFound) {
		return err
	} else if action != "rotate" {
		return managed.ErrNotManaged
	}
	d, ok := views.KeyActionConfirm(action, k.ID, k.Name, string(k.Mode), held, k.CurrentVersion)
	if !ok {
		return models.ErrNotFound
	}
	d.Errors = errs
	return render(c, status, views.ConfirmPage(h.page(c, d.Heading, "keys"), d))
}

// submittedTwice reports whether a confirmed action's form was made from a
// version of the key that is no longer current: the earlier submit of the
// same form (a double click, a reload) already changed it, so this one
// shows the key instead of acting again.
func submittedTwice(c echo.Context, k *models.Key) bool {
	from := c.FormValue("from_version")
	return from != "" && from != strconv.FormatInt(k.CurrentVersion, 10)
}

// typedNameMatches compares the name typed on a confirmation with the
// key's, ignoring surrounding spaces.
func typedNameMatches(c echo.Context, name string) bool {
	return strings.TrimSpace(c.FormValue(views.ConfirmField)) == name
}
