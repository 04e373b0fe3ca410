package handlers

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"keyport/keysvc"
	"keyport/keysvc/awskms"
	"keyport/keysvc/envelope"
	"keyport/keysvc/managed"
	"keyport/keysvc/rotation"
	"keyport/models"
	"keyport/views"
)

// PublicError is an error whose heading and message are safe to show to the
// user. Any other error is logged in full and shown as a plain message with
// the request id: only errors marked this way, and the domain errors in
// domainErrors, reach a page in their own words.
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

// domainError is how keyport answers one domain error on each surface: on
// a page (problemFor) and in the data API (apiErrorFor). A nil half means
// that surface has no answer of its own for the error, and answers it as
// any unexpected failure (500). The first row err matches wins.
type domainError struct {
	err  error
	page *PublicError
	api  *APIError
}

var (
	pageNotFound = &PublicError{Status: http.StatusNotFound, Heading: "Not found", Message: "There is nothing at this address, or you do not have access to it.",
		Action: &views.Link{Label: "Go to the dashboard", Href: "/dashboard"}}
	kmsNotAnswering = &PublicError{Status: http.StatusServiceUnavailable, Heading: "KMS is not answering",
		Message: "keyport could not reach AWS KMS just now. Nothing was saved; try again in a minute."}
	apiUnavailable = &APIError{http.StatusServiceUnavailable, "unavailable", "The key service cannot complete this now; retry later.", "2"}
)

