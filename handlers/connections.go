package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"keyport/keysvc"
	"keyport/keysvc/awskms"
	"keyport/models"
	"keyport/views"
)

// connectionFlashes are the fixed texts a "done" query parameter may
// select: the URL never carries text that is shown as is.
var connectionFlashes = map[string]string{
	"created": "Connection saved. Test it to see that keyport can reach your account.",
	"deleted": "Connection deleted.",
	"renamed": "Connection renamed.",
	"updated": "The new credentials passed every check and replaced the old ones.",
}

// connectionForm is the "add AWS connection" form.
type connectionForm struct {
	Name          string `form:"name"`
	AccountID     string `form:"account_id"`
	DefaultRegion string `form:"default_region"`
	Kind          string `form:"kind"`
	AccessKeyID   string `form:"access_key_id"`
	Secret        string `form:"secret_access_key"`
	RoleARN       string `form:"role_arn"`
}

// Connections lists the tenant's AWS connections.
func (h *Handler) Connections(c echo.Context) error {
	v := viewerFrom(c)
	cs, err := h.db.ListConnections(c.Request().Context(), v.Tenant.ID)
	if err != nil {
		return err
	}
	counts, used, err := h.db.ConnectionKeys(c.Request().Context(), v.Tenant.ID, views.ConnectionKeysShown)
	if err != nil {
		return err
	}
	m := views.Connections{CanManage: v.can(ActManageConnections)}
	for _, mc := range cs {
		r := views.ConnectionRow{ID: mc.ID, Name: mc.Name, AccountID: mc.AccountID, Region: mc.DefaultRegion,
			Credential: credentialLabel(&mc), Tested: mc.LastTestAt != nil, TestOK: mc.LastTestOK, Summary: mc.LastTestSummary}
		if mc.LastTestAt != nil {
			r.TestAt = *mc.LastTestAt
		}
		r.Keys = connectionKeyLinks(counts[mc.ID], used[mc.ID])
		m.Rows = append(m.Rows, r)
	}
	p := h.page(c, "AWS connections", "connections")
	p.Flash = connectionFlashes[c.QueryParam("done")]
	return render(c, http.StatusOK, views.ConnectionsPage(p, m))
}

// connectionLabel names a connection in lists and links.
func connectionLabel(mc *models.Connection) string {
	return mc.Name + " (" + mc.AccountID + ")"
}

func credentialLabel(mc *models.Connection) string {
	if mc.Kind == awskms.KindAssumeRole {
		return "role " + mc.RoleARN
	}
	return "access key …" + keysvc.Last4(mc.AccessKeyID)
}

// NewConnection shows the form to add a connection.
func (h *Handler) NewConnection(c echo.Context) error {
	f := views.ConnectionForm{Kind: awskms.KindAssumeRole, DefaultRegion: "us-east-1"}
	if d := h.cfg.DemoAWS; d != nil {
		f.DefaultRegion = d.Region
	}
	return h.renderConnectionForm(c, http.StatusOK, f)
}

func (h *Handler) renderConnectionForm(c echo.Context, status int, f views.ConnectionForm) error {
	var err error
	if f.Regions, err = h.allowedRegions(c.Request().Context()); err != nil {
		return err
	}
	return render(c, status, views.NewConnectionPage(h.page(c, "Add an AWS connection", "connections"), f))
}

