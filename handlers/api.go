package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"keyport/keysvc"
	"keyport/keysvc/awskms"
	"keyport/keysvc/envelope"
)

// API serves the data API under /api/v1 for the provider's services:
// JSON in and out, service-token authentication, no cookies, no CSRF.
type API struct {
	keys *keysvc.Service
	log  *slog.Logger
}

// NewAPI builds the data API handlers.
func NewAPI(keys *keysvc.Service, log *slog.Logger) *API {
	return &API{keys: keys, log: log}
}

// Limits of the data API, part of its contract.
const (
	MaxAPIPlaintext = 256 << 10 // bytes per item
	MaxBatchItems   = 100
)

// APIError is a data API error: a status, a stable code services can
// branch on, and a message safe to show (never plaintext, key material or
// AWS's own error text).
type APIError struct {
	Status     int
	Code       string
	Message    string
	RetryAfter string
}

func (e *APIError) Error() string { return e.Code + ": " + e.Message }

// apiErrorFor maps the service's errors onto the API's statuses and codes.
func apiErrorFor(err error) *APIError {
	var ae *APIError
	var ve *keysvc.ValidationError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &ve):
		return &APIError{http.StatusBadRequest, "invalid_request", ve.Field + ": " + ve.Message, ""}
	case errors.Is(err, keysvc.ErrTokenInvalid):
		return &APIError{http.StatusUnauthorized, "unauthorized", "The service token is missing, invalid or revoked.", ""}
	case errors.Is(err, keysvc.ErrTokenScope):
		return &APIError{http.StatusForbidden, "forbidden", "This service token may not act for that tenant.", ""}
	case errors.Is(err, keysvc.ErrKeyNotFound):
		return &APIError{http.StatusNotFound, "key_not_found", "No such key for this tenant.", ""}
	case errors.Is(err, envelope.ErrMalformedCiphertext):
		return &APIError{http.StatusBadRequest, "ciphertext_malformed", "The ciphertext is not in keyport's format.", ""}
	case errors.Is(err, envelope.ErrDecrypt):
		return &APIError{http.StatusBadRequest, "ciphertext_invalid", "The ciphertext does not decrypt with this tenant, key and context: it was altered, or made for another tenant or context.", ""}
	case errors.Is(err, awskms.ErrKeyDisabled):
		return &APIError{http.StatusConflict, "key_disabled", "The key is disabled.", ""}
	case errors.Is(err, awskms.ErrKeyPendingDeletion):
		return &APIError{http.StatusConflict, "key_pending_deletion", "The key is pending deletion.", ""}
	case errors.Is(err, awskms.ErrKeyNotUsable):
		return &APIError{http.StatusConflict, "key_not_usable", "The key is not usable yet or any more; its owner can see why in keyport.", ""}
	case errors.Is(err, awskms.ErrAccessDenied):
		return &APIError{http.StatusFailedDependency, "key_access_revoked", "Access to the key was revoked by the key owner.", ""}
	case errors.Is(err, awskms.ErrThrottled):
		return &APIError{http.StatusTooManyRequests, "kms_throttled", "The key owner's KMS is throttling requests; retry later.", "1"}
	case errors.Is(err, awskms.ErrUnavailable), errors.Is(err, keysvc.ErrRotationRaced), errors.Is(err, keysvc.ErrVersionExhausted),
		errors.Is(err, context.DeadlineExceeded):
		return &APIError{http.StatusServiceUnavailable, "unavailable", "The key service cannot complete this now; retry later.", "2"}
	}
	return &APIError{http.StatusInternalServerError, "internal_error", "The key service failed; the request id identifies this failure in keyport's logs.", ""}
}

type apiErrorBody struct {
	Error apiErrorDetail `json:"error"`
}

type apiErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// writeAPIError sends an error response, logging only what is not the
// caller's fault.
func (a *API) writeAPIError(c echo.Context, err error) error {
	return writeAPIError(c, a.log, err)
}

// writeAPIError is the data API's one error response, for API's handlers
// and for the data API routes that Handler serves (APIRotateKey).
func writeAPIError(c echo.Context, log *slog.Logger, err error) error {
	ae := apiErrorFor(err)
	if ae.Status >= 500 {
		log.Error("data api failed", "request_id", requestID(c), "path", c.Request().URL.Path, "err", err)
	}
	if ae.RetryAfter != "" {
		c.Response().Header().Set("Retry-After", ae.RetryAfter)
	}
	if ae.Status == http.StatusUnauthorized {
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="keyport"`)
	}
	return c.JSON(ae.Status, apiErrorBody{apiErrorDetail{ae.Code, ae.Message}})
}

const tokenKey = "keyport.service_token"

// dataAPIActor is the audit actor of what the data API does; keysvc's
// data plane records its events under the same name.
const dataAPIActor = "keyport:data-api"

// apiBy names a data API request for audit events.
func apiBy(c echo.Context) keysvc.RequestBy {
	return keysvc.RequestBy{UserID: dataAPIActor, RequestID: requestID(c)}
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
