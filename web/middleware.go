package web

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"keyport/handlers"
)

// csp is the default Content-Security-Policy: nothing from other origins, no
// inline script, no framing, forms post only to keyport.
const csp = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

// securityHeaders sets the headers every response carries. HSTS only outside
// development, where keyport is served over https.
// formOrigin, when set, is the identity provider's end_session_endpoint
// origin: the sign-out form's redirect goes there, and Chrome applies
// form-action to the redirects after a form post.
func securityHeaders(dev bool, formOrigin string) echo.MiddlewareFunc {
	policy := csp
	if formOrigin != "" && !strings.ContainsAny(formOrigin, " ;,'\"") {
		policy += " " + formOrigin
	}
	// The set is built once, in canonical form, and each response gets the
	// same value slices: no per-request canonicalising or allocation. The
	// slices are full (len == cap), so a later Add copies rather than
	// writes into them; Set replaces them.
	set := http.Header{}
	set.Set("Content-Security-Policy", policy)
	set.Set("X-Content-Type-Options", "nosniff")
	set.Set("X-Frame-Options", "DENY")
	set.Set("Referrer-Policy", "no-referrer")
	set.Set("Cross-Origin-Opener-Policy", "same-origin")
	set.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
	if !dev {
		set.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
	}
	type header struct {
		key string
		val []string
	}
	var headers []header
	for k, v := range set {
		headers = append(headers, header{k, v[:1:1]})
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			h := c.Response().Header()
			for _, kv := range headers {
				h[kv.key] = kv.val
			}
			return next(c)
		}
	}
}

// noStore keeps pages out of every cache: they can show tenant data.
func noStore(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header()["Cache-Control"] = noStoreValue
		return next(c)
	}
}

var noStoreValue = []string{"no-store"}

// crossOriginProtection refuses state-changing browser requests from other
// origins (Sec-Fetch-Site / Origin), before any handler or session lookup.
// The refusal goes through the one error handler like every other.
func crossOriginProtection() echo.MiddlewareFunc {
	cop := http.NewCrossOriginProtection()
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			// Without either header (a service, not a browser) Check
			// allows every request: it need not look them up again.
			h := c.Request().Header
			if len(h["Sec-Fetch-Site"]) == 0 && len(h["Origin"]) == 0 {
				return next(c)
			}
			if err := cop.Check(c.Request()); err != nil {
				return &handlers.PublicError{Status: http.StatusForbidden, Heading: "Request refused",
					Message: "keyport refused a change that came from another website. If you used a bookmark or another site, open keyport directly and try again.", Err: err}
			}
			return next(c)
		}
	}
}

// accessLog writes one line per request and, with m, counts and times it
// by route pattern (one clock read at each end serves both). It logs the
// path without the query string: the OIDC callback's query holds an
// authorization code. cmd/keyport gives it NewAccessLogger over a
// BufferedWriter: a line is formatted by hand and costs no system call.
// It turns a returned error into the response first, so the status
// counted and logged is the one the client got.
func accessLog(log *slog.Logger, m *Metrics) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err)
			}
			end := time.Now()
			took := end.Sub(start)
			if m != nil {
				m.observe(c, took)
			}
			req, res := c.Request(), c.Response()
			level := slog.LevelInfo
			if res.Status >= 500 {
				level = slog.LevelError
			}
			var rid string
			if v := res.Header()[echo.HeaderXRequestID]; len(v) > 0 {
				rid = v[0]
			}
			logAccess(req.Context(), log, level, &accessEntry{
				at:        end,
				requestID: rid, method: req.Method,
				path:   handlers.LoggablePath(c), // no capability token in the path
				route:  c.Path(),
				status: res.Status, bytes: res.Size,
				durationMS: float64(took.Microseconds()) / 1000,
			})
			return nil
		}
	}
}

// compose wraps h in mw, the first outermost, as echo would for one
// request; called once, when a route is added.
func compose(h echo.HandlerFunc, mw ...echo.MiddlewareFunc) echo.HandlerFunc {
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	return h
}

// useOnce is mw as one middleware for e.Use, composed once. echo applies
// e.Use's middleware to every request anew (echo.ServeHTTP), a closure per
// middleware per request; the middleware useOnce returns hands echo the
// same composed chain every time, and at its end runs the handler echo
// found for the request (c.Handler(): the next echo passes to its global
// middleware, with or without e.Pre). So it must be the server's only
// e.Use (New's): a later e.Use would be skipped.
func useOnce(mw ...echo.MiddlewareFunc) echo.MiddlewareFunc {
	h := compose(func(c echo.Context) error { return c.Handler()(c) }, mw...)
	return func(echo.HandlerFunc) echo.HandlerFunc { return h }
}
