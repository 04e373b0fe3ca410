package handlers

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/labstack/echo/v4"

	"keyport/keysvc/compliance"
	"keyport/models"
	"keyport/views"
)

// auditPageSize is how many events one audit page shows.
const auditPageSize = 50

// systemActors are the actors that are not people, offered in the filter.
var systemActors = []views.Option{
	{Value: "system", Label: "keyport (background checks)"},
	{Value: dataAPIActor, Label: "keyport data API"},
	{Value: "anonymous", Label: "anonymous (failed sign-ins)"},
}

// AuditLog shows the tenant's audit events, filtered and paginated.
func (h *Handler) AuditLog(c echo.Context) error {
	return h.renderAudit(c, false, nil)
}

// OperatorAudit shows every tenant's audit events (operators only).
func (h *Handler) OperatorAudit(c echo.Context) error {
	return h.renderAudit(c, true, nil)
}

// VerifyAuditChain verifies the whole chain now and shows the result with
// the first broken row, if any. The check itself is recorded.
func (h *Handler) VerifyAuditChain(c echo.Context) error {
	return h.verifyChain(c, false)
}

// OperatorVerifyAudit is VerifyAuditChain on the operator's page.
func (h *Handler) OperatorVerifyAudit(c echo.Context) error {
	return h.verifyChain(c, true)
}

func (h *Handler) verifyChain(c echo.Context, operator bool) error {
	v := viewerFrom(c)
	res, err := h.db.VerifyAudit(c.Request().Context())
	if err != nil {
		return fmt.Errorf("verify audit chain: %w", err)
	}
	cv := views.ChainVerification(compliance.Verification(res))
	tenantID := ""
	if !operator {
		tenantID = v.Tenant.ID
	}
	details := map[string]string{"ok": strconv.FormatBool(cv.OK), "rows_checked": strconv.FormatInt(cv.Checked, 10), "verified_head": cv.Head}
	if !cv.OK {
		details["first_broken_seq"] = strconv.FormatInt(cv.FirstBrokenSeq, 10)
	}
	if err := h.audit(c, models.AuditInput{TenantID: tenantID, Actor: v.User.ID, Action: "audit.chain_verified", Details: details}); err != nil {
		return err
	}
	return h.renderAudit(c, operator, &cv)
}

// renderAudit renders the audit page for the filters in the query string.
func (h *Handler) renderAudit(c echo.Context, operator bool, cv *views.ChainVerification) error {
	v := viewerFrom(c)
	ctx := c.Request().Context()
	q := c.Request().URL.Query()
	form := views.AuditFilterForm{From: q.Get("from"), To: q.Get("to"), Actor: q.Get("actor"), Action: q.Get("action"), KeyID: q.Get("key")}
	from, to, errs := parsePeriod(form.From, form.To)
	form.Errors = errs
	f := models.AuditFilter{From: from, To: to, Actor: form.Actor, Action: form.Action, KeyID: form.KeyID, Limit: auditPageSize}
	f.Before, _ = strconv.ParseInt(q.Get("before"), 10, 64)
	f.After, _ = strconv.ParseInt(q.Get("after"), 10, 64)

	m := views.AuditLog{Operator: operator, Verification: cv, VerifyAction: "/audit/verify"}
	base := "/audit"
	var scope models.AuditScope
	actorNames := map[string]string{}
	keyNames := map[string]string{}
	tenantNames := map[string]string{"": "provider"}
	if operator {
		base, m.VerifyAction = "/operator/audit", "/operator/audit/verify"
		form.TenantID = q.Get("tenant")
		scope = models.AllTenants(form.TenantID)
		tenants, err := h.db.ListTenants(ctx)
		if err != nil {
			return err
		}
		for _, t := range tenants {
			tenantNames[t.ID] = t.Name
			m.Tenants = append(m.Tenants, views.Option{Value: t.ID, Label: t.Name})
		}
	} else {
		scope = models.TenantScope(v.Tenant.ID)
		members, err := h.db.ListMembers(ctx, v.Tenant.ID)
		if err != nil {
			return err
		}
		for _, mb := range members {
			label := personLabel(mb.Name, mb.Email)
			if mb.Email != "" && mb.Email != label {
				label += " <" + mb.Email + ">"
			}
			actorNames[mb.UserID] = label
			m.Actors = append(m.Actors, views.Option{Value: mb.UserID, Label: label})
		}
		m.Actors = append(m.Actors, systemActors...)
		keys, err := h.db.ListKeys(ctx, v.Tenant.ID)
		if err != nil {
			return err
		}
		for _, k := range keys {
			keyNames[k.ID] = k.Name
			m.Keys = append(m.Keys, views.Option{Value: k.ID, Label: k.Name})
		}
	}
	m.Filter = form
	actions, err := h.db.AuditActions(ctx, scope)
	if err != nil {
		return err
	}
	for _, a := range actions {
		m.Actions = append(m.Actions, views.Option{Value: a, Label: a})
	}

	status := http.StatusOK
	var page models.AuditPage
	if errs != nil {
		status = http.StatusUnprocessableEntity
	} else if page, err = h.db.QueryAudit(ctx, scope, f); err != nil {
		return err
	}
	for _, e := range page.Events {
		m.Rows = append(m.Rows, auditRow(e, operator, actorNames, keyNames, tenantNames))
	}
	link := func(cursor string, seq int64) string {
		params := url.Values{}
		for k, val := range map[string]string{"from": form.From, "to": form.To, "actor": form.Actor, "action": form.Action, "key": form.KeyID, "tenant": form.TenantID} {
			if val != "" {
				params.Set(k, val)
			}
		}
		if cursor != "" {
			params.Set(cursor, strconv.FormatInt(seq, 10))
		}
		if len(params) == 0 {
			return base
		}
		return base + "?" + params.Encode()
	}
	m.Base, m.Newest = base, link("", 0)
	if page.Older != 0 {
		m.Older = link("before", page.Older)
	}
	if page.Newer != 0 {
		m.Newer = link("after", page.Newer)
	}
	nav := "audit"
	if operator {
		nav = "operator"
	}
	return render(c, status, views.AuditPage(h.page(c, "Audit log", nav), m))
}

// auditRow shows one event with links to its key or member. The operator
// view links nowhere inside tenants: operators hold no tenant role.
func auditRow(e models.AuditEvent, operator bool, actors, keys, tenants map[string]string) views.AuditRow {
	r := views.AuditRow{Seq: e.Seq, At: e.CreatedAt, Actor: e.Actor, Action: e.Action, Details: views.DetailsText(compliance.Details(e.Details)), RequestID: e.RequestID}
	if e.TargetType != "" {
		r.Target = e.TargetType + " " + e.TargetID
	}
	if operator {
		r.TenantName = tenants[e.TenantID]
		if r.TenantName == "" {
			r.TenantName = e.TenantID
		}
		return r
	}
	if name, ok := actors[e.Actor]; ok {
		r.Actor, r.ActorHref = name, "/members"
	}
	switch e.TargetType {
	case "key":
		r.Target, r.TargetHref = "key "+e.TargetID, "/keys/"+url.PathEscape(e.TargetID)
		if name, ok := keys[e.TargetID]; ok {
			r.Target = "key " + name
		}
	case "user":
		r.TargetHref = "/members"
		if name, ok := actors[e.TargetID]; ok {
			r.Target = "member " + name
		}
	case "invitation":
		r.TargetHref = "/members"
	}
	return r
}
