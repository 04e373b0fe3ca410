package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"keyport/keysvc/invites"
	"keyport/keysvc/mailer"
	"keyport/models"
	"keyport/views"
)

// Mailer sends one email; *mailer.Mailer is the real one.
type Mailer interface {
	Send(ctx context.Context, m mailer.Message) error
}

// The invitation link's token moves from the URL into this cookie at once,
// so it is left neither in the history nor in a Referer. An hour is long
// enough to sign in (and to sign out and in again with the right account).
const (
	inviteCookie    = "keyport_invite"
	inviteCookieTTL = time.Hour
)

// tooManyInvitations refuses an invitation or resend over the tenant's rate
// limit (Config.InviteRateLimit).
const tooManyInvitations = "This tenant has sent too many invitations in the last hour. Wait a while, then try again."

// InviteMember invites an email address to the tenant with a role, then
// emails the link. Older open invitations of the same address are revoked.
func (h *Handler) InviteMember(c echo.Context) error {
	v := viewerFrom(c)
	f := views.InviteForm{Email: strings.TrimSpace(c.FormValue("email")), Role: c.FormValue("role"), Errors: map[string]string{}}
	if _, err := models.NormalizeEmail(f.Email); err != nil {
		f.Errors["email"] = "Enter one email address, like name@example.com."
	}
	if !models.Role(f.Role).Valid() {
		f.Errors["role"] = "Choose owner, admin or auditor."
	}
	if len(f.Errors) > 0 {
		return h.renderMembers(c, http.StatusUnprocessableEntity, f)
	}
	_, mailed, err := h.invites.Invite(c.Request().Context(), v.Tenant.ID, h.inviter(c, v), f.Email, models.Role(f.Role))
	switch {
	case errors.Is(err, models.ErrAlreadyMember):
		f.Errors["email"] = "This person is already a member of this tenant."
		return h.renderMembers(c, http.StatusUnprocessableEntity, f)
	case errors.Is(err, models.ErrRateLimited):
		f.Error = tooManyInvitations
		return h.renderMembers(c, http.StatusTooManyRequests, f)
	case err != nil:
		return fmt.Errorf("create invitation: %w", err)
	}
	return c.Redirect(http.StatusSeeOther, "/members?done="+mailFlash(mailed, "invited"))
}

// inviter names the viewer in the invitation email and its audit event.
func (h *Handler) inviter(c echo.Context, v *Viewer) invites.Inviter {
	return invites.Inviter{ID: v.User.ID, Kind: models.ActorUser, Name: personLabel(v.User.Name, v.User.Email), Email: v.User.Email,
		RequestID: RequestID(c)}
}

// mailFlash is the flash code after an invitation: ok when its email went
// out (or was queued), "mail_failed" when not (it can be resent).
func mailFlash(mailed bool, ok string) string {
	if mailed {
		return ok
	}
	return "mail_failed"
}

// ResendInvitation replaces an open invitation with a fresh link and
// expiry, and emails it.
func (h *Handler) ResendInvitation(c echo.Context) error {
	v := viewerFrom(c)
	_, mailed, err := h.invites.Resend(c.Request().Context(), v.Tenant.ID, h.inviter(c, v), c.Param("id"))
	switch {
	case errors.Is(err, models.ErrRateLimited):
		return &PublicError{Status: http.StatusTooManyRequests, Heading: "Too many invitations",
			Message: tooManyInvitations,
			Action:  &views.Link{Label: "Back to members", Href: "/members"}}
	case err != nil:
		return fmt.Errorf("resend invitation: %w", err)
	}
	return c.Redirect(http.StatusSeeOther, "/members?done="+mailFlash(mailed, "resent"))
}

// RevokeInvitation withdraws an open invitation.
func (h *Handler) RevokeInvitation(c echo.Context) error {
	v := viewerFrom(c)
	err := h.db.RevokeInvitation(c.Request().Context(), v.Tenant.ID, c.Param("id"),
		models.AuditInput{Actor: v.User.ID, RequestID: RequestID(c)})
	if err != nil {
		return fmt.Errorf("revoke invitation: %w", err)
	}
	return c.Redirect(http.StatusSeeOther, "/members?done=revoked")
}

// Problems of the invitation link, for the person holding it.
var (
	toKeyport = &views.Link{Label: "Go to keyport", Href: "/"}

	errNoInvitation = &PublicError{Status: http.StatusBadRequest, Heading: "No invitation here",
		Message: "keyport found no invitation in this browser. Open the link from your invitation email again; it works for an hour in the browser you open it in.",
		Action:  toKeyport}
	errInvitationUnknown = &PublicError{Status: http.StatusNotFound, Heading: "Invitation not found",
		Message: "This invitation link is not valid. Check that you opened the whole link from the email, or ask for a new invitation.",
		Action:  toKeyport}
)

