package handlers

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"keyport/keysvc"
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

// apiErrorFor is the one place that decides the data API's answer to err:
// an APIError as it says, a keysvc validation error as invalid_request, a
// domain error by domainErrors, echo's own errors (routing, body limits)
// with the page's status and words in the API's codes, anything else as
// internal_error.
func APIErrorFor(err error) *APIError {
	var ae *APIError
	var ve *keysvc.ValidationError
	var pe *PublicError
	var he *echo.HTTPError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &ve):
		return &APIError{http.StatusBadRequest, "invalid_request", ve.Field + ": " + ve.Message, ""}
	}
	for _, d := range domainErrors {
		if d.api != nil && errors.Is(err, d.err) {
			a := *d.api
			var pm publicMessager
			if errors.As(err, &pm) {
				a.Message = pm.PublicMessage()
			}
			return &a
		}
	}
	if errors.As(err, &pe) || errors.As(err, &he) {
		if pr := problemFor(err); pr.Status < 500 {
			return &APIError{pr.Status, apiCodeForStatus(pr.Status), pr.Message, ""}
		}
	}
	return &APIError{http.StatusInternalServerError, "internal_error", "The key service failed; the request id identifies this failure in keyport's logs.", ""}
}

// publicMessager is a domain error whose own message is safe to show and
// says more than its row's (keysvc.VersionRetiredError names the minimum).
type publicMessager interface{ PublicMessage() string }

// apiCodeForStatus names the errors the data API answers before any of its
// handlers runs (routing, body limits) after their status: not_found,
// method_not_allowed, forbidden, and request_too_large for 413.
func apiCodeForStatus(status int) string {
	if status == http.StatusRequestEntityTooLarge {
		return "request_too_large"
	}
	return strings.ToLower(strings.ReplaceAll(http.StatusText(status), " ", "_"))
}

type apiErrorBody struct {
	Error APIErrorDetail `json:"error"`
}

type APIErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// WriteAPIError sends an error response, logging only what is not the
// caller's fault.
func WriteAPIError(c echo.Context, log *slog.Logger, err error) error {
	ae := APIErrorFor(err)
	if ae.Status >= 500 {
		log.Error("data api failed", "request_id", RequestID(c), "path", c.Request().URL.Path, "err", err)
	}
	if ae.RetryAfter != "" {
		c.Response().Header().Set("Retry-After", ae.RetryAfter)
	}
	if ae.Status == http.StatusUnauthorized {
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="keyport"`)
	}
	return c.JSON(ae.Status, apiErrorBody{APIErrorDetail{ae.Code, ae.Message}})
}
