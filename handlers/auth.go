package handlers

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode"

	"github.com/labstack/echo/v4"

	"keyport/handlers/oidcrp"
	"keyport/models"
	"keyport/views"
)

// SignInPage is the front door: anonymous visitors see the sign-in button,
// signed-in users go to their dashboard.
func (h *Handler) SignInPage(c echo.Context) error {
	if viewerFrom(c) != nil {
		return c.Redirect(http.StatusSeeOther, "/dashboard")
	}
	s := views.SignIn{ReturnTo: safeReturnTo(c.QueryParam("return_to")), Dev: h.cfg.Dev}
	return render(c, http.StatusOK, views.SignInPage(h.page(c, "Sign in", ""), s))
}

// Login starts an OIDC authorization-code flow with PKCE. The state, nonce
// and a secret bound to a short-lived pre-login cookie are recorded; the PKCE
// verifier is derived from that secret, so the database never holds it.
func (h *Handler) Login(c echo.Context) error {
	if err := h.oidc.Reachable(c.Request().Context()); err != nil {
		h.log.Warn("identity provider unreachable", "request_id", RequestID(c), "err", err)
		return idpUnreachable
	}
	secret, err := newSecret()
	if err != nil {
		return err
	}
	state, err := newSecret()
	if err != nil {
		return err
	}
	nonce, err := newSecret()
	if err != nil {
		return err
	}
	now := h.now()
	f := &models.LoginFlow{
		ID: models.NewID("lgn_"), SecretHash: hashSecret(secret), State: state, Nonce: nonce,
		ReturnTo: safeReturnTo(c.QueryParam("return_to")), CreatedAt: now, ExpiresAt: now.Add(h.cfg.LoginFlowTTL),
	}
	// A step-up (signInAgain) is for the user signed in now; without a
	// session it is an ordinary sign-in.
	if v := viewerFrom(c); v != nil && c.QueryParam("step_up") == "1" {
		f.StepUpUserID = v.User.ID
	}
	if err := h.db.CreateLoginFlow(c.Request().Context(), f); err != nil {
		return fmt.Errorf("record login flow: %w", err)
	}
	h.setCookie(c, "keyport_login", f.ID+"."+secret, h.cfg.LoginFlowTTL)
	return c.Redirect(http.StatusSeeOther, h.oidc.AuthURL(state, nonce, derive(secret, "pkce-verifier"), f.StepUpUserID != ""))
}

// idpUnreachable is "Sign in" while the identity provider does not answer:
// keyport's own page instead of the browser's connection error.
var idpUnreachable = &PublicError{Status: http.StatusServiceUnavailable, Heading: "Identity provider unreachable",
	Message: "keyport cannot reach your identity provider just now, so you cannot sign in. Nothing is wrong with your account; try again in a few minutes, and tell the keyport operator if it keeps happening.",
	Action:  &views.Link{Label: "Try again", Href: "/"}}

// signInRefused is a failed sign-in: the reason code goes to the audit log,
// the problem to the user.
type signInRefused struct {
	reason  string
	problem *PublicError
}

func (e *signInRefused) Error() string { return "sign-in refused: " + e.reason }
func (e *signInRefused) Unwrap() error { return e.problem }

func refuse(reason string, status int, heading, message string) *signInRefused {
	return &signInRefused{reason: reason, problem: &PublicError{Status: status, Heading: heading, Message: message,
		Action: &views.Link{Label: "Start again", Href: "/"}}}
}

var errFlowExpired = refuse("login_flow_missing", http.StatusBadRequest, "Sign-in expired",
	"This sign-in attempt expired, was already used, or was started in another browser. Start again from the sign-in page.")

// Callback completes the flow: single-use flow, state, PKCE, ID token, nonce,
// then MFA and membership rules, then a fresh session.
func (h *Handler) Callback(c echo.Context) error {
	err := h.callback(c)
	var refused *signInRefused
	if errors.As(err, &refused) {
		if aerr := h.audit(c, models.AuditInput{Action: "auth.sign_in_failed", Actor: "anonymous",
			Details: map[string]string{"reason": refused.reason}}); aerr != nil {
			return aerr
		}
		h.log.Info("sign-in refused", "request_id", RequestID(c), "reason", refused.reason)
		return refused.problem
	}
	return err
}