// domainErrors is the one table of domain errors and their answers.
var domainErrors = []domainError{
	{err: models.ErrNotFound, page: pageNotFound},
	{err: keysvc.ErrTokenInvalid, api: &APIError{http.StatusUnauthorized, "unauthorized", "The service token is missing, invalid or revoked.", ""}},
	{err: keysvc.ErrAPIKeyInvalid, api: &APIError{http.StatusUnauthorized, "unauthorized", "The API key is missing, invalid, expired or revoked.", ""}},
	{err: keysvc.ErrTokenScope, api: &APIError{http.StatusForbidden, "forbidden", "This service token may not act for that tenant.", ""}},
	{err: keysvc.ErrKeyNotFound, page: pageNotFound, api: &APIError{http.StatusNotFound, "key_not_found", "No such key for this tenant.", ""}},
	{err: envelope.ErrMalformedCiphertext, api: &APIError{http.StatusBadRequest, "ciphertext_malformed", "The ciphertext is not in keyport's format.", ""}},
	{err: envelope.ErrDecrypt, api: &APIError{http.StatusBadRequest, "ciphertext_invalid", "The ciphertext does not decrypt with this tenant, key and context: it was altered, or made for another tenant or context.", ""}},
	// The message names the minimum set: the caller's error says it (below).
	{err: keysvc.ErrVersionRetired, api: &APIError{http.StatusConflict, "version_retired", "The ciphertext's key version is older than the key's minimum decryption version.", ""}},
	{err: awskms.ErrKeyDisabled, api: &APIError{http.StatusConflict, "key_disabled", "The key is disabled.", ""}},
	{err: awskms.ErrKeyPendingDeletion, api: &APIError{http.StatusConflict, "key_pending_deletion", "The key is pending deletion.", ""}},
	{err: awskms.ErrKeyNotUsable, api: &APIError{http.StatusConflict, "key_not_usable", "The key is not usable yet or any more; its owner can see why in keyport.", ""}},
	// A page reaches KMS while changing a key, so a refusal there is about
	// the key policy; a data API caller is told the owner revoked access.
	{err: awskms.ErrAccessDenied,
		page: &PublicError{Status: http.StatusUnprocessableEntity, Heading: "KMS refused keyport",
			Message: "KMS refused keyport part way through. Nothing was saved; check the key policy in every region and try again."},
		api: &APIError{http.StatusFailedDependency, "key_access_revoked", "Access to the key was revoked by the key owner.", ""}},
	{err: awskms.ErrThrottled, page: kmsNotAnswering,
		api: &APIError{http.StatusTooManyRequests, "kms_throttled", "The key owner's KMS is throttling requests; retry later.", "1"}},
	{err: awskms.ErrUnavailable, page: kmsNotAnswering, api: apiUnavailable},
	{err: rotation.ErrRotationFailed, api: &APIError{http.StatusConflict, "rotation_failed",
		"The rotation failed and no new key version was made; the key's owner can see why in keyport.", ""}},
	{err: rotation.ErrRotationRetrying, api: &APIError{http.StatusServiceUnavailable, "rotation_retrying",
		"The rotation failed and no new key version was made yet; keyport retries it by itself. Ask again later to learn the outcome.", "60"}},
	{err: keysvc.ErrRotationRaced, api: apiUnavailable},
	{err: keysvc.ErrVersionExhausted, api: apiUnavailable},
	{err: context.DeadlineExceeded, api: apiUnavailable},
	{err: managed.ErrNotManaged, page: &PublicError{Status: http.StatusConflict, Heading: "Not a keyport-managed key",
		Message: "This key's material lives only in your KMS; keyport cannot renew, export or delete it. Manage it in AWS KMS."},
		api: &APIError{http.StatusConflict, "not_managed", "This key's material lives only in the tenant's KMS: keyport cannot renew, rotate its material, re-upload, export or delete it. Manage it in AWS KMS.", ""}},
	{err: managed.ErrOperationRunning, page: &PublicError{Status: http.StatusConflict, Heading: "Another operation is under way",
		Message: "Another change to this key is still running or waiting to retry. Wait for it to finish, then try again."},
		api: &APIError{http.StatusConflict, "operation_running", "Another change to this key is still running or waiting to retry; try again when it has finished.", "5"}},
	{err: managed.ErrApprovalRequired, page: &PublicError{Status: http.StatusConflict, Heading: "Approval needed",
		Message: "Your provider requires another admin's approval for this. Ask for it on the key's page, then choose the approval."},
		api: &APIError{http.StatusConflict, "approval_required", "The provider requires another admin's approval for this: request one, have it approved, then name it (approval_id).", ""}},
	{err: managed.ErrTooManyImportRequests, page: &PublicError{Status: http.StatusTooManyRequests, Heading: "Too many open import requests",
		Message: "This tenant has " + strconv.Itoa(managed.MaxOpenImportRequests) + " import requests waiting for an upload. Upload to one of them, or wait for some to expire (24 hours), then make a new one.",
		Action:  &views.Link{Label: "Back to import requests", Href: "/import-requests"}},
		api: &APIError{http.StatusTooManyRequests, "too_many_import_requests", "This tenant has " + strconv.Itoa(managed.MaxOpenImportRequests) + " open import requests: upload to one, or wait for some to expire (24 hours).", ""}},
	{err: managed.ErrImportRequestRate, page: &PublicError{Status: http.StatusTooManyRequests, Heading: "Too many import requests",
		Message: "This tenant made " + strconv.Itoa(managed.ImportRequestsPerHour) + " import requests in the last hour, as many as keyport makes in an hour. Try again later.",
		Action:  &views.Link{Label: "Back to import requests", Href: "/import-requests"}},
		api: &APIError{http.StatusTooManyRequests, "import_request_rate", "This tenant made " + strconv.Itoa(managed.ImportRequestsPerHour) + " import requests in the last hour; retry later.", "600"}},
	{err: managed.ErrClosureRequested, page: &PublicError{Status: http.StatusConflict, Heading: "Closure already requested",
		Message: "This tenant's closure is already requested; its page shows when it closes.", Action: &views.Link{Label: "Back to the closure", Href: "/tenant/close"}}},
	{err: managed.ErrNoPendingClosure, page: &PublicError{Status: http.StatusConflict, Heading: "No closure to cancel",
		Message: "This tenant has no closure waiting for its window to end: none was asked, or keyport is already closing it."}},
	{err: models.ErrLastOwner, page: &PublicError{Status: http.StatusConflict, Heading: "A tenant needs an owner",
		Message: "This is the tenant's only owner. Make another member an owner first.", Action: &views.Link{Label: "Back to members", Href: "/members"}}},
	{err: models.ErrInvitationUsed, page: &PublicError{Status: http.StatusGone, Heading: "Invitation no longer valid",
		Message: "This invitation was already accepted, or it was replaced or withdrawn. Ask the person who invited you for a new one.", Action: toKeyport}},
	{err: models.ErrInvitationExpired, page: &PublicError{Status: http.StatusGone, Heading: "Invitation expired",
		Message: "This invitation has expired. Ask the person who invited you to send it again.", Action: toKeyport}},
	{err: models.ErrTooManyEvents, page: &PublicError{Status: http.StatusUnprocessableEntity, Heading: "Period too long",
		Message: "This period holds more than 100,000 events, more than one report may hold. Choose a shorter period."}},
}

