package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"keyport/keysvc"
	"keyport/models"
)

// tokenCtx is the request's context once a service token authenticated
// it: the token, and the requester keysvc's own events name (see
// keysvc.RequestContext), in one allocation rather than echo's store and
// two context values.
type tokenCtx struct {
	keysvc.RequestContext
	info keysvc.TokenInfo
}

type tokenCtxKey struct{}

// Value answers tokenCtxKey with the tokenCtx itself.
func (t *tokenCtx) Value(key any) any {
	if _, ok := key.(tokenCtxKey); ok {
		return t
	}
	return t.RequestContext.Value(key)
}

// SetServiceToken records the service token that authenticated the
// request (the data API's Authenticate does it) and puts the request's
// actor in its context, so keysvc's own events of this request (data-key
// fetches) name the token and the request id too.
func SetServiceToken(c echo.Context, info keysvc.TokenInfo) {
	req := c.Request()
	t := &tokenCtx{RequestContext: keysvc.RequestContext{Context: req.Context(), By: apiBy(info.ID, c)}, info: info}
	c.SetRequest(req.WithContext(t))
}

// serviceToken is the token SetServiceToken recorded (zero before).
func serviceToken(c echo.Context) keysvc.TokenInfo {
	if t, ok := c.Request().Context().Value(tokenCtxKey{}).(*tokenCtx); ok {
		return t.info
	}
	return keysvc.TokenInfo{}
}

// dataAPIActor is the audit actor of what the data API does; keysvc's
// data plane records its events under the same name.
const dataAPIActor = "keyport:data-api"

// APIBy names a data API request for audit events: the service token
// that authenticated it, as the actor (issue 17 #25: one scheme of actor
// kind, actor id and request id on every event).
func APIBy(c echo.Context) keysvc.RequestBy {
	return apiBy(ServiceTokenID(c), c)
}

func apiBy(tokenID string, c echo.Context) keysvc.RequestBy {
	if tokenID == "" { // not reached behind Authenticate; never an empty actor
		tokenID = dataAPIActor
	}
	return keysvc.RequestBy{UserID: tokenID, Kind: models.ActorServiceToken, RequestID: RequestID(c)}
}

// ServiceTokenID is the id of the service token that authenticated the
// request ("" before Authenticate ran): the key of the per-token rate limit.
func ServiceTokenID(c echo.Context) string {
	return serviceToken(c).ID
}

// TenantFor resolves the tenant a data API request acts for, from the token and the
// tenant the body (or query) names.
func TenantFor(c echo.Context, requested string) (string, error) {
	return serviceToken(c).TenantFor(requested)
}

// DecodeJSON reads one JSON object, refusing unknown fields (a typo in a
// field name is an error, not a silently ignored option) and trailing data.
func DecodeJSON(c echo.Context, v any) error {
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
