// Package web builds keyport's echo server: middleware in a fixed order,
// every route in routes.go, the one error handler, security headers and the
// embedded static files; its sub-packages are the development stand-ins
// (devidp, mailcatcher) and the browser-test helpers (webtest).
//
// It imports handlers, static, models and, for metrics, the keysvc
// packages whose figures it exports; only cmd imports it.
package web

import (
	"cmp"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"keyport/handlers"
	"keyport/handlers/dataapi"
	"keyport/handlers/manageapi"
)

// Deps is what the server is built from.
type Deps struct {
	Handlers *handlers.Handler
	API      *dataapi.API   // data API; nil serves none
	Manage   *manageapi.API // management API; nil serves none
	Logger   *slog.Logger
	// AccessLog writes the one line per request; nil writes it to Logger.
	// cmd/keyport gives it a BufferedWriter.
	AccessLog *slog.Logger
	Dev       bool // development routes and relaxed transport rules
	// BodyLimit caps request bodies (echo size syntax, e.g. "1M").
	BodyLimit string
	// Metrics, when set, counts every request; with MetricsToken it is
	// also served at /metrics to requests bearing that token (never
	// without one: the public listener is reachable by anyone).
	Metrics      *Metrics
	MetricsToken string
	// LoginRate limits sign-in starts per client address; APIRate limits
	// data API requests per service token. Zero turns a limit off.
	LoginRate, APIRate RateLimit
	// APIAuthFailRate limits failed data-API authentications per client
	// address; once spent, the address is refused before authentication.
	APIAuthFailRate RateLimit
	// Now is the rate limiters' clock (tests); nil is time.Now.
	Now func() time.Time
}

// New builds the echo server.
func New(d Deps) *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = d.Handlers.HandleError
	if d.BodyLimit == "" {
		d.BodyLimit = "4M" // a data API batch; browser forms get 1M in routes.go
	}

	// Order matters: the request id first so every later line carries it;
	// the access log wraps recovery so a panic is still logged as a 500;
	// headers go on before any handler can write.
	mw := []echo.MiddlewareFunc{
		requestIDs,
		accessLog(cmp.Or(d.AccessLog, d.Logger), d.Metrics), // d.Metrics counts every request
		middleware.RecoverWithConfig(middleware.RecoverConfig{
			DisableStackAll: true,
			LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
				d.Logger.Error("panic", "request_id", c.Response().Header().Get(echo.HeaderXRequestID), "err", err, "stack", string(stack))
				return err
			},
		}),
		securityHeaders(d.Dev, d.Handlers.EndSessionOrigin()),
		middleware.BodyLimit(d.BodyLimit),
		crossOriginProtection(),
	}
	// The one e.Use: the chain is composed here, once (see useOnce).
	e.Use(useOnce(mw...))

	routes(e, d)
	return e
}

// requestIDs gives the request an id, as echo's RequestID middleware
// does: the X-Request-Id the request came with, else a new one, set on the
// response (keys in canonical form, so nothing to canonicalise).
func requestIDs(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		var rid string
		if v := c.Request().Header[echo.HeaderXRequestID]; len(v) > 0 {
			rid = v[0]
		}
		if rid == "" {
			rid = requestID()
		}
		c.Response().Header()[echo.HeaderXRequestID] = []string{rid}
		return next(c)
	}
}

// requestID makes a request id like echo's (32 ASCII letters) from the
// runtime's ChaCha8 generator (math/rand/v2, seeded by the system) in
// one allocation, instead of reading crypto/rand through a pooled reader:
// ids must be unique, not secret.
func requestID() string {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	const per = 8                       // letters per draw: 52^8 < 2^64
	const span = uint64(53459728531456) // 52^8
	var b [32]byte
	for i := 0; i < len(b); i += per {
		x := rand.Uint64N(span)
		for j := range per {
			b[i+j] = letters[x%52]
			x /= 52
		}
	}
	return string(b[:])
}

// NewHTTPServer wraps the echo server with timeouts, so a slow client cannot
// hold a connection open forever.
func NewHTTPServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}
