// Package handlers holds keyport's HTTP handlers for pages, one file per
// area: thin functions that parse input, authorize, call keysvc or the
// store, and render a page, a report file or JSON, or redirect; the session,
// CSRF and authorization middleware; and the one mapping of domain errors
// to HTTP per surface (errors.go for pages, api_errors.go for the APIs,
// with the JSON helpers the data API shares). Domain logic lives in keysvc
// (report verdicts in keysvc/compliance). Its sub-packages: dataapi (the
// data API), oidcrp (the OpenID Connect relying party), ical and notice.
// It may import echo, templ, views, models, keysvc and its sub-packages,
// and its own oidcrp, ical and notice; never web or dataapi.
package handlers

import (
	"bytes"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"keyport/handlers/notice"
	"keyport/handlers/oidcrp"
	"keyport/keysvc"
	"keyport/keysvc/invites"
	"keyport/keysvc/mailer"
	"keyport/keysvc/managed"
	"keyport/keysvc/rotation"
	"keyport/keysvc/webhooks"
	"keyport/models"
	"keyport/views"
)

// Config is what the handlers need to know about the deployment.
type Config struct {
	Dev           bool
	SessionIdle   time.Duration
	SessionMaxAge time.Duration
	RequireMFA    bool
	// MFAAMR are the "amr" values that count as a second factor (nil =
	// oidcrp.DefaultMFAAMR, empty = none); MFAACR the "acr" values that do.
	MFAAMR, MFAACR []string
	// LinkChangedSubject lets a sign-in whose subject is new, but whose
	// verified email belongs to a user of the same issuer, take over that
	// user (with an audit event); false refuses it with a message.
	LinkChangedSubject bool
	InviteOnly         bool // first sign-in without a membership is refused instead of creating a tenant
	// SeveralTenantsPerDomain lets a first sign-in create a tenant although
	// its email domain already has one; false (the default) points the
	// person at the existing tenant's owners instead.
	SeveralTenantsPerDomain bool
	SecureCookies           bool // Secure + __Host- prefix; false only in development over plain http
	LoginFlowTTL            time.Duration
	SessionTouchAt          time.Duration // how stale last_seen_at may get before a request refreshes it
	Operators               []string      // lowercased emails of provider operators
	// BaseURL is keyport's public URL without a trailing slash; links in
	// emails start with it (never with the request's Host header).
	BaseURL string
	// InviteTTL is how long an invitation link works (default 7 days).
	InviteTTL time.Duration
	// InviteRateLimit is how many invitations (and resends) one tenant may
	// send per InviteRateWindow (defaults 20 per hour).
	InviteRateLimit  int
	InviteRateWindow time.Duration
	// DemoAWS is the development stand-in AWS account, shown to new users
	// in development; nil otherwise.
	DemoAWS *views.DemoAWS
}

// Deps are the collaborators of the handlers.
type Deps struct {
	DB      *models.DB
	OIDC    *oidcrp.Client
	Mailbox Mailbox         // development mail catcher; nil outside development
	Mailer  Mailer          // sends invitations; nil when mail is not configured
	Keys    *keysvc.Service // connections, keys and provider settings
	// Managed runs the keys whose material keyport holds: stores,
	// generated and imported keys, their lifecycle and export.
	Managed *managed.Service
	// Rotation schedules rotations and notices (issue 6); Outbox queues
	// email in the transaction of the event that causes it. With no
	// Outbox, invitations are sent directly by Mailer.
	Rotation *rotation.Scheduler
	Outbox   *mailer.Outbox
	// Webhooks manages the tenant's webhook endpoints (issue 15).
	Webhooks *webhooks.Service
	Logger   *slog.Logger
	Config   Config
	Now      func() time.Time // injected clock; time.Now when nil
}

// Handler serves every page and form of the portal.
type Handler struct {
	db     *models.DB
	oidc   *oidcrp.Client
	mail   Mailbox
	mailer Mailer
	keys   *keysvc.Service
	mgd    *managed.Service
	rot    *rotation.Scheduler
	outbox *mailer.Outbox
	hooks  *webhooks.Service
	log    *slog.Logger
	cfg    Config
	now    func() time.Time
	// verifies limits audit chain verifications (see verifyChain).
	verifies verifyGate
	invites  *invites.Service
}

// New builds the handlers.
func New(d Deps) *Handler {
	h := &Handler{db: d.DB, oidc: d.OIDC, mail: d.Mailbox, mailer: d.Mailer, keys: d.Keys, mgd: d.Managed, rot: d.Rotation, outbox: d.Outbox, hooks: d.Webhooks, log: d.Logger, cfg: d.Config, now: d.Now}
	if h.now == nil {
		h.now = time.Now
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.cfg.LoginFlowTTL == 0 {
		h.cfg.LoginFlowTTL = 10 * time.Minute
	}
	if h.cfg.SessionTouchAt == 0 {
		h.cfg.SessionTouchAt = time.Minute
	}
	if h.cfg.InviteTTL == 0 {
		h.cfg.InviteTTL = 7 * 24 * time.Hour
	}
	if h.cfg.InviteRateLimit == 0 {
		h.cfg.InviteRateLimit = 20
	}
	if h.cfg.InviteRateWindow == 0 {
		h.cfg.InviteRateWindow = time.Hour
	}
	var sender invites.Sender
	if d.Mailer != nil {
		sender = d.Mailer
	}
	h.invites = invites.New(invites.Deps{DB: d.DB, Outbox: d.Outbox, Sender: sender, Render: notice.Renderer{BaseURL: h.cfg.BaseURL},
		Wake: h.wakeWorker, BaseURL: h.cfg.BaseURL, TTL: h.cfg.InviteTTL, Limit: h.cfg.InviteRateLimit, Window: h.cfg.InviteRateWindow,
		Now: h.now, Log: h.log})
	return h
}

// Invitations is the invitation service the members page uses, for the
// management API to invite through the same one.
func (h *Handler) Invitations() *invites.Service { return h.invites }

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// render renders a component into a pooled buffer first, so a failed render
// never sends half a page, then writes it with the given status.
func render(c echo.Context, status int, comp templ.Component) error {
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	if err := comp.Render(c.Request().Context(), buf); err != nil {
		return fmt.Errorf("render page: %w", err)
	}
	return c.HTMLBlob(status, buf.Bytes())
}

// page builds the layout data for the current request.
func (h *Handler) page(c echo.Context, title, nav string) views.Page {
	p := views.Page{Title: title, Nav: nav, Dev: h.cfg.Dev}
	v := viewerFrom(c)
	if v == nil {
		return p
	}
	p.User = &views.UserInfo{Name: v.User.Name, Email: v.User.Email}
	p.CSRFToken = v.CSRFToken
	p.Operator = v.Operator
	p.DemoAWS = h.cfg.DemoAWS
	for _, tm := range v.Tenants {
		t := views.TenantInfo{ID: tm.Tenant.ID, Name: tm.Tenant.Name, Role: string(tm.Role)}
		p.Tenants = append(p.Tenants, t)
		if v.Tenant != nil && v.Tenant.ID == t.ID {
			p.Tenant = &t
		}
	}
	return h.withClosing(c, p)
}

// RequestID is the id the request-id middleware gave this request.
func RequestID(c echo.Context) string {
	if v := c.Response().Header()[echo.HeaderXRequestID]; len(v) > 0 { // canonical already
		return v[0]
	}
	return ""
}

// EndSessionOrigin is the origin the sign-out redirects to for
// RP-initiated logout, "" when the provider offers none.
func (h *Handler) EndSessionOrigin() string { return h.oidc.EndSessionOrigin() }
