package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"keyport/models"
	"keyport/views"
)

// memberFlashes are the fixed texts a "done" query parameter may select
// after a redirect; anything else shows nothing, so no input is echoed.
var memberFlashes = map[string]string{
	"invited":         "Invitation sent.",
	"resent":          "Invitation sent again with a new link; the previous link no longer works.",
	"revoked":         "Invitation revoked; its link no longer works.",
	"role_changed":    "Role changed.",
	"role_signed_out": "Role changed. The member had fewer rights now, so they were signed out everywhere.",
	"removed":         "Member removed and signed out everywhere.",
}

// memberNotices are like memberFlashes, for outcomes that need action.
var memberNotices = map[string]string{
	"mail_failed": "The invitation was saved, but the email could not be sent. Check keyport's mail settings, then use Resend below.",
}

// memberPageSize is how many members one page of the members list shows.
const memberPageSize = 50

// Members lists the tenant's members and open invitations.
func (h *Handler) Members(c echo.Context) error {
	return h.renderMembers(c, http.StatusOK, views.InviteForm{Role: string(models.RoleAuditor)})
}

// renderMembers renders the members page with the invitation form as given
// (re-rendered with its errors after a failed invite).
func (h *Handler) renderMembers(c echo.Context, status int, form views.InviteForm) error {
	v := viewerFrom(c)
	ctx := c.Request().Context()
	// One page of members: a tenant with a thousand of them gets a page
	// of the same size and cost as one with ten.
	total, err := h.db.CountMembers(ctx, v.Tenant.ID)
	if err != nil {
		return fmt.Errorf("count members: %w", err)
	}
	pages := max(int((total+memberPageSize-1)/memberPageSize), 1)
	page, _ := strconv.Atoi(c.QueryParam("page"))
	page = min(max(page, 1), pages)
	members, err := h.db.MembersPage(ctx, v.Tenant.ID, (page-1)*memberPageSize, memberPageSize)
	if err != nil {
		return fmt.Errorf("list members: %w", err)
	}
	invs, err := h.db.ListInvitations(ctx, v.Tenant.ID)
	if err != nil {
		return fmt.Errorf("list invitations: %w", err)
	}
	m := views.Members{CanManage: v.can(ActManageMembers), Invite: form, Page: page, Pages: pages, Total: int(total)}
	for _, r := range members {
		m.Members = append(m.Members, views.MemberRow{UserID: r.UserID, Name: r.Name, Email: r.Email, Role: string(r.Role),
			InvitedBy: personLabel(r.InvitedByName, r.InvitedByEmail), LastSignIn: r.LastSignInAt, You: r.UserID == v.User.ID})
	}
	now := h.now()
	for _, inv := range invs {
		m.Invitations = append(m.Invitations, views.InvitationRow{ID: inv.ID, Email: inv.Email, Role: string(inv.Role),
			InvitedBy: personLabel(inv.InviterName, inv.InviterEmail), CreatedAt: inv.CreatedAt, ExpiresAt: inv.ExpiresAt,
			Expired: !now.Before(inv.ExpiresAt)})
	}
	p := h.page(c, "Members", "members")
	if c.Request().Method == http.MethodGet {
		p.Flash = memberFlashes[c.QueryParam("done")]
		m.Notice = memberNotices[c.QueryParam("done")]
	}
	return render(c, status, views.MembersPage(p, m))
}

// personLabel names a person by name, else by email.
func personLabel(name, email string) string {
	if name != "" {
		return name
	}
	return email
}

// ChangeRole sets a member's role. A demotion signs the member out
// everywhere (in the same transaction as the change).
func (h *Handler) ChangeRole(c echo.Context) error {
	v := viewerFrom(c)
	role := models.Role(c.FormValue("role"))
	if !role.Valid() {
		return &PublicError{Status: http.StatusUnprocessableEntity, Heading: "Choose a role",
			Message: "A member's role must be owner, admin or auditor.", Action: &views.Link{Label: "Back to members", Href: "/members"}}
	}
	userID := c.Param("user_id")
	ch, err := h.db.ChangeMemberRole(c.Request().Context(), v.Tenant.ID, userID, role,
		models.AuditInput{Actor: v.User.ID, RequestID: RequestID(c)})
	if err != nil {
		return fmt.Errorf("change role: %w", err)
	}
	if ch.SessionsEnded && userID == v.User.ID {
		// The viewer demoted themselves; their session is gone with the rest.
		return c.Redirect(http.StatusSeeOther, "/")
	}
	done := "role_changed"
	if ch.SessionsEnded {
		done = "role_signed_out"
	}
	return c.Redirect(http.StatusSeeOther, "/members?done="+done)
}

// RemoveMember ends a member's membership and their sessions in this tenant.
func (h *Handler) RemoveMember(c echo.Context) error {
	v := viewerFrom(c)
	userID := c.Param("user_id")
	err := h.db.RemoveMember(c.Request().Context(), v.Tenant.ID, userID, true,
		models.AuditInput{Actor: v.User.ID, RequestID: RequestID(c)})
	if err != nil {
		return fmt.Errorf("remove member: %w", err)
	}
	if userID == v.User.ID {
		return c.Redirect(http.StatusSeeOther, "/")
	}
	return c.Redirect(http.StatusSeeOther, "/members?done=removed")
}

// LeaveTenant ends the viewer's own membership of the current tenant. Their
// sessions stay, and move to their other tenants if they have any.
func (h *Handler) LeaveTenant(c echo.Context) error {
	v := viewerFrom(c)
	ctx := c.Request().Context()
	err := h.db.RemoveMember(ctx, v.Tenant.ID, v.User.ID, false,
		models.AuditInput{Actor: v.User.ID, Action: "member.left", RequestID: RequestID(c)})
	switch {
	case errors.Is(err, models.ErrLastOwner):
		return &PublicError{Status: http.StatusConflict, Heading: "You are the last owner",
			Message: "A tenant needs an owner. Make another member an owner first, then leave.",
			Action:  &views.Link{Label: "Back to members", Href: "/members"}}
	case err != nil:
		return fmt.Errorf("leave tenant: %w", err)
	}
	if err := h.db.SetSessionTenant(ctx, v.Session.ID, ""); err != nil {
		return fmt.Errorf("leave tenant: %w", err)
	}
	return c.Redirect(http.StatusSeeOther, "/dashboard")
}
