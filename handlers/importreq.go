package handlers

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"keyport/keysvc"
	"keyport/keysvc/managed"
	"keyport/models"
	"keyport/views"
)

// ImportRequests lists the tenant's import requests (mode 3).
func (h *Handler) ImportRequests(c echo.Context) error {
	// ?reimport=KEY_ID (the key page's link) preselects the key to
	// re-import; the list offers only the tenant's own keys anyway.
	return h.renderImportRequests(c, http.StatusOK, views.ImportRequestsPage{ReimportKeyID: c.QueryParam("reimport")})
}

func (h *Handler) renderImportRequests(c echo.Context, status int, m views.ImportRequestsPage) error {
	v := viewerFrom(c)
	ctx := c.Request().Context()
	sts, err := h.db.ListKeyStores(ctx, v.Tenant.ID)
	if err != nil {
		return err
	}
	for _, st := range sts {
		m.Stores = append(m.Stores, views.Option{Value: st.ID, Label: st.Name + " (" + st.Region + ")"})
	}
	rs, err := h.db.ListImportRequests(ctx, v.Tenant.ID)
	if err != nil {
		return err
	}
	for _, r := range rs {
		m.Requests = append(m.Requests, views.ImportRequestRow{ID: r.ID, KeyName: r.KeyName, State: r.State, KeyID: r.KeyID, ExpiresAt: r.ExpiresAt,
			Wrapping: r.Wrapping, Reimport: r.ReimportKeyID != ""})
	}
	m.CanManage = v.can(ActManageKeys) && len(sts) > 0
	for _, w := range managed.ImportWrappings {
		m.Wrappings = append(m.Wrappings, views.Option{Value: w, Label: w})
	}
	if m.Wrapping == "" {
		m.Wrapping = managed.WrapOAEPSHA256
	}
	if m.CanManage {
		if m.ReimportKeys, err = h.reimportKeys(ctx, v.Tenant.ID); err != nil {
			return err
		}
	}
	if m.Held, err = h.importsHeld(ctx); err != nil {
		return err
	}
	return render(c, status, views.ImportRequestsList(h.page(c, "Import your own key", "stores"), m))
}

// importsHeld reports whether the provider keeps imported keys in keyport
// rather than importing them into the tenant's KMS.
func (h *Handler) importsHeld(ctx context.Context) (bool, error) {
	ps, err := h.keys.ProviderSettings(ctx)
	return ps.ImportedKeyUse == keysvc.ImportedHeld, err
}

// CreateImportRequest makes an import request and shows its token once.
func (h *Handler) CreateImportRequest(c echo.Context) error {
	v := viewerFrom(c)
	in := managed.ImportRequestInput{StoreID: c.FormValue("store_id"), KeyName: c.FormValue("key_name"), Wrapping: c.FormValue("wrapping"),
		ReimportKeyID: c.FormValue("reimport_key_id")}
	nr, err := h.mgd.CreateImportRequestWith(c.Request().Context(), v.Tenant.ID, h.by(c), in)
	if errs := fieldErrors(err); errs != nil {
		return h.renderImportRequests(c, http.StatusUnprocessableEntity, views.ImportRequestsPage{StoreID: in.StoreID, KeyName: in.KeyName,
			Wrapping: in.Wrapping, ReimportKeyID: in.ReimportKeyID, Errors: errs})
	}
	if err != nil {
		return err
	}
	cmds := managed.ImportCommandsFor(nr.Request.Wrapping)
	shown := &views.NewImportShown{ID: nr.Request.ID, PublicKeyPEM: nr.Request.PublicKeyPEM, Token: nr.Token, Commands: cmds.OpenSSL,
		NodeCommands: cmds.Node, Wrapping: cmds.Wrapping, ExpiresAt: nr.Request.ExpiresAt}
	if nr.Request.ReimportKeyID != "" {
		shown.ReimportKeyName = nr.Request.KeyName
	}
	return h.renderImportRequests(c, http.StatusOK, views.ImportRequestsPage{New: shown})
}

// reimportKeys are the tenant's keys whose material keyport imported into
// KMS: the ones a backup copy can be re-imported into.
func (h *Handler) reimportKeys(ctx context.Context, tenantID string) ([]views.Option, error) {
	ks, err := h.db.ListKeys(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	var out []views.Option
	for _, k := range ks {
		if k.Mode == models.ModeCMK || (k.State != models.StateEnabled && k.State != models.StateDisabled) {
			continue
		}
		if mk, err := h.db.GetManagedKey(ctx, tenantID, k.ID); err != nil || mk.Held {
			continue
		}
		out = append(out, views.Option{Value: k.ID, Label: k.Name})
	}
	return out, nil
}

// ImportRequest shows the upload form of one import request.
func (h *Handler) ImportRequest(c echo.Context) error {
	return h.renderImportUpload(c, http.StatusOK, views.ImportUploadPage{ValidDays: "0"})
}

func (h *Handler) renderImportUpload(c echo.Context, status int, d views.ImportUploadPage) error {
	v := viewerFrom(c)
	r, err := h.db.GetImportRequest(c.Request().Context(), v.Tenant.ID, c.Param("request_id"))
	if err != nil {
		return err
	}
	cmds := managed.ImportCommandsFor(r.Wrapping)
	d.ID, d.KeyName, d.State, d.PublicKeyPEM, d.Commands, d.ExpiresAt = r.ID, r.KeyName, r.State, r.PublicKeyPEM, cmds.OpenSSL, r.ExpiresAt
	d.Wrapping, d.NodeCommands, d.ReimportKeyID = cmds.Wrapping, cmds.Node, r.ReimportKeyID
	if r.ReimportKeyID != "" {
		mats, err := h.db.KeyMaterials(c.Request().Context(), v.Tenant.ID, r.ReimportKeyID)
		if err != nil {
			return err
		}
		var fps []string
		for _, m := range mats {
			if m.State == models.MaterialActive || m.State == models.MaterialPrevious {
				fps = append(fps, m.Fingerprint)
			}
		}
		d.ReimportFingerprints = strings.Join(fps, " or ")
	}
	if d.Held, err = h.importsHeld(c.Request().Context()); err != nil {
		return err
	}
	return render(c, status, views.ImportUploadForm(h.page(c, "Upload "+r.KeyName, "stores"), d))
}

// UploadImport takes the wrapped key of an import request; a refusal says
// exactly why and leaves nothing behind. The token and the wrapped key are
// never shown again.
func (h *Handler) UploadImport(c echo.Context) error {
	v := viewerFrom(c)
	days, _ := strconv.Atoi(strings.TrimSpace(c.FormValue("valid_days")))
	res, err := h.mgd.CompleteImport(c.Request().Context(), v.Tenant.ID, h.by(c), c.Param("request_id"), managed.ImportUpload{
		Token: c.FormValue("import_token"), WrappedB64: c.FormValue("wrapped_key"), Alias: c.FormValue("alias"), ValidDays: days})
	if errs := fieldErrors(err); errs != nil {
		return h.renderImportUpload(c, http.StatusUnprocessableEntity, views.ImportUploadPage{Alias: c.FormValue("alias"), ValidDays: c.FormValue("valid_days"), Errors: errs})
	}
	if err != nil {
		return fmt.Errorf("complete import: %w", err)
	}
	return opRedirect(c, res)
}
