package handlers

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"keyport/models"
	"keyport/views"
)

// Viewer is the signed-in user of a request, with the tenant they are
// working in. Tenant is nil when the user belongs to no tenant.
type Viewer struct {
	Session   *models.Session
	User      *models.User
	Tenant    *models.Tenant
	Role      models.Role
	Tenants   []models.TenantMembership
	CSRFToken string
	Operator  bool // provider-wide operator, granted by configuration
}

const viewerKey = "keyport.viewer"

func viewerFrom(c echo.Context) *Viewer {
	v, _ := c.Get(viewerKey).(*Viewer)
	return v
}

// cookieName applies the __Host- prefix outside development: the browser
// then insists on Secure, Path=/ and no Domain, so no sibling host can set it.
func (h *Handler) cookieName(base string) string {
	if h.cfg.SecureCookies {
		return "__Host-" + base
	}
	return base
}

func (h *Handler) setCookie(c echo.Context, base, value string, maxAge time.Duration) {
	c.SetCookie(&http.Cookie{
		Name:     h.cookieName(base),
		Value:    value,
		Path:     "/",
		MaxAge:   int(maxAge / time.Second),
		HttpOnly: true,
		Secure:   h.cfg.SecureCookies,
		SameSite: http.SameSiteLaxMode,
	})
}

func (h *Handler) clearCookie(c echo.Context, base string) {
	c.SetCookie(&http.Cookie{
		Name: h.cookieName(base), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: h.cfg.SecureCookies, SameSite: http.SameSiteLaxMode,
	})
}

// newSecret returns 256 random bits, base64url without padding.
func newSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func hashSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// derive computes a value bound to a cookie secret that the database never
// holds: the CSRF token of a session, the PKCE verifier of a login flow.
func derive(secret, label string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(label))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// splitCookie parses "id.secret".
func splitCookie(v string) (id, secret string, ok bool) {
	id, secret, ok = strings.Cut(v, ".")
	if !ok || id == "" || len(secret) < 43 || len(v) > 200 {
		return "", "", false
	}
	return id, secret, true
}

// startSession creates a fresh session for user in tenantID, ending the
// request's previous session if there was one (the id always changes at
// sign-in, so a planted session id is worthless).
func (h *Handler) startSession(c echo.Context, userID, tenantID string, authTime time.Time, mfa bool) error {
	ctx := c.Request().Context()
	if ck, err := c.Cookie(h.cookieName("keyport_session")); err == nil {
		if id, _, ok := splitCookie(ck.Value); ok {
			if err := h.db.DeleteSession(ctx, id); err != nil && !errors.Is(err, models.ErrNotFound) {
				return fmt.Errorf("end previous session: %w", err)
			}
		}
	}
	secret, err := newSecret()
	if err != nil {
		return err
	}
	now := h.now()
	s := &models.Session{
		ID: models.NewID("ses_"), SecretHash: hashSecret(secret), UserID: userID, TenantID: tenantID,
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(h.cfg.SessionMaxAge), AuthTime: authTime, MFA: mfa,
	}
	if err := h.db.CreateSession(ctx, s); err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	h.setCookie(c, "keyport_session", s.ID+"."+secret, h.cfg.SessionMaxAge)
	return nil
}

// LoadViewer is middleware: it resolves the session cookie to a Viewer, or
// leaves the request anonymous. Expired, idle or forged sessions are
// dropped and their cookie cleared.
func (h *Handler) LoadViewer(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ck, err := c.Cookie(h.cookieName("keyport_session"))
		if err != nil {
			return next(c)
		}
		v, err := h.viewerForCookie(c.Request().Context(), ck.Value)
		if err != nil {
			return err
		}
		if v == nil {
			h.clearCookie(c, "keyport_session")
			return next(c)
		}
		c.Set(viewerKey, v)
		return next(c)
	}
}

func (h *Handler) viewerForCookie(ctx context.Context, value string) (*Viewer, error) {
	id, secret, ok := splitCookie(value)
	if !ok {
		return nil, nil
	}
	sv, err := h.db.GetSessionView(ctx, id)
	if errors.Is(err, models.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load session: %w", err)
	}
	s, u, tenants := &sv.Session, &sv.User, sv.Tenants
	if subtle.ConstantTimeCompare(s.SecretHash, hashSecret(secret)) != 1 {
		return nil, nil
	}
	now := h.now()
	if !now.Before(s.ExpiresAt) || !now.Before(s.LastSeenAt.Add(h.cfg.SessionIdle)) {
		if err := h.db.DeleteSession(ctx, s.ID); err != nil && !errors.Is(err, models.ErrNotFound) {
			return nil, fmt.Errorf("end expired session: %w", err)
		}
		return nil, nil
	}
	if now.Sub(s.LastSeenAt) >= h.cfg.SessionTouchAt {
		if err := h.db.TouchSession(ctx, s.ID, now); err != nil {
			return nil, fmt.Errorf("touch session: %w", err)
		}
	}
	v := &Viewer{Session: s, User: u, Tenants: tenants, CSRFToken: derive(secret, "csrf"),
		Operator: slices.Contains(h.cfg.Operators, strings.ToLower(u.Email))}
	// The session names the tenant last chosen, or the first one when that
	// is gone. Membership is re-read on every request (with the session, in
	// one statement), so a removed member loses the tenant at once.
	if len(tenants) == 0 {
		return v, nil
	}
	pick := 0
	for i := range tenants {
		if tenants[i].Tenant.ID == s.TenantID {
			pick = i
		}
	}
	v.Tenant, v.Role = &tenants[pick].Tenant, tenants[pick].Role
	return v, nil
}

// CheckCSRF is middleware for browser routes: every state-changing request
// must come from a signed-in session and carry that session's token. (Cross-
// origin browser requests are already refused by http.CrossOriginProtection
// in front of it; the token also stops same-site and non-browser forgeries.)
func (h *Handler) CheckCSRF(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		switch c.Request().Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			return next(c)
		}
		v := viewerFrom(c)
		token := c.Request().Header.Get("X-CSRF-Token")
		if token == "" {
			token = c.FormValue("csrf_token")
		}
		if v == nil || token == "" || subtle.ConstantTimeCompare([]byte(token), []byte(v.CSRFToken)) != 1 {
			return &PublicError{Status: http.StatusForbidden, Heading: "This form has expired",
				Message: "keyport could not confirm that this request came from your own session. Reload the page and try again.",
				Action:  &views.Link{Label: "Back to the dashboard", Href: "/dashboard"}}
		}
		return next(c)
	}
}

// RequireViewer sends anonymous visitors to the sign-in page, and remembers
// where they were going when it is safe to.
func (h *Handler) RequireViewer(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if viewerFrom(c) != nil {
			return next(c)
		}
		if c.Request().Method != http.MethodGet {
			return &PublicError{Status: http.StatusUnauthorized, Heading: "Signed out",
				Message: "Your session has ended. Sign in again to continue.", Action: &views.Link{Label: "Sign in", Href: "/"}}
		}
		return c.Redirect(http.StatusSeeOther, "/?return_to="+url.QueryEscape(c.Request().URL.RequestURI()))
	}
}
