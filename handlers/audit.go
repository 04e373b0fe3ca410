package handlers

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

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

// verifyEvery is how often one tenant (or the operators together) may
// verify: a verification reads the whole chain, so it must not become a
// way to load the database.
const verifyEvery = 30 * time.Second

// verifyGate admits one verification per scope per verifyEvery.
type verifyGate struct {
	mu   sync.Mutex
	last map[string]time.Time
}

// admit reports whether scope may verify at now, and records it if so.
func (g *verifyGate) admit(scope string, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if last, ok := g.last[scope]; ok && now.Sub(last) < verifyEvery && !now.Before(last) {
		return false
	}
	if g.last == nil {
		g.last = map[string]time.Time{}
	}
	g.last[scope] = now
	return true
}

// verifyChain verifies on POST only: a tenant's own chain (its rows only,
// numbered by its own sequence), or every chain for the operator.
func (h *Handler) verifyChain(c echo.Context, operator bool) error {
	v := viewerFrom(c)
	ctx := c.Request().Context()
	tenantID, scope := "", "operator"
	if !operator {
		tenantID, scope = v.Tenant.ID, "tenant:"+v.Tenant.ID
	}
	if !h.verifies.admit(scope, h.now()) {
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(verifyEvery/time.Second)))
		return h.renderAuditStatus(c, operator, nil, http.StatusTooManyRequests,
			fmt.Sprintf("The chain was verified less than %d seconds ago; try again in a moment.", int(verifyEvery/time.Second)))
	}
	var res models.AuditVerification
	var err error
	if operator {
		res, err = h.db.VerifyAudit(ctx)
	} else {
		res, err = h.db.VerifyTenantAudit(ctx, tenantID)
	}
	if err != nil {
		return fmt.Errorf("verify audit chain: %w", err)
	}
	cv := views.ChainVerification(compliance.Verification(res))
	details := map[string]string{"ok": strconv.FormatBool(cv.OK), "rows_checked": strconv.FormatInt(cv.Checked, 10), "verified_head": cv.Head}
	if !cv.OK {
		details["first_broken_seq"] = strconv.FormatInt(cv.FirstBrokenSeq, 10)
	}
	// The result is kept with its event: reports print the last one
	// instead of verifying on every download.
	if err := h.db.RecordAuditVerification(ctx, tenantID, operator, res, v.User.ID, models.AuditInput{TenantID: tenantID,
		Actor: v.User.ID, Action: "audit.chain_verified", Details: details, RequestID: RequestID(c)}); err != nil {
		return fmt.Errorf("write audit event audit.chain_verified: %w", err)
	}
	return h.renderAudit(c, operator, &cv)
}

// renderAudit renders the audit page for the filters in the query string.
func (h *Handler) renderAudit(c echo.Context, operator bool, cv *views.ChainVerification) error {
	return h.renderAuditStatus(c, operator, cv, 0, "")
}

