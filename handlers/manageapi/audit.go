package manageapi

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"keyport/handlers"
	"keyport/keysvc/compliance"
	"keyport/models"
)

// AuditEvent is one event of the tenant's audit log. seq numbers the
// tenant's own chain (no gaps, nothing of other tenants).
type AuditEvent struct {
	Seq        int64             `json:"seq"`
	Time       time.Time         `json:"time"`
	Actor      string            `json:"actor" doc:"a user id, an API key id, a service token id, or system"`
	ActorKind  string            `json:"actor_kind" doc:"user, api_key, service_token or system"`
	Action     string            `json:"action"`
	TargetType string            `json:"target_type"`
	TargetID   string            `json:"target_id"`
	Details    map[string]string `json:"details"`
}

// AuditVerification is the answer of GET /audit/verify.
type AuditVerification struct {
	OK             bool   `json:"ok"`
	EventsChecked  int64  `json:"events_checked"`
	FirstBrokenSeq int64  `json:"first_broken_seq,omitempty" doc:"the tenant seq of the first event that does not verify"`
	Reason         string `json:"reason,omitempty"`
}

var auditQuery = append([]Param{
	{Name: "from", Description: "Events from this day on (YYYY-MM-DD, UTC)."},
	{Name: "to", Description: "Events up to and including this day (YYYY-MM-DD, UTC)."},
	{Name: "actor", Description: "Only this actor's events (a user id, an API key id, system...)."},
	{Name: "action", Description: "Only this action, e.g. key.rotated."},
	{Name: "key", Description: "Only events about this key id."},
	{Name: "target_type", Description: "Only events about targets of this type (key, user, invitation, connection...)."},
	{Name: "target_id", Description: "Only events about this target id."},
}, pageParams...)

func (a *API) auditOps() []Operation {
	return []Operation{
		{Method: http.MethodGet, Path: "/audit", ID: "listAuditEvents", Tag: "audit", Act: handlers.ActViewAudit,
			Summary: "The tenant's audit events, newest first, with the audit page's filters; next_cursor pages to older events.",
			Query:   auditQuery, Response: List[AuditEvent]{}, Handler: a.listAudit},
		{Method: http.MethodGet, Path: "/audit/verify", ID: "verifyAudit", Tag: "audit", Act: handlers.ActViewAudit,
			Summary:  "Verify this tenant's audit hash chain now (its events only; once per 30 seconds per tenant, 429 before). The result is recorded like the portal's.",
			Response: AuditVerification{}, Handler: a.verifyAudit},
	}
}

func (a *API) listAudit(c echo.Context) error {
	n, err := limit(c)
	if err != nil {
		return err
	}
	q := c.Request().URL.Query()
	from, to, errs := handlers.ReportPeriod(a.now(), "audit", q.Get("from"), q.Get("to"))
	for field, msg := range errs {
		return badRequest(field, msg)
	}
	f := models.AuditFilter{From: from, To: to, Actor: q.Get("actor"), Action: q.Get("action"), KeyID: q.Get("key"),
		TargetType: q.Get("target_type"), TargetID: q.Get("target_id"), Limit: n}
	if cur := q.Get("cursor"); cur != "" {
		b, err := base64.RawURLEncoding.DecodeString(cur)
		seq, perr := strconv.ParseInt(string(b), 10, 64)
		if err != nil || perr != nil || seq <= 0 {
			return badRequest("cursor", "is not a cursor this API gave out")
		}
		f.Before = seq
	}
	p, err := a.db.QueryAudit(c.Request().Context(), models.TenantScope(tenant(c)), f)
	if err != nil {
		return err
	}
	out := List[AuditEvent]{Items: make([]AuditEvent, 0, len(p.Events))}
	for _, e := range p.Events {
		out.Items = append(out.Items, AuditEvent{Seq: e.TenantSeq, Time: e.CreatedAt.UTC(), Actor: e.Actor, ActorKind: e.ActorKind,
			Action: e.Action, TargetType: e.TargetType, TargetID: e.TargetID, Details: compliance.Details(e.Details)})
	}
	if p.Older != 0 {
		out.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(p.Older, 10)))
	}
	return c.JSON(http.StatusOK, out)
}

// verifyEvery is how often one tenant may verify its chain through the
// API: a verification reads the whole chain.
const verifyEvery = 30 * time.Second

// verifyGate admits one verification per tenant per verifyEvery.
type verifyGate struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func (g *verifyGate) admit(tenantID string, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if last, ok := g.last[tenantID]; ok && now.Sub(last) < verifyEvery && !now.Before(last) {
		return false
	}
	if g.last == nil {
		g.last = map[string]time.Time{}
	}
	g.last[tenantID] = now
	return true
}

func (a *API) verifyAudit(c echo.Context) error {
	ctx := c.Request().Context()
	if !a.verifies.admit(tenant(c), a.now()) {
		return &handlers.APIError{Status: http.StatusTooManyRequests, Code: "rate_limited",
			Message: "This tenant's chain was verified less than 30 seconds ago; retry after the time in Retry-After.", RetryAfter: "30"}
	}
	res, err := a.db.VerifyTenantAudit(ctx, tenant(c))
	if err != nil {
		return err
	}
	details := map[string]string{"ok": strconv.FormatBool(res.OK), "rows_checked": strconv.FormatInt(res.Checked, 10)}
	if !res.OK {
		details["first_broken_seq"] = strconv.FormatInt(res.FirstBrokenSeq, 10)
	}
	audit := by(c).Audit("audit.chain_verified", details)
	audit.TenantID = tenant(c)
	if err := a.db.RecordAuditVerification(ctx, tenant(c), false, res, key(c).ID, audit); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, AuditVerification{OK: res.OK, EventsChecked: res.Checked, FirstBrokenSeq: res.FirstBrokenSeq, Reason: res.Reason})
}
