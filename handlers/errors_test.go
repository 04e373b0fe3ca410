package handlers

import (
	"bytes"
	"errors"
	"fmt"
	"keyport/keysvc"
	"keyport/keysvc/awskms"
	"keyport/keysvc/managed"
	"keyport/models"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

// TestHandleErrorLogsNoPathToken: a failed calendar feed request is logged
// with its route pattern, not the capability token in its path.
func TestHandleErrorLogsNoPathToken(t *testing.T) {
	const token = "feedtoken-canary-0123456789abcdef"
	var buf bytes.Buffer
	h := &Handler{log: slog.New(slog.NewJSONHandler(&buf, nil))}
	e := echo.New()
	req := httptest.NewRequest(http.MethodHead, "/calendar/"+token+"/rotations.ics", nil)
	c := e.NewContext(req, httptest.NewRecorder())
	c.SetPath("/calendar/:feed_token/rotations.ics")
	c.SetParamNames("feed_token")
	c.SetParamValues(token)
	h.HandleError(errors.New("database down"), c)
	if !strings.Contains(buf.String(), "request failed") {
		t.Fatalf("no error logged: %s", buf.String())
	}
	if strings.Contains(buf.String(), token) {
		t.Fatalf("the feed token reached the log: %s", buf.String())
	}
}

// TestOneAnswerPerSurface: the page and the data API answer each domain
// error from the one table, however deeply it is wrapped; where the
// surfaces differ on purpose (KMS refusal, throttling) each keeps its own.
func TestOneAnswerPerSurface(t *testing.T) {
	for _, tc := range []struct {
		err        error
		pageStatus int
		apiStatus  int
		apiCode    string
	}{
		{models.ErrNotFound, http.StatusNotFound, http.StatusInternalServerError, "internal_error"},
		{keysvc.ErrKeyNotFound, http.StatusNotFound, http.StatusNotFound, "key_not_found"},
		{awskms.ErrAccessDenied, http.StatusUnprocessableEntity, http.StatusFailedDependency, "key_access_revoked"},
		{awskms.ErrThrottled, http.StatusServiceUnavailable, http.StatusTooManyRequests, "kms_throttled"},
		{awskms.ErrUnavailable, http.StatusServiceUnavailable, http.StatusServiceUnavailable, "unavailable"},
		{awskms.ErrKeyDisabled, http.StatusInternalServerError, http.StatusConflict, "key_disabled"},
		{managed.ErrNotManaged, http.StatusConflict, http.StatusConflict, "not_managed"},
		{models.ErrInvitationExpired, http.StatusGone, http.StatusInternalServerError, "internal_error"},
		{models.ErrLastOwner, http.StatusConflict, http.StatusInternalServerError, "internal_error"},
		{&keysvc.ValidationError{Field: "days", Message: "too many"}, http.StatusUnprocessableEntity, http.StatusBadRequest, "invalid_request"},
		{echo.ErrNotFound, http.StatusNotFound, http.StatusNotFound, "not_found"},
		{echo.ErrStatusRequestEntityTooLarge, http.StatusRequestEntityTooLarge, http.StatusRequestEntityTooLarge, "request_too_large"},
		{errors.New("database down"), http.StatusInternalServerError, http.StatusInternalServerError, "internal_error"},
	} {
		err := fmt.Errorf("outer: %w", fmt.Errorf("inner: %w", tc.err))
		if got := problemFor(err).Status; got != tc.pageStatus {
			t.Errorf("page answer to %v: %d, want %d", tc.err, got, tc.pageStatus)
		}
		if got := APIErrorFor(err); got.Status != tc.apiStatus || got.Code != tc.apiCode {
			t.Errorf("API answer to %v: %d %s, want %d %s", tc.err, got.Status, got.Code, tc.apiStatus, tc.apiCode)
		}
	}
}
