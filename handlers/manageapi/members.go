package manageapi

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"keyport/handlers"
	"keyport/keysvc/invites"
	"keyport/models"
)

// API keys are admins or auditors, never owners. An admin key manages
// admins and auditors like an owner would, but it can neither touch an
// owner nor make anyone one: owners stay the portal's, so a leaked key
// cannot take over a tenant.
const ownersOutOfReach = "API keys cannot change, remove or invite owners, nor make anyone an owner; an owner does that on the portal's members page."

const memberRule = " An admin API key manages admins and auditors only: owners and the owner role are refused (403 owner_out_of_reach); an owner does that in the portal."

// Member is a member of the tenant.
type Member struct {
	UserID       string     `json:"user_id"`
	Email        string     `json:"email"`
	Name         string     `json:"name"`
	Role         string     `json:"role" doc:"owner, admin or auditor"`
	InvitedBy    string     `json:"invited_by" doc:"the inviter's user id; empty for the tenant's creator"`
	JoinedAt     time.Time  `json:"joined_at"`
	LastSignInAt *time.Time `json:"last_sign_in_at"`
}

// MemberPatch is the body of PATCH /members/{user_id}.
type MemberPatch struct {
	Role string `json:"role" doc:"admin or auditor"`
}

// Invitation is an open invitation (neither accepted nor revoked).
type Invitation struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Role      string    `json:"role"`
	InvitedBy string    `json:"invited_by" doc:"a user id, or the id of the API key that invited"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	Expired   bool      `json:"expired" doc:"the link no longer works; resend to send a new one"`
}

// SentInvitation is the answer of a create or resend.
type SentInvitation struct {
	Invitation
	EmailSent bool `json:"email_sent" doc:"the email went out (or was queued for sending); false: the invitation is saved but its email was not sent, resend it later"`
}

// InvitationCreate is the body of POST /invitations.
type InvitationCreate struct {
	Email string `json:"email"`
	Role  string `json:"role" doc:"admin or auditor"`
}

func (a *API) memberOps() []Operation {
	return []Operation{
		{Method: http.MethodGet, Path: "/members", ID: "listMembers", Tag: "members", Act: handlers.ActViewMembers,
			Summary: "List the tenant's members.", Query: pageParams, Response: List[Member]{}, Handler: a.listMembers},
		{Method: http.MethodPatch, Path: "/members/:user_id", ID: "updateMember", Tag: "members", Act: handlers.ActManageNonOwners,
			Summary: "Change a member's role between admin and auditor; a demotion signs the member out." + memberRule,
			Request: MemberPatch{}, Response: Member{}, Handler: a.updateMember},
		{Method: http.MethodDelete, Path: "/members/:user_id", ID: "removeMember", Tag: "members", Act: handlers.ActManageNonOwners,
			Summary: "Remove a member and sign them out of this tenant." + memberRule, Status: http.StatusNoContent, Handler: a.removeMember},
		{Method: http.MethodGet, Path: "/invitations", ID: "listInvitations", Tag: "members", Act: handlers.ActViewMembers,
			Summary: "List the open invitations (expired ones included, so they can be resent).", Query: pageParams,
			Response: List[Invitation]{}, Handler: a.listInvitations},
		{Method: http.MethodPost, Path: "/invitations", ID: "createInvitation", Tag: "members", Act: handlers.ActManageNonOwners,
			Summary: "Invite an email address as admin or auditor; it gets the same email as from the portal (the link works once). Older open invitations of the address are revoked." + memberRule,
			Request: InvitationCreate{}, Response: SentInvitation{}, Status: http.StatusCreated, Handler: a.createInvitation},
		{Method: http.MethodPost, Path: "/invitations/:id/resend", ID: "resendInvitation", Tag: "members", Act: handlers.ActManageNonOwners,
			Summary:  "Send an open invitation again with a new link and expiry; the old link stops working." + memberRule,
			Response: SentInvitation{}, Handler: a.resendInvitation},
		{Method: http.MethodDelete, Path: "/invitations/:id", ID: "revokeInvitation", Tag: "members", Act: handlers.ActManageNonOwners,
			Summary: "Revoke an open invitation; its link stops working." + memberRule, Status: http.StatusNoContent, Handler: a.revokeInvitation},
	}
}

func ownerRefused() error {
	return &handlers.APIError{Status: http.StatusForbidden, Code: "owner_out_of_reach", Message: ownersOutOfReach}
}

// nonOwnerRole reads an admin or auditor role.
func nonOwnerRole(s string) (models.Role, error) {
	r := models.Role(s)
	switch {
	case r == models.RoleOwner:
		return "", ownerRefused()
	case r != models.RoleAdmin && r != models.RoleAuditor:
		return "", badRequest("role", `must be "admin" or "auditor"`)
	}
	return r, nil
}

func memberOut(m models.Member) Member {
	return Member{UserID: m.UserID, Email: m.Email, Name: m.Name, Role: string(m.Role), InvitedBy: m.InvitedBy,
		JoinedAt: m.JoinedAt.UTC(), LastSignInAt: m.LastSignInAt}
}

func (a *API) listMembers(c echo.Context) error {
	ms, err := a.db.ListMembers(c.Request().Context(), tenant(c))
	if err != nil {
		return err
	}
	out := make([]Member, 0, len(ms))
	for _, m := range ms {
		out = append(out, memberOut(m))
	}
	return page(c, out, func(x Member) string { return x.UserID })
}

func (a *API) member(c echo.Context, userID string) (Member, error) {
	ms, err := a.db.ListMembers(c.Request().Context(), tenant(c))
	if err != nil {
		return Member{}, err
	}
	for _, m := range ms {
		if m.UserID == userID {
			return memberOut(m), nil
		}
	}
	return Member{}, notFound("member")
}

func (a *API) updateMember(c echo.Context) error {
	var in MemberPatch
	if err := bind(c, &in); err != nil {
		return err
	}
	// The member is looked up first, so that another tenant's user is a
	// 404 before a refused role says anything.
	if _, err := a.member(c, c.Param("user_id")); err != nil {
		return err
	}
	role, err := nonOwnerRole(in.Role)
	if err != nil {
		return err
	}
	_, err = a.db.ChangeNonOwnerRole(c.Request().Context(), tenant(c), c.Param("user_id"), role, by(c).Audit("", nil))
	if err := memberErr(err); err != nil {
		return err
	}
	m, err := a.member(c, c.Param("user_id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, m)
}

func (a *API) removeMember(c echo.Context) error {
	err := a.db.RemoveNonOwner(c.Request().Context(), tenant(c), c.Param("user_id"), by(c).Audit("", nil))
	if err := memberErr(err); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func memberErr(err error) error {
	switch {
	case errors.Is(err, models.ErrNotFound):
		return notFound("member")
	case errors.Is(err, models.ErrOwnerOutOfReach):
		return ownerRefused()
	}
	return err
}

func invitationOut(inv models.Invitation, now time.Time) Invitation {
	return Invitation{ID: inv.ID, Email: inv.Email, Role: string(inv.Role), InvitedBy: inv.InvitedBy, CreatedAt: inv.CreatedAt.UTC(),
		ExpiresAt: inv.ExpiresAt.UTC(), Expired: !now.Before(inv.ExpiresAt)}
}

func (a *API) listInvitations(c echo.Context) error {
	invs, err := a.db.ListInvitations(c.Request().Context(), tenant(c))
	if err != nil {
		return err
	}
	out := make([]Invitation, 0, len(invs))
	for _, inv := range invs {
		out = append(out, invitationOut(inv.Invitation, a.now()))
	}
	return page(c, out, func(x Invitation) string { return x.ID })
}

// inviter names the API key in the invitation email and its audit event.
func inviter(c echo.Context) invites.Inviter {
	return invites.Inviter{ID: key(c).ID, Kind: models.ActorAPIKey, Name: `API key "` + key(c).Name + `"`, RequestID: handlers.RequestID(c)}
}

func (a *API) createInvitation(c echo.Context) error {
	var in InvitationCreate
	if err := bind(c, &in); err != nil {
		return err
	}
	email := strings.TrimSpace(in.Email)
	if _, err := models.NormalizeEmail(email); err != nil {
		return badRequest("email", "must be one email address, like name@example.com")
	}
	role, err := nonOwnerRole(in.Role)
	if err != nil {
		return err
	}
	inv, mailed, err := a.invites.Invite(c.Request().Context(), tenant(c), inviter(c), email, role)
	if err := invitationErr(err); err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, SentInvitation{Invitation: invitationOut(*inv, a.now()), EmailSent: mailed})
}

func (a *API) resendInvitation(c echo.Context) error {
	ctx := c.Request().Context()
	old, err := a.db.GetInvitation(ctx, tenant(c), c.Param("id"))
	if err != nil {
		return invitationErr(err)
	}
	if old.Role == models.RoleOwner {
		return ownerRefused()
	}
	inv, mailed, err := a.invites.Resend(ctx, tenant(c), inviter(c), c.Param("id"))
	if err := invitationErr(err); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, SentInvitation{Invitation: invitationOut(*inv, a.now()), EmailSent: mailed})
}

func (a *API) revokeInvitation(c echo.Context) error {
	ctx := c.Request().Context()
	old, err := a.db.GetInvitation(ctx, tenant(c), c.Param("id"))
	if err != nil {
		return invitationErr(err)
	}
	if old.Role == models.RoleOwner {
		return ownerRefused()
	}
	return orNoContent(c, invitationErr(a.db.RevokeInvitation(ctx, tenant(c), c.Param("id"), by(c).Audit("", nil))))
}

func invitationErr(err error) error {
	switch {
	case errors.Is(err, models.ErrNotFound):
		return notFound("open invitation")
	case errors.Is(err, models.ErrAlreadyMember):
		return &handlers.APIError{Status: http.StatusConflict, Code: "already_member", Message: "This person is already a member of this tenant."}
	case errors.Is(err, models.ErrRateLimited):
		return &handlers.APIError{Status: http.StatusTooManyRequests, Code: "too_many_invitations",
			Message: "This tenant has sent too many invitations in the last hour; retry later.", RetryAfter: "600"}
	}
	return err
}

// orNoContent answers 204 when err is nil.
func orNoContent(c echo.Context, err error) error {
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
