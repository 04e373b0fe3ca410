package manageapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"keyport/handlers"
	"keyport/keysvc/managed"
	"keyport/models"
)

// The lifecycle of keys over the management API: rotation, deactivation
// and activation, the operations on material keyport holds, deletion.

// KeyOperation is a lifecycle operation on a key.
type KeyOperation struct {
	ID    string `json:"id,omitempty" doc:"the recorded operation; absent for an activation, which runs at once"`
	Kind  string `json:"kind" doc:"create, renew, undo, rotate, reupload, delete, deactivate or activate"`
	State string `json:"state" doc:"done, or running (202: it resumes by itself; read the key to follow it)"`
	KeyID string `json:"key_id"`
	Error string `json:"error,omitempty" doc:"why the last attempt of a running operation failed (it is retried)"`
}

// ReuploadRequest is the optional body of POST /keys/{id}/reupload.
type ReuploadRequest struct {
	MaterialID string `json:"material_id,omitempty" doc:"the material to import again; the active one when omitted"`
}

// RotateRequest is the optional body of POST /keys/{id}/rotate.
type RotateRequest struct {
	FromVersion int64 `json:"from_version,omitempty" doc:"the version the caller saw: requests to rotate away from the same version are one rotation; the current one when omitted"`
}

// RotateResult is the answer of a rotation request.
type RotateResult struct {
	KeyID   string `json:"key_id"`
	Version int64  `json:"version" doc:"the key's current data-key version afterwards"`
	State   string `json:"state" doc:"rotated, already_rotated (from_version was rotated before) or in_progress (202)"`
}

// lifecycleOp is a POST /keys/{id}/<path> answering the operation.
func (a *API) lifecycleOp(path, id, summary string, body any, h echo.HandlerFunc) Operation {
	return Operation{Method: http.MethodPost, Path: "/keys/:id" + path, ID: id, Tag: "keys", Act: handlers.ActManageKeys,
		Summary: summary + " 200 when done, 202 while it still runs (it resumes by itself), 422 operation_failed when it failed and was rolled back.",
		Request: body, OptionalBody: body != nil, Response: KeyOperation{}, AlsoStatus: []int{http.StatusAccepted}, Handler: h}
}

// opAnswer answers a lifecycle operation: 200 (or done) when done, 202
// while it runs, 422 when it failed and was rolled back.
func opAnswer(c echo.Context, res *managed.OperationResult, done int) error {
	out := KeyOperation{ID: res.Op.ID, Kind: res.Op.Kind, State: res.Op.State, KeyID: res.Op.KeyID}
	switch res.Op.State {
	case models.OpDone:
		return c.JSON(done, out)
	case models.OpFailed:
		return &handlers.APIError{Status: http.StatusUnprocessableEntity, Code: "operation_failed",
			Message: "Operation " + res.Op.ID + " (" + res.Op.Kind + ") failed and was rolled back: " + res.Error}
	}
	out.Error = res.Error
	return c.JSON(http.StatusAccepted, out)
}

// keyOp runs a lifecycle operation of the managed service on the key.
func (a *API) keyOp(c echo.Context, f func(c echo.Context, keyID string) (*managed.OperationResult, error)) error {
	if a.mgd == nil {
		return errNoLifecycle
	}
	res, err := f(c, c.Param("id"))
	if err != nil {
		return keyErr(err)
	}
	return opAnswer(c, res, http.StatusOK)
}

var errNoLifecycle = &handlers.APIError{Status: http.StatusServiceUnavailable, Code: "unavailable",
	Message: "The key lifecycle is not running in this keyport process; retry later.", RetryAfter: "5"}

func (a *API) deactivateKey(c echo.Context) error {
	return a.keyOp(c, func(c echo.Context, id string) (*managed.OperationResult, error) {
		return a.mgd.Deactivate(c.Request().Context(), tenant(c), by(c), id)
	})
}

func (a *API) activateKey(c echo.Context) error {
	if a.mgd == nil {
		return errNoLifecycle
	}
	if err := a.mgd.Activate(c.Request().Context(), tenant(c), by(c), c.Param("id")); err != nil {
		return keyErr(err)
	}
	return c.JSON(http.StatusOK, KeyOperation{Kind: "activate", State: models.OpDone, KeyID: c.Param("id")})
}

