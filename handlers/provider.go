package handlers

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"keyport/keysvc"
	"keyport/views"
)

// providerForm is the operator's settings form.
type providerForm struct {
	AccountID       string `form:"account_id"`
	PrincipalARN    string `form:"principal_arn"`
	AllowedRegions  string `form:"allowed_regions"`
	ReplicaRegions  string `form:"replica_regions"`
	DRRegions       string `form:"dr_regions"`
	OneKeyPerTenant bool   `form:"one_key_per_tenant"`
	ImportedKeyUse  string `form:"imported_key_use"`
	ReplicaFailover string `form:"replica_failover"`
	KMSPricePer10k  string `form:"kms_price_per_10k"`
}

// ProviderSettings shows the provider-wide settings (operators only).
func (h *Handler) ProviderSettings(c echo.Context) error {
	ps, err := h.keys.ProviderSettings(c.Request().Context())
	if err != nil {
		return err
	}
	f := views.ProviderForm{AccountID: ps.AccountID, PrincipalARN: ps.PrincipalARN, AllowedRegions: strings.Join(ps.AllowedRegions, ", "),
		ReplicaRegions: strings.Join(ps.ReplicaRegions, ", "), DRRegions: strconv.Itoa(ps.DRRegions), OneKeyPerTenant: ps.OneKeyPerTenant,
		ImportedKeyUse: ps.ImportedKeyUse, ReplicaFailover: ps.ReplicaFailover, KMSPricePer10k: strconv.FormatFloat(ps.KMSPricePer10k, 'f', -1, 64)}
	p := h.page(c, "Provider settings", "provider")
	if c.QueryParam("done") == "saved" {
		p.Flash = "Settings saved."
	}
	return render(c, http.StatusOK, views.ProviderPage(p, f))
}

// SaveProviderSettings validates and stores the settings, with an audit
// event naming what changed.
func (h *Handler) SaveProviderSettings(c echo.Context) error {
	var f providerForm
	if err := c.Bind(&f); err != nil {
		return badForm(err)
	}
	_, err := h.keys.UpdateProviderSettings(c.Request().Context(), h.by(c), keysvc.ProviderSettingsInput{
		AccountID: f.AccountID, PrincipalARN: f.PrincipalARN, AllowedRegions: f.AllowedRegions,
		ReplicaRegions: f.ReplicaRegions, DRRegions: f.DRRegions, OneKeyPerTenant: f.OneKeyPerTenant, ImportedKeyUse: f.ImportedKeyUse,
		ReplicaFailover: f.ReplicaFailover, KMSPricePer10k: f.KMSPricePer10k})
	if errs := fieldErrors(err); errs != nil {
		form := views.ProviderForm{AccountID: f.AccountID, PrincipalARN: f.PrincipalARN, AllowedRegions: f.AllowedRegions,
			ReplicaRegions: f.ReplicaRegions, DRRegions: f.DRRegions, OneKeyPerTenant: f.OneKeyPerTenant, ImportedKeyUse: f.ImportedKeyUse,
			ReplicaFailover: f.ReplicaFailover, KMSPricePer10k: f.KMSPricePer10k, Errors: errs}
		return render(c, http.StatusUnprocessableEntity, views.ProviderPage(h.page(c, "Provider settings", "provider"), form))
	}
	if err != nil {
		return fmt.Errorf("save provider settings: %w", err)
	}
	return c.Redirect(http.StatusSeeOther, "/provider?done=saved")
}
