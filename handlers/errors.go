package handlers

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"keyport/models"
	"keyport/views"
)

// PublicError is an error whose heading and message are safe to show to the
// user. Any other error is logged in full and shown as a plain message with
// the request id: only errors marked this way reach a page.
type PublicError struct {
	Status  int
	Heading string
	Message string
	Action  *views.Link
	Err     error // the cause, for the log only
}

func (e *PublicError) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *PublicError) Unwrap() error { return e.Err }

// problemFor decides what the user is shown for err.
func problemFor(err error) views.Problem {
	var pe *PublicError
	var he *echo.HTTPError
	switch {
	case errors.As(err, &pe):
		return views.Problem{Status: pe.Status, Heading: pe.Heading, Message: pe.Message, Action: pe.Action}
	case errors.Is(err, models.ErrNotFound):
		return notFoundProblem()
	case errors.As(err, &he):
		switch he.Code {
		case http.StatusNotFound:
			return notFoundProblem()
		case http.StatusForbidden:
			return forbiddenProblem()
		case http.StatusRequestEntityTooLarge:
			return views.Problem{Status: he.Code, Heading: "Request too large", Message: "What you sent is larger than keyport accepts."}
		case http.StatusMethodNotAllowed:
			return views.Problem{Status: he.Code, Heading: "Not allowed", Message: "This address does not accept that kind of request."}
		}
		if he.Code < 500 {
			return views.Problem{Status: he.Code, Heading: http.StatusText(he.Code), Message: "The request could not be handled."}
		}
	}
	return views.Problem{
		Status:  http.StatusInternalServerError,
		Heading: "Something went wrong",
		Message: "keyport could not complete this request. Nothing was changed that you were not told about. If it happens again, quote the request id below.",
	}
}

// badForm answers a form that c.Bind could not read.
func badForm(err error) error {
	return &PublicError{Status: http.StatusBadRequest, Heading: "Bad request", Message: "The form could not be read.", Err: err}
}

func notFoundProblem() views.Problem {
	return views.Problem{Status: http.StatusNotFound, Heading: "Not found", Message: "There is nothing at this address, or you do not have access to it.", Action: &views.Link{Label: "Go to the dashboard", Href: "/dashboard"}}
}

func forbiddenProblem() views.Problem {
	return views.Problem{Status: http.StatusForbidden, Heading: "Not allowed", Message: "You do not have permission to do this."}
}

// HandleError is echo's one error handler: it picks the status, logs what
// the user must not see, and renders a page (or JSON under /api/) that
// carries only safe words and the request id.
func (h *Handler) HandleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	pr := problemFor(err)
	pr.RequestID = requestID(c)
	if pr.Status >= 500 {
		h.log.Error("request failed", "request_id", pr.RequestID, "method", c.Request().Method,
			"path", LoggablePath(c), "err", err)
	}
	if strings.HasPrefix(c.Request().URL.Path, "/api/") {
		_ = c.JSON(pr.Status, apiErrorBody{apiErrorDetail{apiCodeForStatus(pr.Status), pr.Message}})
		return
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(pr.Status)
		return
	}
	if rerr := render(c, pr.Status, views.ProblemPage(h.page(c, pr.Heading, ""), pr)); rerr != nil {
		h.log.Error("render error page", "request_id", pr.RequestID, "err", rerr)
		_ = c.String(pr.Status, pr.Heading)
	}
}

// LoggablePath is the request path, unless the route carries a capability
// token in the path (the calendar feed): then only the route pattern, so the
// token never reaches a log line. The access log uses it too.
func LoggablePath(c echo.Context) string {
	for _, name := range c.ParamNames() {
		if strings.HasSuffix(name, "token") {
			return c.Path()
		}
	}
	return c.Request().URL.Path
}

// apiCodeForStatus names the errors the data API answers before any of its
// handlers runs (routing, body limits, panics), in the API's own codes.
func apiCodeForStatus(status int) string {
	switch status {
	case http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusInternalServerError:
		return "internal_error"
	}
	return strings.ToLower(strings.ReplaceAll(http.StatusText(status), " ", "_"))
}
