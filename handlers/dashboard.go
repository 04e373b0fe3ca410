package handlers

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"keyport/models"
	"keyport/views"
)

// Dashboard is the tenant's home page.
func (h *Handler) Dashboard(c echo.Context) error {
	v := viewerFrom(c)
	ctx := c.Request().Context()
	members, err := h.db.CountMembers(ctx, v.Tenant.ID)
	if err != nil {
		return fmt.Errorf("count members: %w", err)
	}
	events, err := h.db.ListAudit(ctx, v.Tenant.ID, 10)
	if err != nil {
		return fmt.Errorf("list activity: %w", err)
	}
	conns, err := h.db.ListConnections(ctx, v.Tenant.ID)
	if err != nil {
		return fmt.Errorf("list connections: %w", err)
	}
	now := h.now()
	counts, firstExpiry, err := h.db.KeyStatusCounts(ctx, v.Tenant.ID, now.Add(views.ExpiryWarning))
	if err != nil {
		return err
	}
	keys := 0
	for _, n := range counts {
		keys += n.N
	}
	d := views.Dashboard{
		TenantName:  v.Tenant.Name,
		Role:        string(v.Role),
		MemberCount: int(members),
		KeyHealth:   keyStatusCounts(counts, firstExpiry, now),
	}
	if v.can(ActManageKeys) {
		dismissed, err := h.db.OnboardingDismissed(ctx, v.Tenant.ID, v.User.ID)
		if err != nil {
			return err
		}
		if !dismissed {
			invitations, err := h.db.ListInvitations(ctx, v.Tenant.ID)
			if err != nil {
				return fmt.Errorf("list invitations: %w", err)
			}
			d.Steps = gettingStarted(len(conns) > 0, keys > 0, members > 1 || len(invitations) > 0, v.can(ActManageMembers))
			d.ShowSteps = true
		}
	}
	if d.Charts, err = h.tenantCharts(ctx, v.Tenant.ID); err != nil {
		return err
	}
	for _, e := range events {
		d.Activity = append(d.Activity, views.ActivityRow{At: e.CreatedAt, Actor: actorLabel(v, e.Actor), Action: e.Action, Target: e.TargetType})
	}
	return render(c, http.StatusOK, views.DashboardPage(h.page(c, v.Tenant.Name, "dashboard"), d))
}

// gettingStarted is the setup a tenant admin walks through, ticked as each
// part exists. Inviting is an owner's step; an admin is told whom to ask.
func gettingStarted(connected, hasKey, team, canInvite bool) []views.Step {
	steps := []views.Step{
		{Title: "Connect your AWS account", Detail: "Give keyport an IAM role to assume (with an external id keyport generates) or an IAM user's access key.",
			Done: connected, Link: &views.Link{Label: "AWS connections", Href: "/connections"}},
		{Title: "Add a key", Detail: "Register a customer-managed KMS key by its ARN, or create one with keyport-generated material in a key store. keyport checks it before use.",
			Done: hasKey, Link: &views.Link{Label: "Keys", Href: "/keys"}},
	}
	if canInvite {
		steps = append(steps, views.Step{Title: "Invite your team", Detail: "Add admins and auditors so that no key depends on one person.",
			Done: team, Link: &views.Link{Label: "Members", Href: "/members"}})
	} else {
		steps = append(steps, views.Step{Title: "Have a second admin", Detail: "Ask an owner of this tenant to invite another admin, so that no key depends on you alone.", Done: team})
	}
	return steps
}

// DismissGettingStarted hides the dashboard's getting-started steps from
// the viewer in this tenant.
func (h *Handler) DismissGettingStarted(c echo.Context) error {
	v := viewerFrom(c)
	if err := h.db.DismissOnboarding(c.Request().Context(), v.Tenant.ID, v.User.ID, models.AuditInput{Actor: v.User.ID, RequestID: RequestID(c)}); err != nil {
		return fmt.Errorf("dismiss getting started: %w", err)
	}
	return c.Redirect(http.StatusSeeOther, "/dashboard")
}

// actorLabel shows "you" for the viewer's own events; other actors by id
// until the members page gives them names.
func actorLabel(v *Viewer, actor string) string {
	if actor == v.User.ID {
		return "you"
	}
	return actor
}

// SwitchTenant changes the tenant the session works in. The tenant must be
// one the user belongs to; any other id gets the same answer as a missing one.
func (h *Handler) SwitchTenant(c echo.Context) error {
	v := viewerFrom(c)
	id := c.FormValue("tenant_id")
	ctx := c.Request().Context()
	if _, err := h.db.GetMembership(ctx, id, v.User.ID); err != nil {
		return fmt.Errorf("switch tenant: %w", err)
	}
	if err := h.db.SetSessionTenant(ctx, v.Session.ID, id); err != nil {
		return fmt.Errorf("switch tenant: %w", err)
	}
	return c.Redirect(http.StatusSeeOther, "/dashboard")
}
