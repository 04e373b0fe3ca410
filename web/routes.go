package web

import (
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

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
	b := e.Group("", middleware.BodyLimit("1M"), h.LoadViewer, h.CheckCSRF, noStore)
	b.GET("/", h.SignInPage)
	b.GET("/auth/login", h.Login)
	b.GET("/auth/callback", h.Callback)
	b.POST("/auth/logout", h.Logout)

	// Signed-in routes.
	s := b.Group("", h.RequireViewer)
	s.GET("/dashboard", h.Dashboard, h.Require(handlers.ActViewTenant))
	s.POST("/tenants/switch", h.SwitchTenant)

	// Members and invitations (issue 7). The invitation link is public: it
	// moves its token into a cookie, then asks the visitor to sign in.
	s.GET("/members", h.Members, h.Require(handlers.ActViewMembers))
	s.POST("/members/invite", h.InviteMember, h.Require(handlers.ActManageMembers))
	s.POST("/members/leave", h.LeaveTenant, h.Require(handlers.ActLeaveTenant))
	s.POST("/members/:user_id/role", h.ChangeRole, h.Require(handlers.ActManageMembers))
	s.POST("/members/:user_id/remove", h.RemoveMember, h.Require(handlers.ActManageMembers))
	s.POST("/members/invitations/:id/resend", h.ResendInvitation, h.Require(handlers.ActManageMembers))
	s.POST("/members/invitations/:id/revoke", h.RevokeInvitation, h.Require(handlers.ActManageMembers))
	b.GET("/invite", h.InvitationLanding)
	s.POST("/invite/accept", h.AcceptInvitation)

	// Data API for the provider's services: service tokens, JSON, no
	// cookies and so no CSRF. Absent when the process runs no key service.
	if a := d.API; a != nil {
		api := e.Group("/api/v1", a.Authenticate)
		api.POST("/encrypt", a.Encrypt)
		api.POST("/decrypt", a.Decrypt)
		api.POST("/encrypt/batch", a.EncryptBatch)
		api.POST("/decrypt/batch", a.DecryptBatch)
		api.POST("/datakey", a.DataKey)
		api.GET("/keys/:key_id", a.KeyStatus)
	}

	if d.Dev {
		// Development-only routes exist only in development mode.
		b.GET("/dev/mail", h.DevMail)
		b.GET("/dev/mail/:id", h.DevMailMessage)
	}

	e.RouteNotFound("/*", func(c echo.Context) error { return echo.ErrNotFound })
}
