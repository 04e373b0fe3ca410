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
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			h := c.Response().Header()
			h.Set("Content-Security-Policy", policy)
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("X-Frame-Options", "DENY")
			h.Set("Referrer-Policy", "no-referrer")
			h.Set("Cross-Origin-Opener-Policy", "same-origin")
			h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
			if !dev {
				h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
			}
			return next(c)
		}
	}
}

// noStore keeps pages out of every cache: they can show tenant data.
func noStore(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "no-store")
		return next(c)
	}
}

// crossOriginProtection refuses state-changing browser requests from other
// origins (Sec-Fetch-Site / Origin), before any handler or session lookup.
// The refusal goes through the one error handler like every other.
func crossOriginProtection() echo.MiddlewareFunc {
	cop := http.NewCrossOriginProtection()
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if err := cop.Check(c.Request()); err != nil {
				return &handlers.PublicError{Status: http.StatusForbidden, Heading: "Request refused",
					Message: "keyport refused a change that came from another website. If you used a bookmark or another site, open keyport directly and try again.", Err: err}
			}
			return next(c)
		}
	}
}

// accessLog writes one line per request. It logs the path without the query
// string: the OIDC callback's query holds an authorization code.
func accessLog(log *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err)
			}
			req, res := c.Request(), c.Response()
			level := slog.LevelInfo
			if res.Status >= 500 {
				level = slog.LevelError
			}
			log.Log(req.Context(), level, "request",
				"request_id", res.Header().Get(echo.HeaderXRequestID),
				"method", req.Method,
				"path", handlers.LoggablePath(c), // no capability token in the path
				"route", c.Path(),
				"status", res.Status,
				"bytes", res.Size,
				"duration_ms", float64(time.Since(start).Microseconds())/1000,
			)
			return nil
		}
	}
}
