package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"keyport/keysvc"
	"keyport/keysvc/managed"
	"keyport/models"
)

// API serves the data API under /api/v1 for the provider's services:
// JSON in and out, service-token authentication, no cookies, no CSRF.
type API struct {
	keys *keysvc.Service
	mgd  *managed.Service // import requests; nil serves none
	log  *slog.Logger
}

// NewAPI builds the data API handlers. mgd serves the import-request
// endpoints; it may be nil where they are not used.
func NewAPI(keys *keysvc.Service, mgd *managed.Service, log *slog.Logger) *API {
	return &API{keys: keys, mgd: mgd, log: log}
}

// Limits of the data API, part of its contract.
const (
	MaxAPIPlaintext = 256 << 10 // bytes per item
	MaxBatchItems   = 100
)

const tokenKey = "keyport.service_token"

// dataAPIActor is the audit actor of what the data API does; keysvc's
// data plane records its events under the same name.
const dataAPIActor = "keyport:data-api"

// apiBy names a data API request for audit events: the service token
// that authenticated it, as the actor (issue 17 #25: one scheme of actor
// kind, actor id and request id on every event).
func apiBy(c echo.Context) keysvc.RequestBy {
	id := ServiceTokenID(c)
	if id == "" { // not reached behind Authenticate; never an empty actor
		id = dataAPIActor
	}
	return keysvc.RequestBy{UserID: id, Kind: models.ActorServiceToken, RequestID: requestID(c)}
}

// Authenticate is middleware: a valid service token in the Authorization
// header, or 401. Responses never go to a cache: they carry plaintext.
func (a *API) Authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "no-store")
		raw, ok := strings.CutPrefix(c.Request().Header.Get("Authorization"), "Bearer ")
		if !ok {
			return a.writeAPIError(c, keysvc.ErrTokenInvalid)
		}
		info, err := a.keys.Authenticate(c.Request().Context(), strings.TrimSpace(raw))
		if err != nil {
			return a.writeAPIError(c, err)
		}
		c.Set(tokenKey, info)
		// keysvc's own events of this request (data-key fetches) name
		// the token and the request id too.
		c.SetRequest(c.Request().WithContext(keysvc.WithRequestBy(c.Request().Context(), apiBy(c))))
		return next(c)
	}
}

// ServiceTokenID is the id of the service token that authenticated the
// request ("" before Authenticate ran): the key of the per-token rate limit.
func ServiceTokenID(c echo.Context) string {
	info, _ := c.Get(tokenKey).(keysvc.TokenInfo)
	return info.ID
}

// RateLimited answers 429 rate_limited in the API's error shape, asking the
// caller to wait retryAfter seconds.
func (a *API) RateLimited(c echo.Context, retryAfter string) error {
	return a.writeAPIError(c, &APIError{http.StatusTooManyRequests, "rate_limited",
		"This service token sent more requests than its rate limit allows; retry after the time in Retry-After.", retryAfter})
}

// TooManyFailedAuthentications answers 429 rate_limited in the API's error
// shape when the client's address sent too many requests with a bad
// service token; it asks the caller to wait retryAfter seconds.
func (a *API) TooManyFailedAuthentications(c echo.Context, retryAfter string) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	return a.writeAPIError(c, &APIError{http.StatusTooManyRequests, "rate_limited",
		"Too many requests from this address carried a missing, invalid or revoked service token; retry after the time in Retry-After.", retryAfter})
}

// tenant resolves the tenant a request acts for, from the token and the
// tenant the body (or query) names.
func tenant(c echo.Context, requested string) (string, error) {
	info, _ := c.Get(tokenKey).(keysvc.TokenInfo)
	return info.TenantFor(requested)
}

// decodeJSON reads one JSON object, refusing unknown fields (a typo in a
// field name is an error, not a silently ignored option) and trailing data.
func decodeJSON(c echo.Context, v any) error {
	if ct := c.Request().Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return &APIError{http.StatusUnsupportedMediaType, "unsupported_media_type", "Send application/json.", ""}
	}
	dec := json.NewDecoder(c.Request().Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &APIError{http.StatusRequestEntityTooLarge, "request_too_large", "The request body is too large.", ""}
		}
		return &APIError{http.StatusBadRequest, "invalid_json", "The request body is not valid JSON for this call: " + jsonProblem(err), ""}
	}
	if !onlySpaceLeft(io.MultiReader(dec.Buffered(), c.Request().Body)) {
		return &APIError{http.StatusBadRequest, "invalid_json", "The request body has data after the JSON object.", ""}
	}
	return nil
}

// jsonProblem describes a decoding error without echoing the input.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %q has the wrong type", te.Field)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	case errors.Is(err, io.EOF):
		return "empty body"
	}
	return "malformed"
}

// onlySpaceLeft reports whether r holds nothing but JSON whitespace, reading
// through a small stack buffer (the body is usually already buffered).
func onlySpaceLeft(r io.Reader) bool {
	var buf [64]byte
	for {
		n, err := r.Read(buf[:])
		for _, b := range buf[:n] {
			if b != ' ' && b != '\t' && b != '\n' && b != '\r' {
				return false
			}
		}
		if err != nil {
			return errors.Is(err, io.EOF)
		}
	}
}