// statusPages answer echo's own errors (routing, authorization, body
// limits) by status.
var statusPages = map[int]*PublicError{
	http.StatusNotFound:  pageNotFound,
	http.StatusForbidden: {Status: http.StatusForbidden, Heading: "Not allowed", Message: "You do not have permission to do this."},
	http.StatusRequestEntityTooLarge: {Status: http.StatusRequestEntityTooLarge, Heading: "Request too large",
		Message: "What you sent is larger than keyport accepts (1 MB for a form), so nothing was saved. Go back: your browser keeps what you typed. Then shorten the largest field (a pasted file or key) and send it again."},
	http.StatusMethodNotAllowed: {Status: http.StatusMethodNotAllowed, Heading: "Not allowed", Message: "This address does not accept that kind of request."},
}

// problemFor is the one place that decides what a page shows for err: a
// PublicError as it says, a domain error by domainErrors, a keysvc
// validation error that no form showed as 422 with its message, echo's own
// errors by status, anything else as a 500 that says nothing of the cause.
func problemFor(err error) views.Problem {
	var pe *PublicError
	var ve *keysvc.ValidationError
	var he *echo.HTTPError
	if errors.As(err, &pe) {
		return pe.problem()
	}
	for _, d := range domainErrors {
		if d.page != nil && errors.Is(err, d.err) {
			return d.page.problem()
		}
	}
	switch {
	case errors.As(err, &ve):
		return views.Problem{Status: http.StatusUnprocessableEntity, Heading: "Not possible", Message: ve.Message}
	case errors.As(err, &he):
		if p, ok := statusPages[he.Code]; ok {
			return p.problem()
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

func (e *PublicError) problem() views.Problem {
	return views.Problem{Status: e.Status, Heading: e.Heading, Message: e.Message, Action: e.Action}
}

// badForm answers a form that c.Bind could not read.
func badForm(err error) error {
	return &PublicError{Status: http.StatusBadRequest, Heading: "Bad request", Message: "The form could not be read.", Err: err}
}

// HandleError is echo's one error handler: it picks the status, logs what
// the user must not see, and renders a page (or the data API's JSON under
// /api/) that carries only safe words and the request id.
func (h *Handler) HandleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	pr, ae := problemFor(err), APIErrorFor(err)
	api := strings.HasPrefix(c.Request().URL.Path, "/api/")
	if api {
		pr.Status = ae.Status
	}
	pr.RequestID = RequestID(c)
	if pr.Status >= 500 {
		h.log.Error("request failed", "request_id", pr.RequestID, "method", c.Request().Method, "path", LoggablePath(c), "err", err)
	}
	switch {
	case api:
		_ = c.JSON(ae.Status, apiErrorBody{APIErrorDetail{ae.Code, ae.Message}})
	case c.Request().Method == http.MethodHead:
		_ = c.NoContent(pr.Status)
	default:
		if rerr := render(c, pr.Status, views.ProblemPage(h.page(c, pr.Heading, ""), pr)); rerr != nil {
			h.log.Error("render error page", "request_id", pr.RequestID, "err", rerr)
			_ = c.String(pr.Status, pr.Heading)
		}
	}
}

// LoggablePath is the request path, unless the route carries a capability
// token in the path (the calendar feed): then only the route pattern, so the
// token never reaches a log line. A path under /calendar/ that matched no
// route (a mistyped or truncated feed address, answered by the catch-all
// /*) has its second segment replaced as well: it may be a live token.
// The access log uses it too.
func LoggablePath(c echo.Context) string {
	for _, name := range c.ParamNames() {
		if strings.HasSuffix(name, "token") {
			return c.Path()
		}
	}
	return redactCapabilityPath(c.Request().URL.Path)
}

// redactCapabilityPath replaces the segment after "calendar" (in any case,
// after any run of slashes) with ":feed_token".
func redactCapabilityPath(path string) string {
	// Most paths are not the feed's: their first segment says so without
	// splitting the path.
	if first, _, _ := strings.Cut(strings.TrimLeft(path, "/"), "/"); !strings.EqualFold(first, "calendar") {
		return path
	}
	segs := strings.Split(path, "/")
	for i, seg := range segs {
		if seg == "" {
			continue // leading or doubled slashes
		}
		if !strings.EqualFold(seg, "calendar") {
			return path
		}
		for j := i + 1; j < len(segs); j++ {
			if segs[j] != "" {
				segs[j] = ":feed_token"
				return strings.Join(segs, "/")
			}
		}
		return path
	}
	return path
}
