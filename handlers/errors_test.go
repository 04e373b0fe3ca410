package handlers

import (
	"bytes"
	"errors"
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
