package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"keyport/keysvc/managed"
	"keyport/models"
	"keyport/views"
)

// storeForm is the new-store form.
type storeForm struct {
	Name         string `form:"name"`
	ConnectionID string `form:"connection_id"`
	Region       string `form:"region"`
}

// createKeyForm is the create-key form of a store.
type createKeyForm struct {
	Name         string `form:"name"`
	Alias        string `form:"alias"`
	ValidDays    string `form:"valid_days"`
	AutoReupload bool   `form:"auto_reupload"`
}

// Stores lists the tenant's key stores.
func (h *Handler) Stores(c echo.Context) error {
	return h.renderStores(c, http.StatusOK, views.StoreForm{})
}

func (h *Handler) renderStores(c echo.Context, status int, f views.StoreForm) error {
	v := viewerFrom(c)
	ctx := c.Request().Context()
	sums, err := h.mgd.Stores(ctx, v.Tenant.ID)
	if err != nil {
		return err
	}
	cs, err := h.db.ListConnections(ctx, v.Tenant.ID)
	if err != nil {
		return err
	}
	names := map[string]string{}
	m := views.StoresPage{Form: f, CanManage: v.can(ActManageKeys)}
	if m.Regions, err = h.allowedRegions(ctx); err != nil {
		return err
	}
	for _, cn := range cs {
		names[cn.ID] = connectionLabel(&cn)
		m.Connections = append(m.Connections, views.Option{Value: cn.ID, Label: names[cn.ID]})
	}
	for _, s := range sums {
		m.Stores = append(m.Stores, views.StoreRow{ID: s.Store.ID, Name: s.Store.Name, Connection: names[s.Store.ConnectionID],
			Region: s.Store.Region, Counts: stateCounts(s.Counts)})
	}
	return render(c, status, views.StoresList(h.page(c, "Key stores", "stores"), m))
}

// stateCounts says "2 ENABLED, 1 DELETED", or "no keys".
func stateCounts(counts map[string]int) string {
	if len(counts) == 0 {
		return "no keys"
	}
	var parts []string
	for st, n := range counts {
		parts = append(parts, strconv.Itoa(n)+" "+st)
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// CreateStore creates a key store.
func (h *Handler) CreateStore(c echo.Context) error {
	var f storeForm
	if err := c.Bind(&f); err != nil {
		return badForm(err)
	}
	st, err := h.mgd.CreateStore(c.Request().Context(), viewerFrom(c).Tenant.ID, h.by(c), managed.StoreInput{Name: f.Name, ConnectionID: f.ConnectionID, Region: f.Region})
	if errs := fieldErrors(err); errs != nil {
		return h.renderStores(c, http.StatusUnprocessableEntity, views.StoreForm{Name: f.Name, ConnectionID: f.ConnectionID, Region: f.Region, Errors: errs})
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/stores/"+st.ID)
}

// Store shows one key store.
func (h *Handler) Store(c echo.Context) error {
	return h.renderStore(c, http.StatusOK, views.CreateKeyForm{ValidDays: "0"}, nil, nil)
}

func (h *Handler) renderStore(c echo.Context, status int, f views.CreateKeyForm, rename map[string]string, blocking []models.StoreKey) error {
	v := viewerFrom(c)
	ctx := c.Request().Context()
	st, err := h.db.GetKeyStore(ctx, v.Tenant.ID, c.Param("store_id"))
	if err != nil {
		return err
	}
	mc, err := h.db.GetConnection(ctx, v.Tenant.ID, st.ConnectionID)
	if err != nil {
		return err
	}
	ks, err := h.db.StoreKeys(ctx, v.Tenant.ID, st.ID)
	if err != nil {
		return err
	}
	d := views.StoreDetail{ID: st.ID, Name: st.Name, Connection: connectionLabel(mc), Region: st.Region,
		CanManage: v.can(ActManageKeys), Create: f, RenameErrors: rename}
	for _, k := range ks {
		d.Keys = append(d.Keys, views.StoreKeyRow{ID: k.KeyID, Name: k.Name, State: k.State})
	}
	for _, k := range blocking {
		d.Blocking = append(d.Blocking, views.StoreKeyRow{ID: k.KeyID, Name: k.Name, State: k.State})
	}
	return render(c, status, views.StorePage(h.page(c, st.Name, "stores"), d))
}

// RenameStore renames a key store.
func (h *Handler) RenameStore(c echo.Context) error {
	v := viewerFrom(c)
	err := h.mgd.RenameStore(c.Request().Context(), v.Tenant.ID, h.by(c), c.Param("store_id"), c.FormValue("name"))
	if errs := fieldErrors(err); errs != nil {
		return h.renderStore(c, http.StatusUnprocessableEntity, views.CreateKeyForm{ValidDays: "0"}, errs, nil)
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/stores/"+c.Param("store_id"))
}

// DeleteStore deletes a key store whose keys are all DELETED; otherwise
// the page names the keys in the way.
func (h *Handler) DeleteStore(c echo.Context) error {
	v := viewerFrom(c)
	err := h.mgd.DeleteStore(c.Request().Context(), v.Tenant.ID, h.by(c), c.Param("store_id"))
	var ne *models.StoreNotEmptyError
	if errors.As(err, &ne) {
		return h.renderStore(c, http.StatusConflict, views.CreateKeyForm{ValidDays: "0"}, nil, ne.Blocking)
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/stores")
}

// CreateManagedKey creates a key with keyport-generated material in a
// store (mode 2).
func (h *Handler) CreateManagedKey(c echo.Context) error {
	v := viewerFrom(c)
	var f createKeyForm
	if err := c.Bind(&f); err != nil {
		return badForm(err)
	}
	if _, err := h.db.GetKeyStore(c.Request().Context(), v.Tenant.ID, c.Param("store_id")); err != nil {
		return err
	}
	form := views.CreateKeyForm{Name: f.Name, Alias: f.Alias, ValidDays: f.ValidDays, AutoReupload: f.AutoReupload}
	days, err := strconv.Atoi(strings.TrimSpace(f.ValidDays))
	if err != nil && strings.TrimSpace(f.ValidDays) != "" {
		form.Errors = map[string]string{"valid_days": "must be a number of days"}
		return h.renderStore(c, http.StatusUnprocessableEntity, form, nil, nil)
	}
	res, err := h.mgd.CreateGeneratedKey(c.Request().Context(), v.Tenant.ID, h.by(c), managed.CreateKeyInput{StoreID: c.Param("store_id"),
		Name: f.Name, Alias: f.Alias, ValidDays: days, AutoReupload: f.AutoReupload})
	if errs := fieldErrors(err); errs != nil {
		form.Errors = errs
		return h.renderStore(c, http.StatusUnprocessableEntity, form, nil, nil)
	}
	if err != nil {
		return fmt.Errorf("create key: %w", err)
	}
	if res.Op.State == models.OpFailed {
		form.Failed = "The key could not be created and everything was rolled back: " + res.Error
		return h.renderStore(c, http.StatusUnprocessableEntity, form, nil, nil)
	}
	return opRedirect(c, res)
}
