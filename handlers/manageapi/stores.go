package manageapi

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"keyport/handlers"
	"keyport/keysvc/managed"
	"keyport/models"
)

// Store is a key store: keys keyport makes or imports live in its
// connection's account and region.
type Store struct {
	ID           string     `json:"id"`
	Name         string     `json:"name"`
	ConnectionID string     `json:"connection_id"`
	Region       string     `json:"region"`
	CreatedAt    time.Time  `json:"created_at"`
	Keys         []StoreKey `json:"keys"`
}

// StoreKey is one key of a store.
type StoreKey struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	State string `json:"state"`
}

// StoreCreate is the body of POST /stores.
type StoreCreate struct {
	Name         string `json:"name"`
	ConnectionID string `json:"connection_id"`
	Region       string `json:"region,omitempty" doc:"a region the provider allows; the connection's default region when omitted"`
}

// StoreKeyCreate is the body of POST /stores/{id}/keys: a key with
// keyport-generated material.
type StoreKeyCreate struct {
	Name         string `json:"name"`
	Alias        string `json:"alias,omitempty" doc:"alias/... in KMS; alias/keyport/<name> when omitted"`
	ValidDays    int    `json:"valid_days,omitempty" doc:"the material expires in KMS this many days after each import (1-365); never when omitted"`
	AutoReupload bool   `json:"auto_reupload,omitempty" doc:"import the same material again before it expires"`
}

func (a *API) storeOps() []Operation {
	return []Operation{
		{Method: http.MethodPost, Path: "/stores", ID: "createStore", Tag: "stores", Act: handlers.ActManageKeys,
			Summary: "Make a key store on one of the tenant's connections, in a region the provider allows.",
			Request: StoreCreate{}, Response: Store{}, Status: http.StatusCreated, Handler: a.createStore},
		{Method: http.MethodGet, Path: "/stores", ID: "listStores", Tag: "stores", Act: handlers.ActViewTenant,
			Summary: "List the tenant's key stores with their keys.", Query: pageParams, Response: List[Store]{}, Handler: a.listStores},
		{Method: http.MethodGet, Path: "/stores/:id", ID: "getStore", Tag: "stores", Act: handlers.ActViewTenant,
			Summary: "One key store with its keys.", Response: Store{}, Handler: a.getStore},
		{Method: http.MethodDelete, Path: "/stores/:id", ID: "deleteStore", Tag: "stores", Act: handlers.ActManageKeys,
			Summary: "Delete a key store whose keys are all DELETED (409 store_not_empty names the others).", Status: http.StatusNoContent, Handler: a.deleteStore},
		{Method: http.MethodPost, Path: "/stores/:id/keys", ID: "createStoreKey", Tag: "stores", Act: handlers.ActManageKeys,
			Summary: "Create a key with keyport-generated material in the store: a new KMS key in the store's account with the material imported, validated, aliased. 201 when done, 202 while it still runs, 422 operation_failed when it failed and everything was rolled back.",
			Request: StoreKeyCreate{}, Response: KeyOperation{}, Status: http.StatusCreated, AlsoStatus: []int{http.StatusAccepted}, Handler: a.createStoreKey},
	}
}

func storeOut(s *models.KeyStore, keys []models.StoreKey) Store {
	out := Store{ID: s.ID, Name: s.Name, ConnectionID: s.ConnectionID, Region: s.Region, CreatedAt: s.CreatedAt, Keys: []StoreKey{}}
	for _, k := range keys {
		out.Keys = append(out.Keys, StoreKey{ID: k.KeyID, Name: k.Name, State: k.State})
	}
	return out
}

func storeErr(err error) error {
	if errors.Is(err, models.ErrNotFound) {
		return notFound("key store")
	}
	return err
}

func (a *API) createStore(c echo.Context) error {
	var in StoreCreate
	if err := bind(c, &in); err != nil {
		return err
	}
	if a.mgd == nil {
		return errNoLifecycle
	}
	st, err := a.mgd.CreateStore(c.Request().Context(), tenant(c), by(c), managed.StoreInput{Name: in.Name, ConnectionID: in.ConnectionID, Region: in.Region})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, storeOut(st, nil))
}

func (a *API) listStores(c echo.Context) error {
	if a.mgd == nil {
		return errNoLifecycle
	}
	sums, err := a.mgd.Stores(c.Request().Context(), tenant(c))
	if err != nil {
		return err
	}
	out := make([]Store, 0, len(sums))
	for i := range sums {
		out = append(out, storeOut(&sums[i].Store, sums[i].Keys))
	}
	return page(c, out, func(s Store) string { return s.ID })
}

func (a *API) getStore(c echo.Context) error {
	ctx := c.Request().Context()
	st, err := a.db.GetKeyStore(ctx, tenant(c), c.Param("id"))
	if err != nil {
		return storeErr(err)
	}
	ks, err := a.db.StoreKeys(ctx, tenant(c), st.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, storeOut(st, ks))
}

func (a *API) deleteStore(c echo.Context) error {
	if a.mgd == nil {
		return errNoLifecycle
	}
	err := a.mgd.DeleteStore(c.Request().Context(), tenant(c), by(c), c.Param("id"))
	var ne *models.StoreNotEmptyError
	if errors.As(err, &ne) {
		names := make([]string, 0, len(ne.Blocking))
		for _, k := range ne.Blocking {
			names = append(names, k.Name+" ("+k.KeyID+", "+k.State+")")
		}
		return &handlers.APIError{Status: http.StatusConflict, Code: "store_not_empty",
			Message: "The store still has keys that are not deleted: " + strings.Join(names, ", ") + "."}
	}
	if err != nil {
		return storeErr(err)
	}
	return c.NoContent(http.StatusNoContent)
}

func (a *API) createStoreKey(c echo.Context) error {
	var in StoreKeyCreate
	if err := bind(c, &in); err != nil {
		return err
	}
	if a.mgd == nil {
		return errNoLifecycle
	}
	ctx := c.Request().Context()
	if _, err := a.db.GetKeyStore(ctx, tenant(c), c.Param("id")); err != nil {
		return storeErr(err)
	}
	res, err := a.mgd.CreateGeneratedKey(ctx, tenant(c), by(c), managed.CreateKeyInput{StoreID: c.Param("id"),
		Name: in.Name, Alias: in.Alias, ValidDays: in.ValidDays, AutoReupload: in.AutoReupload})
	if err != nil {
		return err
	}
	return opAnswer(c, res, http.StatusCreated)
}
