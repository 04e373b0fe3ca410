package web

import (
	"github.com/labstack/echo/v4"

	"keyport/handlers"

	"keyport/static"
)

// routes is the one list of every route keyport serves.
func routes(e *echo.Echo, d Deps) {
	h := d.Handlers

	e.GET("/healthz", h.Healthz)
	e.GET("/readyz", h.Readyz)
	e.StaticFS("/static", static.Files)

	// Browser routes: session, then CSRF on every state-changing request.
	b := e.Group("", h.LoadViewer, h.CheckCSRF, noStore)
	b.GET("/", h.SignInPage)
	b.GET("/auth/login", h.Login)
	b.GET("/auth/callback", h.Callback)
	b.POST("/auth/logout", h.Logout)

	// Signed-in routes.
	s := b.Group("", h.RequireViewer)
	s.GET("/dashboard", h.Dashboard, h.Require(handlers.ActViewTenant))
	s.POST("/tenants/switch", h.SwitchTenant)

	if d.Dev {
		// Development-only routes exist only in development mode.
		b.GET("/dev/mail", h.DevMail)
		b.GET("/dev/mail/:id", h.DevMailMessage)
	}

	e.RouteNotFound("/*", func(c echo.Context) error { return echo.ErrNotFound })
}