// allowedRegions lists the AWS regions the provider allows, for every
// region select (connections and key stores).
func (h *Handler) allowedRegions(ctx context.Context) ([]string, error) {
	ps, err := h.keys.ProviderSettings(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range awskms.Regions {
		if ps.RegionAllowed(r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// CreateConnection saves a new connection; bad input re-renders the form
// (never with the secret filled back in).
func (h *Handler) CreateConnection(c echo.Context) error {
	v := viewerFrom(c)
	var f connectionForm
	if err := c.Bind(&f); err != nil {
		return badForm(err)
	}
	in := keysvc.ConnectionInput{Name: f.Name, AccountID: f.AccountID, DefaultRegion: f.DefaultRegion, Kind: f.Kind,
		AccessKeyID: f.AccessKeyID, Secret: f.Secret, RoleARN: f.RoleARN}
	mc, err := h.keys.CreateConnection(c.Request().Context(), v.Tenant.ID, h.by(c), in)
	if errs := fieldErrors(err); errs != nil {
		form := views.ConnectionForm{Name: f.Name, AccountID: f.AccountID, DefaultRegion: f.DefaultRegion, Kind: f.Kind,
			AccessKeyID: f.AccessKeyID, RoleARN: f.RoleARN, Errors: errs}
		return h.renderConnectionForm(c, http.StatusUnprocessableEntity, form)
	}
	if err != nil {
		return fmt.Errorf("create connection: %w", err)
	}
	return c.Redirect(http.StatusSeeOther, "/connections/"+mc.ID+"?done=created")
}

// Connection shows one connection.
func (h *Handler) Connection(c echo.Context) error {
	d, err := h.connectionDetail(c)
	if err != nil {
		return err
	}
	p := h.page(c, d.Name, "connections")
	p.Flash = connectionFlashes[c.QueryParam("done")]
	return render(c, http.StatusOK, views.ConnectionPage(p, *d))
}

// connectionDetail loads the connection named in the path, in the viewer's
// tenant only.
func (h *Handler) connectionDetail(c echo.Context) (*views.ConnectionDetail, error) {
	v := viewerFrom(c)
	ctx := c.Request().Context()
	mc, err := h.db.GetConnection(ctx, v.Tenant.ID, c.Param("conn_id"))
	if err != nil {
		return nil, err
	}
	n, err := h.db.CountConnectionKeys(ctx, v.Tenant.ID, mc.ID)
	if err != nil {
		return nil, err
	}
	d := &views.ConnectionDetail{ID: mc.ID, Name: mc.Name, AccountID: mc.AccountID, Region: mc.DefaultRegion, Kind: mc.Kind,
		AccessKey: "…" + keysvc.Last4(mc.AccessKeyID), RoleARN: mc.RoleARN, ExternalID: mc.ExternalID, CreatedAt: mc.CreatedAt,
		Tested: mc.LastTestAt != nil, TestOK: mc.LastTestOK, Summary: mc.LastTestSummary, KeyCount: int(n),
		CanManage: v.can(ActManageConnections)}
	if mc.LastTestAt != nil {
		d.TestAt = *mc.LastTestAt
	}
	if mc.Kind == awskms.KindAssumeRole {
		ps, err := h.keys.ProviderSettings(ctx)
		if err != nil {
			return nil, err
		}
		d.TrustPolicy = keysvc.TrustPolicy(ps, mc.ExternalID)
	}
	return d, nil
}

// TestConnection tests a connection and shows every check on its page.
func (h *Handler) TestConnection(c echo.Context) error {
	v := viewerFrom(c)
	res, err := h.keys.TestConnection(c.Request().Context(), v.Tenant.ID, h.by(c), c.Param("conn_id"))
	var cool *keysvc.ConnectionTestCooldownError
	if errors.As(err, &cool) {
		c.Response().Header().Set("Retry-After", strconv.Itoa(cool.WaitSeconds()))
		return &PublicError{Status: http.StatusTooManyRequests, Heading: "Wait before testing again",
			Message: fmt.Sprintf("This tenant tested its connections %d times in a short while; each test signs in to AWS. Try again in %d seconds.",
				keysvc.ConnectionTestBurst, cool.WaitSeconds()),
			Action: &views.Link{Label: "Back to the connection", Href: "/connections/" + c.Param("conn_id")}, Err: err}
	}
	if err != nil {
		return fmt.Errorf("test connection: %w", err)
	}
	d, err := h.connectionDetail(c)
	if err != nil {
		return err
	}
	d.Checks = checkRows(res.Checks)
	p := h.page(c, d.Name, "connections")
	if res.OK {
		p.Flash = "Every check passed: keyport can reach KMS with this connection."
	}
	return render(c, http.StatusOK, views.ConnectionPage(p, *d))
}

// ConfirmDeleteConnection asks before deleting.
func (h *Handler) ConfirmDeleteConnection(c echo.Context) error {
	d, err := h.connectionDetail(c)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.DeleteConnectionPage(h.page(c, "Delete "+d.Name, "connections"), *d))
}

// DeleteConnection deletes a connection no key uses.
func (h *Handler) DeleteConnection(c echo.Context) error {
	v := viewerFrom(c)
	err := h.keys.DeleteConnection(c.Request().Context(), v.Tenant.ID, h.by(c), c.Param("conn_id"))
	var ve *models.ValidationError
	if errors.As(err, &ve) {
		return &PublicError{Status: http.StatusConflict, Heading: "Connection in use", Message: "This connection " + ve.Message + ".",
			Action: &views.Link{Label: "Back to the connection", Href: "/connections/" + c.Param("conn_id")}, Err: err}
	}
	if err != nil {
		return fmt.Errorf("delete connection: %w", err)
	}
	return c.Redirect(http.StatusSeeOther, "/connections?done=deleted")
}

// by names the viewer and request for audit events.
func (h *Handler) by(c echo.Context) keysvc.RequestBy {
	v := viewerFrom(c)
	return keysvc.RequestBy{UserID: v.User.ID, Kind: models.ActorUser, RequestID: RequestID(c), MFA: v.Session != nil && v.Session.MFA}
}

// fieldErrors turns a validation error of keysvc or models into messages
// by field, or nil for any other error.
func fieldErrors(err error) map[string]string {
	var kv *keysvc.ValidationError
	var mv *models.ValidationError
	var all models.ValidationErrors
	switch {
	case errors.As(err, &all):
		out := make(map[string]string, len(all))
		for _, e := range all {
			if _, seen := out[e.Field]; !seen {
				out[e.Field] = e.Message
			}
		}
		return out
	case errors.As(err, &kv):
		return map[string]string{kv.Field: kv.Message}
	case errors.As(err, &mv):
		return map[string]string{mv.Field: mv.Message}
	}
	return nil
}

func checkRows(cs []keysvc.Check) []views.CheckRow {
	out := make([]views.CheckRow, 0, len(cs))
	for _, c := range cs {
		out = append(out, views.CheckRow{Name: c.Name, Detail: c.Detail, OK: c.OK, Required: c.Required, Skipped: c.Skipped, Unverifiable: c.Unverifiable})
	}
	return out
}
