package manageapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"sort"
	"strconv"

	"github.com/labstack/echo/v4"

	"keyport/handlers"
	"keyport/keysvc"
)

// Paging of lists: ?limit= (default 50, at most 500) and ?cursor=, the
// opaque next_cursor of the page before.
const (
	defaultLimit = 50
	maxLimit     = 500
)

var pageParams = []Param{
	{Name: "limit", Description: "Items per page: 1 to 500, default 50.", Integer: true},
	{Name: "cursor", Description: "The next_cursor of the previous page."},
}

// limit reads ?limit=.
func limit(c echo.Context) (int, error) {
	s := c.QueryParam("limit")
	if s == "" {
		return defaultLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxLimit {
		return 0, badRequest("limit", "must be a whole number from 1 to 500")
	}
	return n, nil
}

// page answers one page of items, ordered by their ids (a stable order in
// which new items never move older ones between pages): those after the
// cursor's id, at most ?limit= of them.
func page[T any](c echo.Context, items []T, id func(T) string) error {
	n, err := limit(c)
	if err != nil {
		return err
	}
	after := ""
	if cur := c.QueryParam("cursor"); cur != "" {
		b, err := base64.RawURLEncoding.DecodeString(cur)
		if err != nil || len(b) == 0 {
			return badRequest("cursor", "is not a cursor this API gave out")
		}
		after = string(b)
	}
	sort.Slice(items, func(i, j int) bool { return id(items[i]) < id(items[j]) })
	start := sort.Search(len(items), func(i int) bool { return id(items[i]) > after })
	out := List[T]{Items: items[start:min(start+n, len(items))]}
	if out.Items == nil {
		out.Items = []T{}
	}
	if start+n < len(items) {
		out.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(id(out.Items[len(out.Items)-1])))
	}
	return c.JSON(http.StatusOK, out)
}

// idempotent is route middleware for a POST: with an Idempotency-Key
// header, the first request's answer is recorded and a replay within 24
// hours gets it back without running again. The same key with another
// request is refused (422), as is a replay while the first request still
// runs (409). An answer of 500 or more is not kept, so the caller may retry
// what failed.
func (a *API) idempotent(op Operation) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		if op.Method != http.MethodPost {
			return next
		}
		return func(c echo.Context) error {
			ikey := c.Request().Header.Get("Idempotency-Key")
			if ikey == "" {
				return next(c)
			}
			if len(ikey) > 255 {
				return badRequest("Idempotency-Key", "must be at most 255 characters")
			}
			body, err := io.ReadAll(c.Request().Body)
			if err != nil {
				var mbe *http.MaxBytesError
				if errors.As(err, &mbe) {
					return &handlers.APIError{Status: http.StatusRequestEntityTooLarge, Code: "request_too_large", Message: "The request body is too large."}
				}
				return err
			}
			c.Request().Body = io.NopCloser(bytes.NewReader(body))
			h := sha256.New()
			h.Write([]byte(op.Method + " " + c.Request().URL.Path + "\n"))
			h.Write(body)
			sum := h.Sum(nil)
			ctx, id := c.Request().Context(), keysvc.IdempotencyRecordID(APIKeyID(c), ikey)
			claimed, first, ans, err := a.keys.ClaimIdempotencyKey(ctx, id, sum, keysvc.IdempotencyTTL)
			if err != nil {
				return err
			}
			if !claimed {
				switch {
				case !bytes.Equal(first, sum):
					return &handlers.APIError{Status: http.StatusUnprocessableEntity, Code: "idempotency_key_reused",
						Message: "This Idempotency-Key was used for another request in the last 24 hours; use a new key for a new request."}
				case ans.Status == 0:
					return &handlers.APIError{Status: http.StatusConflict, Code: "idempotency_in_progress",
						Message: "The first request with this Idempotency-Key is still running; retry in a moment.", RetryAfter: "1"}
				}
				c.Response().Header().Set("Idempotency-Replayed", "true")
				if len(ans.Body) == 0 {
					return c.NoContent(ans.Status)
				}
				return c.Blob(ans.Status, echo.MIMEApplicationJSON, ans.Body)
			}
			rw := &recorder{ResponseWriter: c.Response().Writer}
			c.Response().Writer = rw
			if err := next(c); err != nil {
				c.Error(err) // answer now, so the answer can be recorded
			}
			status := c.Response().Status
			if status >= 500 {
				if err := a.keys.ReleaseIdempotencyKey(ctx, id); err != nil {
					a.log.ErrorContext(ctx, "release idempotency key", "request_id", handlers.RequestID(c), "err", err)
				}
				return nil
			}
			if err := a.keys.FinishIdempotencyKey(ctx, id, keysvc.IdempotentAnswer{Status: status, Body: rw.buf.Bytes()}); err != nil {
				a.log.ErrorContext(ctx, "record idempotent answer", "request_id", handlers.RequestID(c), "err", err)
			}
			clear(rw.buf.Bytes())
			return nil
		}
	}
}

// recorder copies what a handler writes.
type recorder struct {
	http.ResponseWriter
	buf bytes.Buffer
}

func (r *recorder) Write(b []byte) (int, error) {
	r.buf.Write(b)
	return r.ResponseWriter.Write(b)
}
