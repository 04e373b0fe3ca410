package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"keyport/models"
	"keyport/views"
)

// tokenForm is the new-token form.
type tokenForm struct {
	Name     string `form:"name"`
	TenantID string `form:"tenant_id"` // "" = provider-wide
}

// ServiceTokens lists the data API's service tokens (operators only).
func (h *Handler) ServiceTokens(c echo.Context) error {
	return h.renderTokens(c, http.StatusOK, views.TokenForm{}, "")
}

func (h *Handler) renderTokens(c echo.Context, status int, form views.TokenForm, created string) error {
	ctx := c.Request().Context()
	rows, err := h.db.ListServiceTokens(ctx)
	if err != nil {
		return err
	}
	tenants, _, err := h.tenantOwners(ctx)
	if err != nil {
		return err
	}
	names := map[string]string{}
	page := views.TokensPage{Form: form, Created: created}
	for _, t := range tenants {
		names[t.ID] = tenantChoiceLabel(t)
		page.Tenants = append(page.Tenants, views.TenantInfo{ID: t.ID, Name: names[t.ID]})
	}
	for _, t := range rows {
		row := views.TokenRow{ID: t.ID, Name: t.Name, Scope: "provider-wide", CreatedAt: t.CreatedAt, LastUsedAt: t.LastUsedAt, Revoked: t.RevokedAt != nil}
		if t.TenantID != "" {
			row.Scope = names[t.TenantID]
		}
		page.Tokens = append(page.Tokens, row)
	}
	p := h.page(c, "Service tokens", "tokens")
	if c.Request().Method == http.MethodGet && c.QueryParam("done") == "revoked" {
		p.Flash = "Token revoked: every replica refuses it within a second."
	}
	return render(c, status, views.ServiceTokensPage(p, page))
}

// CreateServiceToken makes a token and shows it once, on this response only.
func (h *Handler) CreateServiceToken(c echo.Context) error {
	var f tokenForm
	if err := c.Bind(&f); err != nil {
		return badForm(err)
	}
	form := views.TokenForm{Name: strings.TrimSpace(f.Name), TenantID: f.TenantID}
	if f.TenantID != "" {
		if _, err := h.db.GetTenant(c.Request().Context(), f.TenantID); err != nil {
			form.Errors = map[string]string{"tenant_id": "Choose a tenant from the list."}
			return h.renderTokens(c, http.StatusUnprocessableEntity, form, "")
		}
	}
	tok, _, err := h.keys.NewServiceToken(c.Request().Context(), f.TenantID, form.Name, viewerFrom(c).User.ID)
	var ve *models.ValidationError
	if errors.As(err, &ve) {
		form.Errors = map[string]string{ve.Field: "The name " + ve.Message + "."}
		return h.renderTokens(c, http.StatusUnprocessableEntity, form, "")
	}
	if err != nil {
		return fmt.Errorf("create service token: %w", err)
	}
	// Shown once, never stored in a flash cookie or a URL.
	return h.renderTokens(c, http.StatusOK, views.TokenForm{}, tok)
}

// RevokeServiceToken revokes a token; every replica refuses it within a
// second.
func (h *Handler) RevokeServiceToken(c echo.Context) error {
	err := h.keys.RevokeServiceToken(c.Request().Context(), c.Param("token_id"), viewerFrom(c).User.ID)
	if err != nil {
		return fmt.Errorf("revoke service token: %w", err)
	}
	return c.Redirect(http.StatusSeeOther, "/provider/tokens?done=revoked")
}