// wrongEmail refuses an invitation to a user signed in with another email.
func wrongEmail(signedInAs string) *PublicError {
	return &PublicError{Status: http.StatusForbidden, Heading: "This invitation is for someone else",
		Message: "You are signed in as " + signedInAs + ", but this invitation was sent to a different email address. " +
			"Sign out, open the invitation link again, and sign in with the address it was sent to."}
}

// inviteToken returns the token the browser carries, if it looks like one.
func (h *Handler) inviteToken(c echo.Context) (string, bool) {
	ck, err := c.Cookie(h.cookieName(inviteCookie))
	if err != nil || !plausibleToken(ck.Value) {
		return "", false
	}
	return ck.Value, true
}

// plausibleToken accepts what newSecret makes (base64url, no padding)
// with room to spare, and nothing that could upset a cookie.
func plausibleToken(t string) bool {
	if len(t) < 22 || len(t) > 128 {
		return false
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// InvitationLanding is where the emailed link points. With ?token= it moves
// the token into a cookie and redirects to the same page without it; without,
// it shows the invitation: sign in, accept, or a refusal.
func (h *Handler) InvitationLanding(c echo.Context) error {
	if tok := c.QueryParam("token"); tok != "" {
		if !plausibleToken(tok) {
			return errInvitationUnknown
		}
		h.setCookie(c, inviteCookie, tok, inviteCookieTTL)
		return c.Redirect(http.StatusSeeOther, "/invite")
	}
	tok, ok := h.inviteToken(c)
	if !ok {
		return errNoInvitation
	}
	inv, err := h.db.InvitationByToken(c.Request().Context(), hashSecret(tok))
	if err != nil {
		return h.invitationFailed(c, err)
	}
	land := views.InvitationLanding{TenantName: inv.TenantName, InviterName: personLabel(inv.InviterName, inv.InviterEmail),
		Role: string(inv.Role), ExpiresAt: inv.ExpiresAt}
	if v := viewerFrom(c); v != nil {
		// The same check as on accept, so the refusal comes before the button.
		if !strings.EqualFold(strings.TrimSpace(v.User.Email), inv.Email) {
			return wrongEmail(v.User.Email)
		}
		land.SignedInAs = v.User.Email
	}
	return render(c, http.StatusOK, views.InvitationPage(h.page(c, "Invitation", ""), land))
}

// AcceptInvitation joins the signed-in user to the invitation's tenant if
// their IdP-verified email is the invited one, and switches them to it.
func (h *Handler) AcceptInvitation(c echo.Context) error {
	v := viewerFrom(c) // CheckCSRF lets no anonymous POST through
	tok, ok := h.inviteToken(c)
	if !ok {
		return errNoInvitation
	}
	ctx := c.Request().Context()
	inv, err := h.db.AcceptInvitation(ctx, hashSecret(tok), v.User.ID, v.User.Email,
		models.AuditInput{Actor: v.User.ID, RequestID: RequestID(c)})
	if errors.Is(err, models.ErrEmailMismatch) {
		if aerr := h.audit(c, models.AuditInput{TenantID: inv.TenantID, Actor: v.User.ID, Action: "member.invite_refused",
			TargetType: "invitation", TargetID: inv.ID, Details: map[string]string{"reason": "email_mismatch", "email": v.User.Email}}); aerr != nil {
			return aerr
		}
		return wrongEmail(v.User.Email)
	}
	if err != nil {
		return h.invitationFailed(c, err)
	}
	h.clearCookie(c, inviteCookie)
	if err := h.db.SetSessionTenant(ctx, v.Session.ID, inv.TenantID); err != nil {
		return fmt.Errorf("switch to the new tenant: %w", err)
	}
	return c.Redirect(http.StatusSeeOther, "/dashboard")
}

// invitationFailed drops a link that can never work again from the
// browser. No invitation behind a link means the link is unknown, in this
// page's own words; HandleError words used and expired links.
func (h *Handler) invitationFailed(c echo.Context, err error) error {
	if deadInvitation(err) {
		h.clearCookie(c, inviteCookie)
	}
	if errors.Is(err, models.ErrNotFound) {
		err = errInvitationUnknown
	}
	return fmt.Errorf("look up invitation: %w", err)
}

// deadInvitation reports whether err says an invitation link can never
// work again.
func deadInvitation(err error) bool {
	return errors.Is(err, models.ErrNotFound) || errors.Is(err, models.ErrInvitationUsed) || errors.Is(err, models.ErrInvitationExpired)
}

// hasPendingInvitation reports whether the browser carries the link of an
// invitation that can still be accepted. Sign-in then neither refuses an
// invite-only newcomer nor creates a tenant for them: the invitation page
// decides, after checking the email.
func (h *Handler) hasPendingInvitation(c echo.Context) (bool, error) {
	tok, ok := h.inviteToken(c)
	if !ok {
		return false, nil
	}
	_, err := h.db.InvitationByToken(c.Request().Context(), hashSecret(tok))
	if err == nil || deadInvitation(err) {
		return err == nil, nil
	}
	return false, fmt.Errorf("look up pending invitation: %w", err)
}
