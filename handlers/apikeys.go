package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"keyport/keysvc"
	"keyport/models"
	"keyport/views"
)

// defaultAPIKeyDays is the lifetime the API keys form offers.
const defaultAPIKeyDays = 90

// APIKeys lists the tenant's management-API keys (owners and admins).
func (h *Handler) APIKeys(c echo.Context) error {
	return h.renderAPIKeys(c, http.StatusOK, views.APIKeyForm{Role: string(models.RoleAuditor), ExpiresDays: strconv.Itoa(defaultAPIKeyDays)}, "", "")
}

func (h *Handler) renderAPIKeys(c echo.Context, status int, form views.APIKeyForm, created, createdName string) error {
	v := viewerFrom(c)
	ks, err := h.db.ListAPIKeys(c.Request().Context(), v.Tenant.ID)
	if err != nil {
		return fmt.Errorf("list API keys: %w", err)
	}
	m := views.APIKeysPage{Form: form, Created: created, CreatedName: createdName}
	now := h.now()
	for i := range ks {
		k := &ks[i]
		m.Keys = append(m.Keys, views.APIKeyRow{ID: k.ID, Name: k.Name, Role: string(k.Role), State: keysvc.APIKeyState(k, now),
			CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt, LastUsedAt: k.LastUsedAt})
	}
	p := h.page(c, "API keys", "api-keys")
	if c.Request().Method == http.MethodGet && c.QueryParam("done") == "revoked" {
		p.Flash = "API key revoked: it is refused from its next request."
	}
	return render(c, status, views.APIKeysTemplate(p, m))
}

// CreateAPIKey makes a key and shows it once, in this answer only (never
// in a flash cookie, a URL or a log).
func (h *Handler) CreateAPIKey(c echo.Context) error {
	v := viewerFrom(c)
	form := views.APIKeyForm{Name: strings.TrimSpace(c.FormValue("name")), Role: c.FormValue("role"),
		ExpiresDays: strings.TrimSpace(c.FormValue("expires_days")), Errors: map[string]string{}}
	if form.Role != string(models.RoleAdmin) && form.Role != string(models.RoleAuditor) {
		form.Errors["role"] = "Choose admin or auditor."
	}
	days, err := strconv.Atoi(form.ExpiresDays)
	if err != nil || days < 1 || days > 365 {
		form.Errors["expires_days"] = "Give a whole number of days from 1 to 365."
	}
	if len(form.Errors) > 0 {
		return h.renderAPIKeys(c, http.StatusUnprocessableEntity, form, "", "")
	}
	secret, k, err := h.keys.NewAPIKey(c.Request().Context(), v.Tenant.ID, h.by(c), form.Name, models.Role(form.Role), time.Duration(days)*24*time.Hour)
	var ve *models.ValidationError
	if errors.As(err, &ve) {
		form.Errors[ve.Field] = "The " + ve.Field + " " + ve.Message + "."
		return h.renderAPIKeys(c, http.StatusUnprocessableEntity, form, "", "")
	}
	if err != nil {
		return fmt.Errorf("create API key: %w", err)
	}
	return h.renderAPIKeys(c, http.StatusOK, views.APIKeyForm{Role: string(models.RoleAuditor), ExpiresDays: strconv.Itoa(defaultAPIKeyDays)}, secret, k.Name)
}

// RevokeAPIKey revokes one of the tenant's keys at once.
func (h *Handler) RevokeAPIKey(c echo.Context) error {
	v := viewerFrom(c)
	if err := h.keys.RevokeAPIKey(c.Request().Context(), v.Tenant.ID, h.by(c), c.Param("api_key_id")); err != nil {
		return fmt.Errorf("revoke API key: %w", err)
	}
	return c.Redirect(http.StatusSeeOther, "/api-keys?done=revoked")
}
