package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"time"

	"github.com/labstack/echo/v4"

	"keyport/keysvc"
	"keyport/keysvc/awskms"
	"keyport/models"
	"keyport/views"
)

// keyFlashes are the fixed texts a "done" query parameter may select.
var keyFlashes = map[string]string{
	"registered":  "Key registered: every check passed and data-key version 1 is wrapped in every region.",
	"checked":     "Checked just now.",
	"purged":      "Cached data keys purged on every replica: the next use asks KMS again.",
	"min_version": "Minimum decryption version saved: every replica refuses older versions within seconds.",
}

// registerForm is the "register a customer-managed key" form.
type registerForm struct {
	ConnectionID     string `form:"connection_id"`
	Name             string `form:"name"`
	KeyARN           string `form:"key_arn"`
	ExtraARNs        string `form:"extra_arns"`
	KeyID            string `form:"key_id"`
	EncryptedDataKey string `form:"encrypted_data_key"`
}

// NewKey shows the guided registration page.
func (h *Handler) NewKey(c echo.Context) error {
	f := registerForm{ConnectionID: c.QueryParam("connection_id")}
	if d := h.cfg.DemoAWS; d != nil {
		f.Name = "demo key"
	}
	return h.renderRegisterForm(c, http.StatusOK, f, nil, nil)
}

// renderRegisterForm fills in the policy snippet, CLI commands and the
// encryption context for the chosen connection and the reserved key id.
func (h *Handler) renderRegisterForm(c echo.Context, status int, in registerForm, errs map[string]string, checks []keysvc.Check) error {
	v := viewerFrom(c)
	ctx := c.Request().Context()
	cs, err := h.db.ListConnections(ctx, v.Tenant.ID)
	if err != nil {
		return err
	}
	if len(cs) == 0 {
		return &PublicError{Status: http.StatusConflict, Heading: "No AWS connection yet",
			Message: "Connect an AWS account first; keys are registered through a connection.", Action: &views.Link{Label: "Add a connection", Href: "/connections/new"}}
	}
	ps, err := h.keys.ProviderSettings(ctx)
	if err != nil {
		return err
	}
	f := views.RegisterForm{ConnectionID: in.ConnectionID, Name: in.Name, KeyARN: in.KeyARN, ExtraARNs: in.ExtraARNs,
		EncryptedDataKey: in.EncryptedDataKey, KeyID: in.KeyID, Errors: errs, Checks: checkRows(checks),
		ReplicaRegions: ps.ReplicaRegions, DRRegions: ps.DRRegions, OneKeyPerTenant: ps.OneKeyPerTenant}
	if f.KeyID == "" {
		f.KeyID = keysvc.NewKeyID()
	}
	chosen := &cs[0]
	for i := range cs {
		f.Connections = append(f.Connections, views.Option{Value: cs[i].ID, Label: connectionLabel(&cs[i])})
		if cs[i].ID == in.ConnectionID {
			chosen = &cs[i]
		}
	}
	f.ConnectionID = chosen.ID
	conn := awskms.ConnectionFromModel(chosen)
	principals := keysvc.Principals(conn)
	f.PolicyStatement = keysvc.PolicyStatement(principals, v.Tenant.ID)
	f.KeyPolicy = keysvc.KeyPolicy(conn.AccountID, principals, v.Tenant.ID)
	f.CLI = keysvc.CLICommands(conn.DefaultRegion, ps.ReplicaRegions, "keyport")
	f.DataKeyCommand = keysvc.DataKeyCommand(in.KeyARN, keysvc.KMSContext(v.Tenant.ID, f.KeyID))
	if f.KeyARN == "" && h.cfg.DemoAWS != nil {
		f.KeyARN = h.cfg.DemoAWS.KeyARN
	}
	return render(c, status, views.RegisterKeyPage(h.page(c, "Register a key", "keys"), f))
}

