package handlers

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

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
	keys, err := h.db.ListKeys(ctx, v.Tenant.ID)
	if err != nil {
		return fmt.Errorf("list keys: %w", err)
	}
	d := views.Dashboard{
		TenantName:  v.Tenant.Name,
		Role:        string(v.Role),
		MemberCount: int(members),
		Steps: []views.Step{
			{Title: "Sign in", Detail: "Done: your tenant was set up and you are its " + string(v.Role) + ".", Done: true},
			{Title: "Connect your AWS account", Detail: "Give keyport an IAM role to assume (with an external id keyport generates) or an IAM user's access key.",
				Done: len(conns) > 0, Link: &views.Link{Label: "AWS connections", Href: "/connections"}},
			{Title: "Register a key", Detail: "Register a customer-managed KMS key by its ARN; keyport checks it before use. Available once an AWS connection exists.",
				Done: len(keys) > 0, Link: &views.Link{Label: "Keys", Href: "/keys"}},
			{Title: "Invite your team", Detail: "Add admins and auditors so that no key depends on one person."},
		},
		KeyHealth: keyHealthCounts(keys),
	}
	if d.Charts, err = h.tenantCharts(ctx, v.Tenant.ID); err != nil {
		return err
	}
	for _, e := range events {
		d.Activity = append(d.Activity, views.ActivityRow{At: e.CreatedAt, Actor: actorLabel(v, e.Actor), Action: e.Action, Target: e.TargetType})
	}
	return render(c, http.StatusOK, views.DashboardPage(h.page(c, v.Tenant.Name, "dashboard"), d))
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