func (h *Handler) callback(c echo.Context) error {
	ctx := c.Request().Context()
	ck, err := c.Cookie(h.cookieName("keyport_login"))
	h.clearCookie(c, "keyport_login")
	if err != nil {
		return errFlowExpired
	}
	id, secret, ok := splitCookie(ck.Value)
	if !ok {
		return errFlowExpired
	}
	flow, err := h.db.TakeLoginFlow(ctx, id)
	if errors.Is(err, models.ErrNotFound) {
		return errFlowExpired
	}
	if err != nil {
		return fmt.Errorf("take login flow: %w", err)
	}
	if subtle.ConstantTimeCompare(flow.SecretHash, hashSecret(secret)) != 1 {
		return errFlowExpired
	}
	if e := c.QueryParam("error"); e != "" {
		return refuse("idp_error", http.StatusForbidden, "Sign-in was not completed",
			"Your identity provider did not complete the sign-in. Start again, or ask your administrator if it keeps happening.")
	}
	if !constantTimeEqual(c.QueryParam("state"), flow.State) {
		return refuse("state_mismatch", http.StatusBadRequest, "Sign-in could not be verified",
			"The answer from your identity provider did not match this sign-in attempt. Start again.")
	}
	code := c.QueryParam("code")
	if code == "" {
		return refuse("code_missing", http.StatusBadRequest, "Sign-in could not be verified",
			"The answer from your identity provider was incomplete. Start again.")
	}
	ident, err := h.oidc.Exchange(ctx, code, derive(secret, "pkce-verifier"), flow.Nonce)
	if err != nil {
		h.log.Warn("oidc exchange failed", "request_id", RequestID(c), "err", err)
		return exchangeRefusal(err)
	}
	if ident.Email == "" || !ident.EmailVerified {
		return refuse("email_unverified", http.StatusForbidden, "Verified email required",
			"Your identity provider did not confirm your email address. keyport needs a verified email to know who you are.")
	}
	if flow.StepUpUserID != "" {
		if err := h.checkStepUp(ctx, flow, ident); err != nil {
			return err
		}
	}
	mfa := ident.HasSecondFactor(h.cfg.MFAAMR, h.cfg.MFAACR)
	if h.cfg.RequireMFA && !mfa {
		return refuse("mfa_required", http.StatusForbidden, "Second factor required",
			"This keyport requires multi-factor sign-in, and your identity provider did not confirm a second factor. Sign in again with your second factor, or ask your administrator to enable it for your account.")
	}
	return h.finishSignIn(c, ident, flow.ReturnTo, mfa)
}

// exchangeRefusal answers a failed code exchange: an operator's
// configuration error (502), an unreachable provider (503) and a sign-in
// that does not verify (400) each have their own words and audit reason.
func exchangeRefusal(err error) *signInRefused {
	switch {
	case errors.Is(err, oidcrp.ErrClientRejected):
		return refuse("idp_client_rejected", http.StatusBadGateway, "keyport's sign-in is misconfigured",
			"Your identity provider refused keyport's own client credentials, so nobody can sign in until this is fixed. Nothing is wrong with your account. Please tell the keyport operator: the identity provider answered invalid_client; check KEYPORT_OIDC_CLIENT_ID and KEYPORT_OIDC_CLIENT_SECRET against the client registered at the provider.")
	case errors.Is(err, oidcrp.ErrProviderUnreachable):
		return refuse("idp_unreachable", http.StatusServiceUnavailable, "Identity provider unreachable",
			"keyport could not reach your identity provider to complete the sign-in. Nothing is wrong with your account; try again in a few minutes, and tell the keyport operator if it keeps happening.")
	case errors.Is(err, oidcrp.ErrNonceMismatch):
		return refuse("nonce_mismatch", http.StatusBadRequest, "Sign-in could not be verified",
			"keyport could not verify the sign-in with your identity provider. Start again.")
	}
	return refuse("token_invalid", http.StatusBadRequest, "Sign-in could not be verified",
		"keyport could not verify the sign-in with your identity provider. Start again.")
}

