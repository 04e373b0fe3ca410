package manageapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"keyport/handlers"
	"keyport/keysvc"
	"keyport/models"
)

// APIKey is a tenant API key as lists show it: never its secret.
type APIKey struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Role       string     `json:"role" doc:"admin or auditor"`
	State      string     `json:"state" doc:"active, expired or revoked"`
	CreatedBy  string     `json:"created_by" doc:"the creator's user id (cli for keys an operator made)"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

// NewAPIKey is the answer of POST /api-keys: the key, shown this once.
type NewAPIKey struct {
	APIKey
	Secret string `json:"api_key" doc:"the key to send as Authorization: Bearer; shown only in this answer, keyport keeps only its hash"`
}

// APIKeyCreate is the body of POST /api-keys.
type APIKeyCreate struct {
	Name          string `json:"name"`
	Role          string `json:"role" doc:"admin or auditor"`
	ExpiresInDays *int   `json:"expires_in_days,omitempty" doc:"1 to 365; default 90"`
}

// defaultAPIKeyDays is a new key's lifetime when none is asked for.
const defaultAPIKeyDays = 90

func (a *API) apiKeyOps() []Operation {
	return []Operation{
		{Method: http.MethodPost, Path: "/api-keys", ID: "createAPIKey", Tag: "api-keys", Act: handlers.ActManageAPIKeys,
			Summary: "Create an API key of this tenant (admin or auditor, expiring in 1 to 365 days, default 90). The answer shows the key once (api_key); keyport keeps only its hash.",
			Request: APIKeyCreate{}, Response: NewAPIKey{}, Status: http.StatusCreated, Handler: a.createAPIKey},
		{Method: http.MethodGet, Path: "/api-keys", ID: "listAPIKeys", Tag: "api-keys", Act: handlers.ActManageAPIKeys,
			Summary: "List the tenant's API keys, revoked and expired ones included; never a secret.", Query: pageParams,
			Response: List[APIKey]{}, Handler: a.listAPIKeys},
		{Method: http.MethodDelete, Path: "/api-keys/:id", ID: "revokeAPIKey", Tag: "api-keys", Act: handlers.ActManageAPIKeys,
			Summary: "Revoke an API key at once (revoking twice is not an error).", Status: http.StatusNoContent, Handler: a.revokeAPIKey},
	}
}

func apiKeyOut(k *models.APIKey, now time.Time) APIKey {
	return APIKey{ID: k.ID, Name: k.Name, Role: string(k.Role), State: keysvc.APIKeyState(k, now), CreatedBy: k.CreatedBy,
		CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt, LastUsedAt: k.LastUsedAt, RevokedAt: k.RevokedAt}
}

func (a *API) createAPIKey(c echo.Context) error {
	var in APIKeyCreate
	if err := bind(c, &in); err != nil {
		return err
	}
	role := models.Role(in.Role)
	if role != models.RoleAdmin && role != models.RoleAuditor {
		return badRequest("role", `must be "admin" or "auditor"`)
	}
	days := defaultAPIKeyDays
	if in.ExpiresInDays != nil {
		days = *in.ExpiresInDays
	}
	if days < 1 || days > 365 {
		return badRequest("expires_in_days", "must be a whole number from 1 to 365")
	}
	secret, k, err := a.keys.NewAPIKey(c.Request().Context(), tenant(c), by(c), in.Name, role, time.Duration(days)*24*time.Hour)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, NewAPIKey{APIKey: apiKeyOut(k, a.now()), Secret: secret})
}

func (a *API) listAPIKeys(c echo.Context) error {
	ks, err := a.db.ListAPIKeys(c.Request().Context(), tenant(c))
	if err != nil {
		return err
	}
	out := make([]APIKey, 0, len(ks))
	for i := range ks {
		out = append(out, apiKeyOut(&ks[i], a.now()))
	}
	return page(c, out, func(x APIKey) string { return x.ID })
}

func (a *API) revokeAPIKey(c echo.Context) error {
	err := a.keys.RevokeAPIKey(c.Request().Context(), tenant(c), by(c), c.Param("id"))
	if errors.Is(err, models.ErrNotFound) {
		return notFound("API key")
	}
	return orNoContent(c, err)
}
