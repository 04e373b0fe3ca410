// Package manageapi serves keyport's management API under /api/manage/v1:
// what a tenant's admins do in the portal, for their scripts and the kpctl
// CLI. Tenant API keys ("kpa_...") authenticate it with the rights of one
// tenant role; JSON in and out, no cookies, no CSRF. Every operation is one
// row of a table (Operation), from which both the routes and the OpenAPI
// document are built, so the two cannot disagree.
//
// It imports handlers (error answers, JSON decoding, the permission table),
// keysvc and its packages; handlers never imports it.
package manageapi

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"keyport/handlers"
	"keyport/keysvc"
	"keyport/keysvc/invites"
	"keyport/keysvc/managed"
	"keyport/keysvc/rotation"
	"keyport/keysvc/webhooks"
	"keyport/models"
)

// BasePath is where the management API is served.
const BasePath = "/api/manage/v1"

// Deps is what the management API is built from.
type Deps struct {
	DB       *models.DB
	Keys     *keysvc.Service
	Managed  *managed.Service    // key stores, keyport-made keys, import requests, approvals
	Rotation *rotation.Scheduler // rotation requests and policies
	Webhooks *webhooks.Service   // webhook endpoints; nil serves none
	Invites  *invites.Service    // invitations, with the portal's email (handlers.Handler.Invitations)
	Log      *slog.Logger
	Now      func() time.Time
}

// API serves the management API.
type API struct {
	db      *models.DB
	keys    *keysvc.Service
	mgd     *managed.Service
	rot     *rotation.Scheduler
	hooks   *webhooks.Service
	invites *invites.Service
	log     *slog.Logger
	now     func() time.Time
	ops     []Operation
	doc     []byte // the OpenAPI document, built once
	// verifies limits audit chain verifications (see verifyAudit).
	verifies verifyGate
}

// New builds the management API.
func New(d Deps) *API {
	a := &API{db: d.DB, keys: d.Keys, mgd: d.Managed, rot: d.Rotation, hooks: d.Webhooks, invites: d.Invites, log: d.Log, now: d.Now}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.now == nil {
		a.now = time.Now
	}
	a.ops = a.operations()
	doc, err := a.openAPIDocument()
	if err != nil {
		panic("manageapi: build the OpenAPI document: " + err.Error()) // a programming error, caught by every test
	}
	a.doc = doc
	return a
}

const apiKeyCtx = "keyport.api_key"

// Authenticate is middleware: a valid tenant API key in the Authorization
// header, or 401. Answers never go to a cache.
func (a *API) Authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "no-store")
		raw, ok := strings.CutPrefix(c.Request().Header.Get("Authorization"), "Bearer ")
		if !ok {
			return keysvc.ErrAPIKeyInvalid
		}
		info, err := a.keys.AuthenticateAPIKey(c.Request().Context(), strings.TrimSpace(raw))
		if err != nil {
			return err
		}
		c.Set(apiKeyCtx, info)
		c.SetRequest(c.Request().WithContext(keysvc.WithRequestBy(c.Request().Context(), by(c))))
		return next(c)
	}
}

// APIKeyID is the id of the API key that authenticated the request, ""
// before Authenticate ran: the key of the per-key rate limit.
func APIKeyID(c echo.Context) string { return key(c).ID }

func key(c echo.Context) keysvc.APIKeyInfo {
	info, _ := c.Get(apiKeyCtx).(keysvc.APIKeyInfo)
	return info
}

// tenant is the tenant the request's API key belongs to: the only tenant
// it can read or change.
func tenant(c echo.Context) string { return key(c).TenantID }

// by names the request's API key for audit events, on behalf of the
// person who created it (approvals count persons, not keys).
func by(c echo.Context) keysvc.RequestBy {
	k := key(c)
	return keysvc.RequestBy{UserID: k.ID, Kind: models.ActorAPIKey, RequestID: handlers.RequestID(c), OnBehalfOf: k.CreatedBy}
}

// allow is route middleware: the key's role must allow act.
func allow(act handlers.Action) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if act != "" && !handlers.Allowed(key(c).Role, act) {
				return &handlers.APIError{Status: http.StatusForbidden, Code: "forbidden",
					Message: "This API key's role (" + string(key(c).Role) + ") may not do this; use a key with the admin role."}
			}
			return next(c)
		}
	}
}

// RateLimited answers 429 rate_limited, asking the caller to wait.
func (a *API) RateLimited(c echo.Context, retryAfter string) error {
	return handlers.WriteAPIError(c, a.log, &handlers.APIError{Status: http.StatusTooManyRequests, Code: "rate_limited",
		Message: "This API key sent more requests than its rate limit allows; retry after the time in Retry-After.", RetryAfter: retryAfter})
}

// TooManyFailedAuthentications answers 429 when the client's address sent
// too many requests with a bad API key.
func (a *API) TooManyFailedAuthentications(c echo.Context, retryAfter string) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	return handlers.WriteAPIError(c, a.log, &handlers.APIError{Status: http.StatusTooManyRequests, Code: "rate_limited",
		Message: "Too many requests from this address carried a missing, invalid, expired or revoked API key; retry after the time in Retry-After.", RetryAfter: retryAfter})
}

// Routes registers every operation on g, the group at BasePath that runs
// Authenticate (and the rate limits) first.
func (a *API) Routes(g *echo.Group) {
	for _, op := range a.ops {
		g.Add(op.Method, op.Path, notFoundAs(op), allow(op.Act), a.idempotent(op))
	}
}

// notFoundAs runs op's handler and answers the store's "no such row" (a
// missing resource or another tenant's) as this API's 404, whichever
// service call found it missing.
func notFoundAs(op Operation) echo.HandlerFunc {
	what := strings.TrimSuffix(strings.ReplaceAll(op.Tag, "-", " "), "s")
	return func(c echo.Context) error {
		err := op.Handler(c)
		if errors.Is(err, models.ErrNotFound) {
			return notFound(what)
		}
		return err
	}
}

// OpenAPI serves the OpenAPI document (no authentication).
func (a *API) OpenAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, "application/json", a.doc)
}

// Operations lists the API's operations (tests compare them with the
// routes and the document).
func (a *API) Operations() []Operation { return a.ops }

// bind decodes the request body into v strictly (unknown fields, trailing
// data and malformed JSON are 400).
func bind(c echo.Context, v any) error { return handlers.DecodeJSON(c, v) }

// notFound is the answer for a resource that does not exist or belongs to
// another tenant: the two are indistinguishable.
func notFound(what string) error {
	return &handlers.APIError{Status: http.StatusNotFound, Code: "not_found", Message: "No such " + what + " in this tenant."}
}

// badRequest is a 400 invalid_request naming a field.
func badRequest(field, msg string) error {
	return &handlers.APIError{Status: http.StatusBadRequest, Code: "invalid_request", Message: field + ": " + msg}
}