func (a *API) renewKey(c echo.Context) error {
	return a.keyOp(c, func(c echo.Context, id string) (*managed.OperationResult, error) {
		return a.mgd.Renew(c.Request().Context(), tenant(c), by(c), id)
	})
}

func (a *API) undoRenewal(c echo.Context) error {
	return a.keyOp(c, func(c echo.Context, id string) (*managed.OperationResult, error) {
		return a.mgd.UndoRenewal(c.Request().Context(), tenant(c), by(c), id)
	})
}

func (a *API) rotateMaterial(c echo.Context) error {
	return a.keyOp(c, func(c echo.Context, id string) (*managed.OperationResult, error) {
		return a.mgd.RotateMaterialInPlace(c.Request().Context(), tenant(c), by(c), id)
	})
}

func (a *API) reuploadKey(c echo.Context) error {
	var in ReuploadRequest
	if err := bindOptional(c, &in); err != nil {
		return err
	}
	return a.keyOp(c, func(c echo.Context, id string) (*managed.OperationResult, error) {
		return a.mgd.Reupload(c.Request().Context(), tenant(c), by(c), id, in.MaterialID)
	})
}

// bindOptional is bind for a body the caller may leave out.
func bindOptional(c echo.Context, v any) error {
	if c.Request().ContentLength == 0 {
		return nil
	}
	return bind(c, v)
}

func (a *API) deleteKey(c echo.Context) error {
	if a.mgd == nil {
		return errNoLifecycle
	}
	in := managed.DeleteInput{ApprovalID: c.QueryParam("approval_id")}
	if s := c.QueryParam("window_days"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < managed.MinDeletionDays || n > managed.MaxDeletionDays {
			return badRequest("window_days", "must be a whole number of days from 7 to 30")
		}
		in.WindowDays = n
	}
	switch c.QueryParam("acknowledge") {
	case "true":
		in.Acknowledge = true
	case "", "false":
	default:
		return badRequest("acknowledge", "must be true or false")
	}
	res, err := a.mgd.ScheduleDeletion(c.Request().Context(), tenant(c), by(c), c.Param("id"), in)
	var dep *managed.DependencyError
	if errors.As(err, &dep) {
		return &handlers.APIError{Status: http.StatusConflict, Code: "versions_depend", Message: fmt.Sprintf(
			"%d data-key version(s) depend on this key: data under them becomes unreadable. Send acknowledge=true to accept that.", dep.Versions)}
	}
	if err != nil {
		return keyErr(err)
	}
	return opAnswer(c, res, http.StatusOK)
}

func (a *API) cancelDeletion(c echo.Context) error {
	if a.mgd == nil {
		return errNoLifecycle
	}
	if _, err := a.mgd.CancelDeletion(c.Request().Context(), tenant(c), by(c), c.Param("id")); err != nil {
		return keyErr(err)
	}
	return a.getKey(c)
}

func (a *API) validateKey(c echo.Context) error {
	_, cs, err := a.keys.CheckKey(c.Request().Context(), tenant(c), by(c), c.Param("id"))
	if err != nil {
		return keyErr(err)
	}
	out := TestResult{OK: true, Checks: checks(cs)}
	for _, ch := range out.Checks {
		out.OK = out.OK && ch.OK
	}
	return c.JSON(http.StatusOK, out)
}

func (a *API) rotateKey(c echo.Context) error {
	var in RotateRequest
	if err := bindOptional(c, &in); err != nil {
		return err
	}
	if a.rot == nil {
		return errNoLifecycle
	}
	if in.FromVersion < 0 {
		return badRequest("from_version", "must be a version of the key")
	}
	res, err := a.rot.RequestRotation(c.Request().Context(), tenant(c), c.Param("id"), by(c), in.FromVersion)
	if err != nil {
		return keyErr(err)
	}
	out := RotateResult{KeyID: c.Param("id"), Version: res.Version, State: "in_progress"}
	switch {
	case res.Already:
		out.State = "already_rotated"
	case res.State == models.JobDone:
		out.State = "rotated"
	}
	if out.State == "in_progress" {
		return c.JSON(http.StatusAccepted, out)
	}
	return c.JSON(http.StatusOK, out)
}