// RegisterKey validates and registers a key. Bad input or failed checks
// re-render the form (422) with the reasons; nothing is stored then.
func (h *Handler) RegisterKey(c echo.Context) error {
	v := viewerFrom(c)
	var f registerForm
	if err := c.Bind(&f); err != nil {
		return badForm(err)
	}
	reg, err := h.keys.RegisterKey(c.Request().Context(), v.Tenant.ID, h.by(c), keysvc.RegisterInput{
		ConnectionID: f.ConnectionID, Name: f.Name, KeyARN: f.KeyARN, ExtraARNs: f.ExtraARNs, KeyID: f.KeyID, EncryptedDataKey: f.EncryptedDataKey})
	var re *keysvc.RegisterError
	switch errs := fieldErrors(err); {
	case errs != nil:
		return h.renderRegisterForm(c, http.StatusUnprocessableEntity, f, errs, nil)
	case errors.As(err, &re):
		return h.renderRegisterForm(c, http.StatusUnprocessableEntity, f, nil, re.Checks)
	case err != nil:
		return fmt.Errorf("register key: %w", err)
	}
	return c.Redirect(http.StatusSeeOther, "/keys/"+reg.Key.ID+"?done=registered")
}

// Key shows one key.
func (h *Handler) Key(c echo.Context) error {
	v := viewerFrom(c)
	ctx := c.Request().Context()
	k, err := h.db.GetKey(ctx, v.Tenant.ID, c.Param("key_id"))
	if err != nil {
		return err
	}
	mc, err := h.db.GetConnectionRecord(ctx, v.Tenant.ID, k.ConnectionID) // kept after deletion for deregistered keys
	if err != nil {
		return err
	}
	rs, err := h.db.KeyRegions(ctx, v.Tenant.ID, k.ID)
	if err != nil {
		return err
	}
	d := views.KeyDetail{ID: k.ID, Name: k.Name, State: string(k.State), Health: string(k.Health),
		HealthDetail: k.HealthDetail, ValidatedAt: k.ValidatedAt,
		Connection: views.Link{Label: connectionLabel(mc), Href: "/connections/" + mc.ID},
		Policy:     keysvc.PolicyStatement(keysvc.Principals(awskms.ConnectionFromModel(mc)), v.Tenant.ID), CanManage: v.can(ActManageKeys)}
	for _, r := range rs {
		d.Regions = append(d.Regions, views.KeyRegionRow{Region: r.Region, ARN: r.KMSKeyARN, Primary: r.Priority == 0})
	}
	if err := h.keyVersions(ctx, c, k, rs, &d); err != nil {
		return err
	}
	if d.BYOK, err = h.keyBYOK(ctx, v, k, rs); err != nil {
		return err
	}
	val, err := h.db.LatestKeyValidation(ctx, v.Tenant.ID, k.ID)
	if err != nil && !errors.Is(err, models.ErrNotFound) {
		return err
	}
	d.Checks = checkRows(keysvc.Checks(val))
	if val != nil {
		at := val.CreatedAt
		d.ChecksAt = &at
	}
	d.CanPurge = v.can(ActPurgeCache)
	d.CanDeregister = canDeregister(v, k)
	d.Deregistered = k.Mode == models.ModeCMK && k.State == models.StateDeleted
	d.CacheTTL = h.keys.CacheTTL()
	if ps, err := h.keys.ProviderSettings(ctx); err == nil {
		d.ReplicaFailover = ps.ReplicaFailover
	} else {
		return err
	}
	if sched, err := h.rotationSchedule(ctx, v, k); err == nil {
		d.Rotation = &sched
	} else if !errors.Is(err, errNoScheduler) {
		return err
	}
	u, err := h.db.KeyUsageTotals(ctx, v.Tenant.ID, k.ID)
	if err != nil {
		return err
	}
	d.Usage = views.KeyUsageSummary{Encrypts: u.Encrypts, Decrypts: u.Decrypts, Datakeys: u.Datakeys, KMSCalls: u.KMSCalls, CacheHits: u.CacheHits}
	if d.Charts, err = h.keyCharts(ctx, v.Tenant.ID, k.ID); err != nil {
		return err
	}
	if d.Lifecycle, err = h.keyLifecycle(ctx, v, k); err != nil {
		return err
	}
	var expires *time.Time
	if d.Lifecycle != nil {
		for _, m := range d.Lifecycle.Materials {
			if m.State == models.MaterialActive {
				expires = m.ValidTo
			}
		}
	}
	d.Status = views.StatusOf(string(k.State), string(k.Health), expires, h.now())
	if d.Lifecycle != nil && d.Lifecycle.Held && d.Status.Code == "active" {
		d.Status.Advice = "keyport can use the key; its material is kept by keyport, not in any KMS."
	}
	p := h.page(c, k.Name, "keys")
	p.Flash = keyFlashes[c.QueryParam("done")]
	if d.Lifecycle != nil && d.Lifecycle.Running() {
		p.RefreshSeconds = 3 // the operation's step shows below; the page follows it
	}
	if c.QueryParam("done") == "drift" && d.Lifecycle != nil {
		p.Flash = driftFlash(len(d.Lifecycle.Drift))
	}
	if p.Flash == "" && d.Lifecycle != nil && d.Lifecycle.Held {
		p.Flash = heldFlashes[c.QueryParam("done")]
	}
	if p.Flash == "" && k.Mode == models.ModeCMK {
		p.Flash = customerFlashes[c.QueryParam("done")]
	}
	if p.Flash == "" {
		p.Flash = lifecycleFlashes[c.QueryParam("done")]
	}
	if p.Flash == "" {
		p.Flash = byokFlashes[c.QueryParam("done")]
	}
	return render(c, http.StatusOK, views.KeyPage(p, d))
}

