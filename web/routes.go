package web

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"keyport/handlers"
	"keyport/handlers/manageapi"
	"keyport/static"
)

// routes is the one list of every route keyport serves.
func routes(e *echo.Echo, d Deps) {
	h := d.Handlers

	e.GET("/healthz", h.Healthz)
	e.GET("/readyz", h.Readyz)
	if d.Metrics != nil && d.MetricsToken != "" {
		// Only with a token: a separate listener (cmd/keyport) is the
		// other way to reach the metrics.
		e.GET("/metrics", echo.WrapHandler(d.Metrics.Handler(d.MetricsToken)), noStore)
	}
	e.StaticFS("/static", static.Files)

	// Browser routes: session, then CSRF on every state-changing request.
	// The viewer is loaded before the body limit (it reads only the cookie),
	// so a refused oversized form is answered inside the page's layout.
	b := e.Group("", h.LoadViewer, middleware.BodyLimit("1M"), h.CheckCSRF, noStore)
	b.GET("/", h.SignInPage)
	signIn := loginRateLimit(d.LoginRate, d.Now) // one bucket per client for both
	b.GET("/auth/login", h.Login, signIn)
	b.GET("/auth/callback", h.Callback, signIn)
	b.POST("/auth/logout", h.Logout)
	b.GET("/signed-out", h.SignedOut) // where the provider's RP-initiated logout returns

	// Signed-in routes.
	s := b.Group("", h.RequireViewer)
	s.GET("/dashboard", h.Dashboard, h.Require(handlers.ActViewTenant))
	s.POST("/dashboard/getting-started/dismiss", h.DismissGettingStarted, h.Require(handlers.ActManageKeys))
	s.POST("/tenants/switch", h.SwitchTenant)
	// Closing the tenant (issue 16): owners only, after a waiting window.
	s.GET("/tenant/close", h.ClosePage, h.Require(handlers.ActDeleteTenant))
	s.POST("/tenant/close", h.RequestClosure, h.Require(handlers.ActDeleteTenant))
	s.POST("/tenant/close/cancel", h.CancelClosure, h.Require(handlers.ActDeleteTenant))

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

	// AWS connections, customer-managed keys and provider settings (issue 4).
	s.GET("/connections", h.Connections, h.Require(handlers.ActViewTenant))
	s.GET("/connections/new", h.NewConnection, h.Require(handlers.ActManageConnections))
	s.POST("/connections", h.CreateConnection, h.Require(handlers.ActManageConnections))
	s.GET("/connections/:conn_id", h.Connection, h.Require(handlers.ActViewTenant))
	s.POST("/connections/:conn_id/test", h.TestConnection, h.Require(handlers.ActManageConnections))
	s.GET("/connections/:conn_id/edit", h.EditConnection, h.Require(handlers.ActManageConnections))
	s.POST("/connections/:conn_id/edit", h.UpdateConnection, h.Require(handlers.ActManageConnections))
	s.GET("/connections/:conn_id/delete", h.ConfirmDeleteConnection, h.Require(handlers.ActManageConnections))
	s.POST("/connections/:conn_id/delete", h.DeleteConnection, h.Require(handlers.ActManageConnections))
	s.GET("/keys", h.Keys, h.Require(handlers.ActViewTenant))
	s.GET("/keys/new", h.NewKey, h.Require(handlers.ActManageKeys))
	s.POST("/keys", h.RegisterKey, h.Require(handlers.ActManageKeys))
	s.GET("/keys/:key_id", h.Key, h.Require(handlers.ActViewTenant))
	s.POST("/keys/:key_id/check", h.CheckKey, h.Require(handlers.ActManageKeys))
	s.GET("/keys/:key_id/deregister", h.ConfirmDeregisterKey, h.Require(handlers.ActManageKeys))
	s.POST("/keys/:key_id/deregister", h.DeregisterKey, h.Require(handlers.ActManageKeys))
	s.GET("/provider", h.ProviderSettings, h.Require(handlers.ActOperate))
	s.POST("/provider/settings", h.SaveProviderSettings, h.Require(handlers.ActOperate))

	// Data-API service tokens (operators) and cache purges (issue 4).
	s.GET("/provider/tokens", h.ServiceTokens, h.Require(handlers.ActOperate))
	s.POST("/provider/tokens", h.CreateServiceToken, h.Require(handlers.ActOperate))
	s.POST("/provider/tokens/:token_id/revoke", h.RevokeServiceToken, h.Require(handlers.ActOperate))
	s.POST("/keys/:key_id/purge", h.PurgeKeyCache, h.Require(handlers.ActPurgeCache))
	s.POST("/keys/:key_id/min-decryption-version", h.SetMinDecryptionVersion, h.Require(handlers.ActManageKeys))
	s.POST("/keys/:key_id/data-key", h.UploadDataKey, h.Require(handlers.ActManageKeys))
	s.POST("/keys/:key_id/kms-rotation", h.EnableKMSRotation, h.Require(handlers.ActManageKeys))
	s.POST("/keys/purge", h.PurgeTenantCache, h.Require(handlers.ActPurgeCache))

	// Audit log, compliance reports and the operator's view (issue 8). A
	// tenant's pages read the tenant from the session only; the operator's
	// pages are the only ones that span tenants.
	s.GET("/audit", h.AuditLog, h.Require(handlers.ActViewAudit))
	s.POST("/audit/verify", h.VerifyAuditChain, h.Require(handlers.ActViewAudit))
	s.GET("/reports", h.Reports, h.Require(handlers.ActViewAudit))
	s.GET("/reports/:report", h.Report, h.Require(handlers.ActViewAudit))
	s.POST("/reports/schedule", h.SaveReportSchedule, h.Require(handlers.ActManageSettings))
	s.GET("/operator", h.Operator, h.Require(handlers.ActOperate))
	s.GET("/operator/audit", h.OperatorAudit, h.Require(handlers.ActOperate))
	s.POST("/operator/audit/verify", h.OperatorVerifyAudit, h.Require(handlers.ActOperate))
	s.GET("/operator/reports", h.OperatorReports, h.Require(handlers.ActOperate))
	s.GET("/operator/reports/:report", h.OperatorReport, h.Require(handlers.ActOperate))

	// Rotation schedules, notices, calendar feed and the mail outbox
	// (issue 6). The calendar feed has no session: the token in its path is
	// a capability (see handlers.CreateCalendarFeed), so it sits outside
	// the browser group and sets no cookie.
	s.GET("/keys/:key_id/rotation", h.RotationPage, h.Require(handlers.ActViewTenant))
	s.POST("/keys/:key_id/rotation", h.SaveRotationPolicy, h.Require(handlers.ActManageKeys))
	s.GET("/keys/:key_id/rotate", h.RotateOptions, h.Require(handlers.ActViewTenant))
	s.POST("/keys/:key_id/rotate", h.RotateNow, h.Require(handlers.ActManageKeys))
	s.POST("/keys/:key_id/rotation/kms", h.RotateKMSMaterial, h.Require(handlers.ActManageKeys))
	s.POST("/keys/:key_id/rotation/postpone", h.PostponeRotation, h.Require(handlers.ActManageNotices))
	s.POST("/keys/:key_id/notices/:notice_id/ack", h.AcknowledgeNotice, h.Require(handlers.ActManageNotices))
	s.GET("/rotations", h.UpcomingRotations, h.Require(handlers.ActViewTenant))
	s.POST("/rotations/defaults", h.SaveRotationDefaults, h.Require(handlers.ActManageSettings))
	s.POST("/rotations/calendar", h.CreateCalendarFeed, h.Require(handlers.ActManageSettings))
	s.POST("/rotations/calendar/revoke", h.RevokeCalendarFeed, h.Require(handlers.ActManageSettings))
	s.GET("/profile/notifications", h.NotificationSettings, h.Require(handlers.ActViewTenant))
	s.POST("/profile/notifications", h.SaveNotificationSettings, h.Require(handlers.ActViewTenant))
	s.GET("/operator/rotations", h.OperatorRotations, h.Require(handlers.ActOperate))
	s.POST("/operator/rotations/settings", h.SaveMaxPostpone, h.Require(handlers.ActOperate))
	s.GET("/operator/outbox", h.OperatorOutbox, h.Require(handlers.ActOperate))
	s.POST("/operator/outbox/:id/retry", h.RetryOutboxMessage, h.Require(handlers.ActOperate))
	e.GET("/calendar/:feed_token/rotations.ics", h.CalendarFeed, noStore)

	// Key stores and the key lifecycle (issue 5): keyport-generated and
	// tenant-imported keys, renewal, export (recent sign-in, optional
	// approval), deletion, drift; import requests; the operator's list.
	s.GET("/stores", h.Stores, h.Require(handlers.ActViewTenant))
	s.POST("/stores", h.CreateStore, h.Require(handlers.ActManageKeys))
	s.GET("/stores/:store_id", h.Store, h.Require(handlers.ActViewTenant))
	s.POST("/stores/:store_id/rename", h.RenameStore, h.Require(handlers.ActManageKeys))
	s.POST("/stores/:store_id/delete", h.DeleteStore, h.Require(handlers.ActManageKeys))
	s.POST("/stores/:store_id/keys", h.CreateManagedKey, h.Require(handlers.ActManageKeys))
	s.GET("/keys/:key_id/confirm/:action", h.ConfirmKeyAction, h.Require(handlers.ActManageKeys))
	s.POST("/keys/:key_id/renew", h.RenewKey, h.Require(handlers.ActManageKeys))
	s.POST("/keys/:key_id/undo", h.UndoRenewal, h.Require(handlers.ActManageKeys))
	s.POST("/keys/:key_id/rotate-material", h.RotateMaterial, h.Require(handlers.ActManageKeys))
	s.POST("/keys/:key_id/reupload", h.ReuploadKey, h.Require(handlers.ActManageKeys))
	s.POST("/keys/:key_id/deactivate", h.DeactivateKey, h.Require(handlers.ActManageKeys))
	s.POST("/keys/:key_id/activate", h.ActivateKey, h.Require(handlers.ActManageKeys))
	s.GET("/keys/:key_id/delete", h.ConfirmDeleteKey, h.Require(handlers.ActManageKeys))
	s.POST("/keys/:key_id/delete", h.DeleteKey, h.Require(handlers.ActManageKeys))
	s.POST("/keys/:key_id/delete/cancel", h.CancelKeyDeletion, h.Require(handlers.ActManageKeys))
	s.POST("/keys/:key_id/drift", h.CheckKeyDrift, h.Require(handlers.ActManageKeys))
	s.POST("/keys/:key_id/drift/reconcile", h.ReconcileKeyDrift, h.Require(handlers.ActManageKeys))
	s.GET("/keys/:key_id/export", h.ExportPage, h.Require(handlers.ActExportKeys))
	s.POST("/keys/:key_id/export", h.ExportKey, h.Require(handlers.ActExportKeys))
	s.POST("/keys/:key_id/approvals", h.RequestApproval, h.Require(handlers.ActManageKeys))
	s.POST("/keys/:key_id/approvals/:approval_id/decide", h.DecideApproval, h.Require(handlers.ActApproveKeys))
	s.GET("/import-requests", h.ImportRequests, h.Require(handlers.ActViewTenant))
	s.POST("/import-requests", h.CreateImportRequest, h.Require(handlers.ActManageKeys))
	s.GET("/import-requests/:request_id", h.ImportRequest, h.Require(handlers.ActManageKeys))
	s.POST("/import-requests/:request_id/upload", h.UploadImport, h.Require(handlers.ActManageKeys))
	s.GET("/operator/lifecycle", h.OperatorLifecycle, h.Require(handlers.ActOperate))
	s.POST("/operator/lifecycle/settings", h.SaveApprovalSettings, h.Require(handlers.ActOperate))
	// Signed webhooks (issue 15): every member reads, owners and admins
	// manage; ids are looked up in the viewer's tenant only. Absent when
	// the process runs no webhook service.
	if h.HasWebhooks() {
		s.GET("/webhooks", h.Webhooks, h.Require(handlers.ActViewTenant))
		s.POST("/webhooks", h.CreateWebhook, h.Require(handlers.ActManageSettings))
		s.GET("/webhooks/:webhook_id", h.Webhook, h.Require(handlers.ActViewTenant))
		s.POST("/webhooks/:webhook_id", h.UpdateWebhook, h.Require(handlers.ActManageSettings))
		s.POST("/webhooks/:webhook_id/enabled", h.SetWebhookEnabled, h.Require(handlers.ActManageSettings))
		s.POST("/webhooks/:webhook_id/test", h.SendWebhookTest, h.Require(handlers.ActManageSettings))
		s.POST("/webhooks/:webhook_id/rotate-secret", h.RotateWebhookSecret, h.Require(handlers.ActManageSettings))
		s.GET("/webhooks/:webhook_id/delete", h.ConfirmDeleteWebhook, h.Require(handlers.ActManageSettings))
		s.POST("/webhooks/:webhook_id/delete", h.DeleteWebhook, h.Require(handlers.ActManageSettings))
	}

	// The tenant's management-API keys (issue 15): owners and admins.
	s.GET("/api-keys", h.APIKeys, h.Require(handlers.ActManageAPIKeys))
	s.POST("/api-keys", h.CreateAPIKey, h.Require(handlers.ActManageAPIKeys))
	s.POST("/api-keys/:api_key_id/revoke", h.RevokeAPIKey, h.Require(handlers.ActManageAPIKeys))
	// Data API for the provider's services: service tokens, JSON, no
	// cookies and so no CSRF, a rate limit per token. Absent when the
	// process runs no key service.
	if a := d.API; a != nil {
		// The group's middleware is composed once per route rather than
		// through an echo Group, which applies it anew to every request.
		mw := []echo.MiddlewareFunc{authFailLimit(a.TooManyFailedAuthentications, handlers.ServiceTokenID, d.APIAuthFailRate, d.Now),
			a.Authenticate, rateLimit(a.RateLimited, handlers.ServiceTokenID, d.APIRate, d.Now)}
		const api = "/api/v1"
		add := func(method, path string, h echo.HandlerFunc) { e.Add(method, api+path, compose(h, mw...)) }
		add(http.MethodPost, "/encrypt", a.Encrypt)
		add(http.MethodPost, "/decrypt", a.Decrypt)
		add(http.MethodPost, "/encrypt/batch", a.EncryptBatch)
		add(http.MethodPost, "/decrypt/batch", a.DecryptBatch)
		add(http.MethodPost, "/rewrap", a.Rewrap)
		add(http.MethodPost, "/rewrap/batch", a.RewrapBatch)
		add(http.MethodPost, "/datakey", a.DataKey)
		add(http.MethodPost, "/import-requests", a.CreateImportRequest)
		add(http.MethodPost, "/import-requests/:request_id/upload", a.UploadImport)
		add(http.MethodGet, "/keys/:key_id", a.KeyStatus)
		add(http.MethodPost, "/keys/:key_id/rotate", h.APIRotateKey) // the scheduler's, so on Handler
		// As an echo Group with middleware does: any other path under
		// /api/v1 is a 404 behind the same middleware (a bad token is
		// refused first).
		add(echo.RouteNotFound, "", echo.NotFoundHandler)
		add(echo.RouteNotFound, "/*", echo.NotFoundHandler)
	}

	// Management API for the tenant's scripts and kpctl: tenant API keys,
	// JSON, no cookies and so no CSRF, a rate limit per key (the data
	// API's) and per address for failed authentications.
	if m := d.Manage; m != nil {
		e.GET(manageapi.BasePath+"/openapi.json", m.OpenAPI, noStore)
		g := e.Group(manageapi.BasePath, authFailLimit(m.TooManyFailedAuthentications, manageapi.APIKeyID, d.APIAuthFailRate, d.Now),
			m.Authenticate, rateLimit(m.RateLimited, manageapi.APIKeyID, d.APIRate, d.Now))
		m.Routes(g)
	}

	if d.Dev {
		// Development-only routes exist only in development mode.
		b.GET("/dev/mail", h.DevMail)
		b.GET("/dev/mail/:id", h.DevMailMessage)
	}

	e.RouteNotFound("/*", func(c echo.Context) error { return echo.ErrNotFound })
}
