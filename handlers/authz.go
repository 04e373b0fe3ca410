package handlers

import (
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"

	"keyport/models"
	"keyport/views"
)

// Action is something a user may or may not do. Every route that needs more
// than a signed-in user names its action in routes.go; no handler checks
// roles by hand.
type Action string

// The actions of the portal.
const (
	ActViewTenant    Action = "tenant.view"    // dashboard, keys, connections (read)
	ActViewMembers   Action = "members.view"   // members and invitations (read)
	ActManageMembers Action = "members.manage" // invite, change roles, remove
	// ActManageNonOwners is inviting, changing and removing admins and
	// auditors, never owners: what a tenant's admin API key may do with
	// members in the management API (the portal's members page stays with
	// owners; API keys are never owners).
	ActManageNonOwners   Action = "members.manage_non_owners"
	ActLeaveTenant       Action = "members.leave"      // end one's own membership
	ActManageConnections Action = "connections.manage" // AWS connections
	ActManageKeys        Action = "keys.manage"        // register, create, rotate, enable, disable, delete keys
	ActExportKeys        Action = "keys.export"        // export key material
	ActApproveKeys       Action = "keys.approve"       // approve another admin's export or deletion
	ActPurgeCache        Action = "keys.purge"         // drop cached data keys
	ActViewAudit         Action = "audit.view"         // audit log and reports
	ActManageSettings    Action = "tenant.settings"    // tenant-wide settings, rotation defaults
	ActManageNotices     Action = "notices.manage"     // acknowledge rotation notices, postpone rotations
	ActDeleteTenant      Action = "tenant.delete"
	ActManageAPIKeys     Action = "apikeys.manage"   // the tenant's management-API keys: create, list, revoke
	ActOperate           Action = "provider.operate" // operator: all tenants' health, service tokens, provider settings
)

// permissions is the one table of who may do what. Operators are provider-
// wide and hold no tenant role: they get only the actions listed for
// "operator" (never secrets or key material).
var permissions = map[Action][]models.Role{
	ActViewTenant:        {models.RoleOwner, models.RoleAdmin, models.RoleAuditor},
	ActViewMembers:       {models.RoleOwner, models.RoleAdmin, models.RoleAuditor},
	ActManageMembers:     {models.RoleOwner},
	ActManageNonOwners:   {models.RoleOwner, models.RoleAdmin},
	ActLeaveTenant:       {models.RoleOwner, models.RoleAdmin, models.RoleAuditor},
	ActManageConnections: {models.RoleOwner, models.RoleAdmin},
	ActManageKeys:        {models.RoleOwner, models.RoleAdmin},
	ActExportKeys:        {models.RoleOwner, models.RoleAdmin},
	ActApproveKeys:       {models.RoleOwner, models.RoleAdmin},
	ActPurgeCache:        {models.RoleOwner, models.RoleAdmin},
	ActViewAudit:         {models.RoleOwner, models.RoleAdmin, models.RoleAuditor},
	ActManageSettings:    {models.RoleOwner, models.RoleAdmin},
	ActManageNotices:     {models.RoleOwner, models.RoleAdmin},
	ActDeleteTenant:      {models.RoleOwner},
	ActManageAPIKeys:     {models.RoleOwner, models.RoleAdmin},
}

// operatorActions are what the provider's operators may do.
var operatorActions = []Action{ActOperate}

// Allowed reports whether role may perform a tenant action. Background jobs
// use it too, with the role of the member on whose behalf they act.
func Allowed(role models.Role, a Action) bool {
	return slices.Contains(permissions[a], role)
}

// can reports whether the viewer may perform a, in their current tenant for
// tenant actions.
func (v *Viewer) can(a Action) bool {
	if v == nil {
		return false
	}
	if slices.Contains(operatorActions, a) {
		return v.Operator
	}
	return v.Tenant != nil && Allowed(v.Role, a)
}

// Require is route middleware: the viewer must be signed in and allowed to
// perform a. A viewer without the right gets 403; one without any tenant is
// told so.
func (h *Handler) Require(a Action) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			v := viewerFrom(c)
			if v == nil {
				return &PublicError{Status: http.StatusUnauthorized, Heading: "Signed out",
					Message: "Your session has ended. Sign in again to continue.", Action: &views.Link{Label: "Sign in", Href: "/"}}
			}
			if v.can(a) {
				return next(c)
			}
			if v.Tenant == nil && !slices.Contains(operatorActions, a) {
				return &PublicError{Status: http.StatusForbidden, Heading: "No tenant",
					Message: "You are not a member of any keyport tenant. Ask an owner of your organisation's tenant to invite " + v.User.Email + "."}
			}
			return &PublicError{Status: http.StatusForbidden, Heading: "Not allowed",
				Message: "Your role in this tenant does not allow this. Ask an owner if you need it."}
		}
	}
}