// CheckKey re-validates a key now.
func (h *Handler) CheckKey(c echo.Context) error {
	v := viewerFrom(c)
	k, _, err := h.keys.CheckKey(c.Request().Context(), v.Tenant.ID, h.by(c), c.Param("key_id"))
	if err != nil {
		return fmt.Errorf("check key: %w", err)
	}
	return c.Redirect(http.StatusSeeOther, "/keys/"+k.ID+"?done=checked")
}

// keyStatusCounts turns a tenant's key counts by state, health and
// expiring material (models.KeyStatusCounts) into the dashboard's counts
// by status, deleted keys left out, worst first: the same status as the
// key page and the list. firstExpiry dates the "expiring" advice.
func keyStatusCounts(counts []models.KeyStatusCount, firstExpiry *time.Time, now time.Time) []views.HealthCount {
	var out []views.HealthCount
	for _, c := range counts {
		if c.State == models.StateDeleted {
			continue
		}
		var exp *time.Time
		if c.Expiring {
			exp = firstExpiry
			if exp == nil { // expired between the two reads: still expiring
				exp = &now
			}
		}
		out = addStatusCount(out, views.StatusOf(string(c.State), string(c.Health), exp, now), c.N)
	}
	rank := map[string]int{"bad": 0, "warn": 1, "muted": 2, "ok": 3}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Tone != out[j].Tone {
			return rank[out[i].Tone] < rank[out[j].Tone]
		}
		return out[i].Label < out[j].Label
	})
	return out
}

// addStatusCount adds n keys of status st to counts, one entry per status.
func addStatusCount(counts []views.HealthCount, st views.KeyStatus, n int) []views.HealthCount {
	for i := range counts {
		if counts[i].Health == st.Code {
			counts[i].Count += n
			return counts
		}
	}
	return append(counts, views.HealthCount{Health: st.Code, Label: st.Label, Advice: st.Advice, Count: n, OK: st.OK(), Tone: st.Tone})
}

// driftFlash says what "Compare with KMS" found: a verdict every time.
func driftFlash(differences int) string {
	if differences == 0 {
		return "Compared with KMS just now: KMS matches what keyport recorded (alias, state, origin, expiry and tags)."
	}
	if differences == 1 {
		return "Compared with KMS just now: 1 difference, listed under \"KMS differs from keyport\" with how to reconcile it."
	}
	return fmt.Sprintf("Compared with KMS just now: %d differences, listed under \"KMS differs from keyport\" with how to reconcile each.", differences)
}

// PurgeKeyCache drops every replica's cached data keys of one key: the
// next use needs a fresh KMS call, so a revocation takes effect at once.
func (h *Handler) PurgeKeyCache(c echo.Context) error {
	v := viewerFrom(c)
	err := h.keys.Purge(c.Request().Context(), v.Tenant.ID, c.Param("key_id"), v.User.ID)
	if err != nil {
		return fmt.Errorf("purge key cache: %w", err)
	}
	return c.Redirect(http.StatusSeeOther, "/keys/"+url.PathEscape(c.Param("key_id"))+"?done=purged")
}

// PurgeTenantCache drops the cached data keys of all the tenant's keys.
func (h *Handler) PurgeTenantCache(c echo.Context) error {
	v := viewerFrom(c)
	if err := h.keys.Purge(c.Request().Context(), v.Tenant.ID, "", v.User.ID); err != nil {
		return fmt.Errorf("purge tenant cache: %w", err)
	}
	return c.Redirect(http.StatusSeeOther, "/keys?done=purged")
}