// finishSignIn records the user, makes sure they have a tenant (creating one
// on first sign-in when signup is open, unless the browser carries a pending
// invitation), and starts their session.
func (h *Handler) finishSignIn(c echo.Context, ident *oidcrp.Identity, returnTo string, mfa bool) error {
	ctx := c.Request().Context()
	if err := h.checkSubjectChange(c, ident); err != nil {
		return err
	}
	u, _, err := h.db.UpsertOIDCUser(ctx, ident.Issuer, ident.Subject, ident.Email, ident.Name)
	if err != nil {
		return fmt.Errorf("record user: %w", err)
	}
	// A tenant made for this (verified) email by `keyport tenant create
	// --owner` becomes theirs now, instead of a tenant of their own.
	claimed, err := h.db.ClaimOwnerBinding(ctx, u.ID, ident.Email, models.AuditInput{Actor: u.ID, RequestID: RequestID(c)})
	if err != nil {
		return fmt.Errorf("claim tenant ownership: %w", err)
	}
	tenants, err := h.db.TenantsForUser(ctx, u.ID)
	if err != nil {
		return fmt.Errorf("load tenants: %w", err)
	}
	invited, err := h.hasPendingInvitation(c)
	if err != nil {
		return err
	}
	if len(tenants) == 0 && !invited {
		if err := h.refuseClosedTenant(ctx, u.ID); err != nil {
			return err
		}
	}
	var tenantID string
	switch {
	case len(tenants) > 0:
		tenantID = tenants[0].Tenant.ID
		if claimed != "" {
			tenantID = claimed
		}
		// Signing in again (a step-up before an export) keeps the tenant
		// the user was working in.
		if v := viewerFrom(c); v != nil && v.User.ID == u.ID && v.Tenant != nil {
			tenantID = v.Tenant.ID
		}
	case invited:
		// Neither refused nor given a tenant of their own: the invitation
		// page checks the email and joins them to the inviting tenant.
	case h.cfg.InviteOnly:
		return refuse("no_membership", http.StatusForbidden, "No access yet",
			"You signed in, but you are not a member of any keyport tenant. Ask an owner of your organisation's tenant to invite "+ident.Email+".")
	default:
		existing, err := h.tenantsOfDomain(ctx, ident.Email)
		if err != nil {
			return err
		}
		if len(existing) > 0 {
			if !slices.Contains(h.cfg.Operators, strings.ToLower(u.Email)) {
				return domainHasTenant(ident.Email, existing)
			}
			// An operator works on the operator pages: signed in
			// without a tenant rather than refused or given a second one.
			if returnTo == safeReturnTo("") {
				returnTo = "/operator"
			}
			break
		}
		t, err := h.db.CreateTenantWithOwner(ctx, tenantNameFor(ident.Email), u.ID, models.AuditInput{
			Actor: u.ID, Action: "tenant.created", RequestID: RequestID(c),
			Details: map[string]string{"email": u.Email},
		})
		if err != nil {
			return fmt.Errorf("create tenant: %w", err)
		}
		tenantID = t.ID
	}
	authTime := ident.AuthTime
	if authTime.IsZero() {
		authTime = authTimeUnknown
	}
	if err := h.startSession(c, u.ID, tenantID, authTime, mfa); err != nil {
		return err
	}
	if err := h.audit(c, models.AuditInput{TenantID: tenantID, Actor: u.ID, Action: "auth.sign_in",
		TargetType: "user", TargetID: u.ID, Details: map[string]string{"email": u.Email, "mfa": fmt.Sprint(mfa)}}); err != nil {
		return err
	}
	if invited && returnTo == safeReturnTo("") {
		returnTo = "/invite"
	}
	return c.Redirect(http.StatusSeeOther, returnTo)
}

// Logout ends the session on the server, not just in the browser, and at
// the identity provider when it offers RP-initiated logout.
func (h *Handler) Logout(c echo.Context) error {
	v := viewerFrom(c)
	if v != nil {
		if err := h.db.DeleteSession(c.Request().Context(), v.Session.ID); err != nil && !errors.Is(err, models.ErrNotFound) {
			return fmt.Errorf("end session: %w", err)
		}
		tenantID := ""
		if v.Tenant != nil {
			tenantID = v.Tenant.ID
		}
		if err := h.audit(c, models.AuditInput{TenantID: tenantID, Actor: v.User.ID, Action: "auth.sign_out",
			TargetType: "user", TargetID: v.User.ID}); err != nil {
			return err
		}
	}
	h.clearCookie(c, "keyport_session")
	c.Set(viewerKey, nil)
	// RP-initiated logout: end the provider's session too, when it offers
	// an end_session_endpoint, so "Sign in" asks for credentials again.
	// The request names keyport by client_id rather than id_token_hint:
	// the ID token is never kept, and never put in a URL.
	if v != nil {
		if to := h.oidc.LogoutURL(h.cfg.BaseURL + "/signed-out"); to != "" {
			return c.Redirect(http.StatusSeeOther, to)
		}
	}
	return render(c, http.StatusOK, views.SignedOutPage(h.page(c, "Signed out", "")))
}

// SignedOut is where the provider's RP-initiated logout returns: the same
// page a sign-out without one shows.
func (h *Handler) SignedOut(c echo.Context) error {
	return render(c, http.StatusOK, views.SignedOutPage(h.page(c, "Signed out", "")))
}

// audit appends an event stamped with the request id.
func (h *Handler) audit(c echo.Context, in models.AuditInput) error {
	in.RequestID = RequestID(c)
	if _, err := h.db.AppendAudit(c.Request().Context(), in); err != nil {
		return fmt.Errorf("write audit event %s: %w", in.Action, err)
	}
	return nil
}

// safeReturnTo keeps only local paths, so the sign-in flow cannot be used
// to send someone to another site. It accepts a path (with an optional
// query) and nothing else: no scheme or host, no "//" start, and no control
// character, whitespace or backslash anywhere, because browsers drop TABs
// and newlines and read "\\" as "/" ("/\t/evil.example" becomes
// "//evil.example").
func safeReturnTo(p string) string {
	const fallback = "/dashboard"
	if p == "" || len(p) > 512 || !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") ||
		strings.HasPrefix(p, "/auth/") {
		return fallback
	}
	for _, r := range p {
		if r <= ' ' || r == 0x7f || r == '\\' || unicode.IsSpace(r) || unicode.IsControl(r) || !unicode.IsPrint(r) {
			return fallback
		}
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" ||
		!strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") || strings.HasPrefix(u.Path, "/auth/") {
		return fallback
	}
	return p
}

// tenantNameFor names a new tenant after the email's domain.
func tenantNameFor(email string) string {
	if _, domain, ok := strings.Cut(email, "@"); ok && domain != "" {
		return strings.ToLower(domain)
	}
	return email
}

func constantTimeEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