// renderAuditStatus is renderAudit with a status (0: by the filters) and
// a notice about the verification ("" = none).
func (h *Handler) renderAuditStatus(c echo.Context, operator bool, cv *views.ChainVerification, status int, notice string) error {
	v := viewerFrom(c)
	ctx := c.Request().Context()
	q := c.Request().URL.Query()
	form := views.AuditFilterForm{From: q.Get("from"), To: q.Get("to"), Actor: q.Get("actor"), Action: q.Get("action"), KeyID: q.Get("key")}
	from, to, errs := parsePeriod(form.From, form.To)
	form.Errors = errs
	f := models.AuditFilter{From: from, To: to, Actor: form.Actor, Action: form.Action, KeyID: form.KeyID, Limit: auditPageSize}
	f.Before, _ = strconv.ParseInt(q.Get("before"), 10, 64)
	f.After, _ = strconv.ParseInt(q.Get("after"), 10, 64)

	m := views.AuditLog{Operator: operator, Verification: cv, VerifyAction: "/audit/verify", VerifyNotice: notice}
	base := "/audit"
	var scope models.AuditScope
	actorNames := map[string]string{}
	keyNames := map[string]string{}
	tenantNames := map[string]string{"": "provider"}
	if operator {
		base, m.VerifyAction = "/operator/audit", "/operator/audit/verify"
		form.TenantID = q.Get("tenant")
		scope = models.AllTenants(form.TenantID)
		tenants, _, err := h.tenantOwners(ctx)
		if err != nil {
			return err
		}
		for _, t := range tenants {
			tenantNames[t.ID] = t.Name
			m.Tenants = append(m.Tenants, views.Option{Value: t.ID, Label: tenantChoiceLabel(t)})
		}
	} else {
		scope = models.TenantScope(v.Tenant.ID)
		// The filter offers a bounded number of members and keys (the
		// chosen ones always among them); the rows' links and names come
		// from the page's own events below.
		members, err := h.db.MembersPage(ctx, v.Tenant.ID, 0, auditChoices)
		if err != nil {
			return err
		}
		for _, mb := range members {
			m.Actors = append(m.Actors, views.Option{Value: mb.UserID, Label: memberChoiceLabel(mb)})
		}
		m.Actors = append(m.Actors, systemActors...)
		keys, _, err := h.db.KeyNames(ctx, v.Tenant.ID, auditChoices)
		if err != nil {
			return err
		}
		for _, k := range keys {
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

	given := status
	status = http.StatusOK
	var page models.AuditPage
	if errs != nil {
		status = http.StatusUnprocessableEntity
	} else if page, err = h.db.QueryAudit(ctx, scope, f); err != nil {
		return err
	}
	people, err := h.auditActors(ctx, scopeTenant(operator, v), page.Events)
	if err != nil {
		return err
	}
	if !operator {
		if err := h.auditNames(ctx, v.Tenant.ID, form, page.Events, &m, actorNames, keyNames); err != nil {
			return err
		}
	}
	for _, e := range page.Events {
		m.Rows = append(m.Rows, auditRow(e, operator, actorNames, people, keyNames, tenantNames))
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
	if given != 0 {
		status = given
	}
	return render(c, status, views.AuditPage(h.page(c, "Audit log", nav), m))
}

// auditChoices bounds the members and keys the audit filter offers.
const auditChoices = 100

// memberChoiceLabel names a member in the audit filter: name and email.
func memberChoiceLabel(mb models.Member) string {
	label := personLabel(mb.Name, mb.Email)
	if mb.Email != "" && mb.Email != label {
		label += " <" + mb.Email + ">"
	}
	return label
}

// auditNames fills, for a tenant's page of events, which actors and user
// targets are members (actors) and the names of the keys the events name
// (keys), and makes sure the filter offers the member and key it filters
// on: two queries bounded by the page, whatever the tenant's size.
func (h *Handler) auditNames(ctx context.Context, tenantID string, form views.AuditFilterForm, events []models.AuditEvent, m *views.AuditLog,
	actors, keys map[string]string) error {
	var userIDs, keyIDs []string
	if form.Actor != "" {
		userIDs = append(userIDs, form.Actor)
	}
	if form.KeyID != "" {
		keyIDs = append(keyIDs, form.KeyID)
	}
	for _, e := range events {
		userIDs = append(userIDs, e.Actor)
		switch e.TargetType {
		case "user":
			userIDs = append(userIDs, e.TargetID)
		case "key":
			keyIDs = append(keyIDs, e.TargetID)
		}
	}
	members, err := h.db.MembersAmong(ctx, tenantID, compactIDs(userIDs))
	if err != nil {
		return err
	}
	for _, mb := range members {
		actors[mb.UserID] = memberChoiceLabel(mb)
	}
	names, err := h.db.KeyNamesOf(ctx, tenantID, compactIDs(keyIDs))
	if err != nil {
		return err
	}
	maps.Copy(keys, names)
	if label, ok := actors[form.Actor]; ok && !slices.ContainsFunc(m.Actors, func(o views.Option) bool { return o.Value == form.Actor }) {
		m.Actors = append([]views.Option{{Value: form.Actor, Label: label}}, m.Actors...)
	}
	if name, ok := keys[form.KeyID]; ok && !slices.ContainsFunc(m.Keys, func(o views.Option) bool { return o.Value == form.KeyID }) {
		m.Keys = append([]views.Option{{Value: form.KeyID, Label: name}}, m.Keys...)
	}
	return nil
}

// compactIDs is ids without blanks and repeats.
func compactIDs(ids []string) []string {
	out := make([]string, 0, len(ids))
	seen := map[string]bool{}
	for _, id := range ids {
		if id != "" && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// auditRow shows one event with links to its key or member. The operator
// view links nowhere inside tenants: operators hold no tenant role.
func auditRow(e models.AuditEvent, operator bool, actors map[string]string, people map[string]models.AuditActor, keys, tenants map[string]string) views.AuditRow {
	r := views.AuditRow{Seq: e.Seq, At: e.CreatedAt, ActorKind: e.ActorKind, Actor: e.Actor, Action: e.Action,
		Details: views.DetailsText(compliance.Details(e.Details)), RequestID: e.RequestID}
	if !operator { // a tenant sees its own chain's numbers: no gaps, nothing of others
		r.Seq = e.TenantSeq
	}
	if e.TargetType != "" {
		r.Target = e.TargetType + " " + e.TargetID
	}
	// People by name and email, API keys and tokens by name, members or
	// not (a former member's events keep naming them).
	if p, ok := people[e.Actor]; ok {
		r.Actor, r.ActorEmail = actorName(p), p.Email
	}
	if p, ok := people[e.TargetID]; ok && e.TargetType == "user" {
		r.Target = "member " + actorName(p)
	}
	if operator {
		r.TenantName = tenants[e.TenantID]
		if r.TenantName == "" {
			r.TenantName = e.TenantID
		}
		return r
	}
	if _, ok := actors[e.Actor]; ok {
		r.ActorHref = "/members"
	}
	switch e.TargetType {
	case "key":
		r.Target, r.TargetHref = "key "+e.TargetID, "/keys/"+url.PathEscape(e.TargetID)
		if name, ok := keys[e.TargetID]; ok {
			r.Target = "key " + name
		}
	case "user":
		if _, ok := actors[e.TargetID]; ok {
			r.TargetHref = "/members"
		}
	case "invitation":
		r.TargetHref = "/members"
	}
	return r
}

// scopeTenant is the tenant whose API keys and tokens the audit page may
// name: the viewer's, or "" (every one) on the operator's page.
func scopeTenant(operator bool, v *Viewer) string {
	if operator {
		return ""
	}
	return v.Tenant.ID
}

// auditActors names the actors and user targets of a page of events, in
// a fixed number of queries.
func (h *Handler) auditActors(ctx context.Context, tenantID string, events []models.AuditEvent) (map[string]models.AuditActor, error) {
	seen := map[string]bool{}
	var ids []string
	for _, e := range events {
		for _, id := range []string{e.Actor, e.TargetID} {
			if id != "" && !seen[id] && (id == e.Actor || e.TargetType == "user") {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	return h.db.AuditActors(ctx, tenantID, ids)
}

// actorName is a person's name (their email when they have none), or an
// API key's or token's name.
func actorName(a models.AuditActor) string {
	if a.Name != "" {
		return a.Name
	}
	return a.Email
}
