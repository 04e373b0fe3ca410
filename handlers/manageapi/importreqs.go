package manageapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"keyport/handlers"
	"keyport/keysvc"
	"keyport/keysvc/managed"
	"keyport/models"
)

// ImportRequest is a tenant's request to upload its own 256-bit key: the
// public key to wrap it to. Its private key never leaves keyport, and its
// import token is shown only in the answer that made it.
type ImportRequest struct {
	ID        string     `json:"id"`
	StoreID   string     `json:"store_id"`
	KeyName   string     `json:"key_name"`
	State     string     `json:"state" doc:"open, used or expired"`
	KeyID     string     `json:"key_id,omitempty" doc:"the key the upload made"`
	PublicKey string     `json:"public_key,omitempty" doc:"PEM RSA public key to wrap the key to with RSAES_OAEP_SHA_256 (not in lists)"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt time.Time  `json:"expires_at"`
	UsedAt    *time.Time `json:"used_at,omitempty"`
}

// NewImportRequest is the answer of POST /import-requests: the request with
// its one-time import token, shown this once.
type NewImportRequest struct {
	ID          string    `json:"id"`
	StoreID     string    `json:"store_id"`
	KeyName     string    `json:"key_name"`
	State       string    `json:"state"`
	PublicKey   string    `json:"public_key" doc:"PEM RSA public key to wrap the key to"`
	ImportToken string    `json:"import_token" doc:"send it with the upload; shown only now, valid once for 24 hours"`
	Wrapping    string    `json:"wrapping" doc:"RSAES_OAEP_SHA_256"`
	CreatedAt   time.Time `json:"created_at"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// ImportRequestCreate is the body of POST /import-requests.
type ImportRequestCreate struct {
	StoreID string `json:"store_id"`
	KeyName string `json:"key_name"`
}

// ImportUpload is the body of POST /import-requests/{id}/upload.
type ImportUpload struct {
	ImportToken string `json:"import_token"`
	WrappedKey  string `json:"wrapped_key" doc:"base64 of the 32-byte key wrapped with RSA-OAEP SHA-256 to the request's public key"`
	Alias       string `json:"alias,omitempty" doc:"alias/... in KMS; alias/keyport/<key name> when omitted"`
	ValidDays   int    `json:"valid_days,omitempty" doc:"the material expires in KMS this many days after each import (1-365); never when omitted"`
}

func (a *API) importRequestOps() []Operation {
	return []Operation{
		{Method: http.MethodPost, Path: "/import-requests", ID: "createImportRequest", Tag: "import-requests", Act: handlers.ActManageKeys,
			Summary: "Ask to import your own 256-bit key into a key store: the answer has keyport's RSA public key and a one-time import token (shown only here), valid 24 hours.",
			Request: ImportRequestCreate{}, Response: NewImportRequest{}, Status: http.StatusCreated, Handler: a.createImportRequest},
		{Method: http.MethodGet, Path: "/import-requests", ID: "listImportRequests", Tag: "import-requests", Act: handlers.ActViewTenant,
			Summary: "The tenant's latest import requests (never their tokens).", Query: pageParams, Response: List[ImportRequest]{}, Handler: a.listImportRequests},
		{Method: http.MethodGet, Path: "/import-requests/:id", ID: "getImportRequest", Tag: "import-requests", Act: handlers.ActManageKeys,
			Summary: "One import request with its public key (never its token).", Response: ImportRequest{}, Handler: a.getImportRequest},
		{Method: http.MethodPost, Path: "/import-requests/:id/upload", ID: "uploadImport", Tag: "import-requests", Act: handlers.ActManageKeys,
			Summary: "Upload the wrapped key with the request's token: keyport unwraps and checks it, seals it and creates the key (imported into the store's KMS, or kept by keyport when the provider says so). A refusal leaves nothing behind. 201 when done, 202 while it still runs, 422 operation_failed when it failed and was rolled back.",
			Request: ImportUpload{}, Response: KeyOperation{}, Status: http.StatusCreated, AlsoStatus: []int{http.StatusAccepted}, Handler: a.uploadImport},
	}
}

func importRequestOut(r *models.ImportRequest) ImportRequest {
	return ImportRequest{ID: r.ID, StoreID: r.StoreID, KeyName: r.KeyName, State: r.State, KeyID: r.KeyID, PublicKey: r.PublicKeyPEM,
		CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt, UsedAt: r.UsedAt}
}

func (a *API) createImportRequest(c echo.Context) error {
	var in ImportRequestCreate
	if err := bind(c, &in); err != nil {
		return err
	}
	if a.mgd == nil {
		return errNoLifecycle
	}
	nr, err := a.mgd.CreateImportRequest(c.Request().Context(), tenant(c), by(c), in.StoreID, in.KeyName)
	if err != nil {
		return err
	}
	r := nr.Request
	return c.JSON(http.StatusCreated, NewImportRequest{ID: r.ID, StoreID: r.StoreID, KeyName: r.KeyName, State: r.State, PublicKey: r.PublicKeyPEM,
		ImportToken: nr.Token, Wrapping: managed.WrapOAEPSHA256, CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt})
}

func (a *API) listImportRequests(c echo.Context) error {
	rs, err := a.db.ListImportRequests(c.Request().Context(), tenant(c))
	if err != nil {
		return err
	}
	out := make([]ImportRequest, 0, len(rs))
	for i := range rs {
		out = append(out, importRequestOut(&rs[i]))
	}
	return page(c, out, func(r ImportRequest) string { return r.ID })
}

func (a *API) getImportRequest(c echo.Context) error {
	r, err := a.db.GetImportRequest(c.Request().Context(), tenant(c), c.Param("id"))
	if errors.Is(err, models.ErrNotFound) {
		return notFound("import request")
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, importRequestOut(r))
}

func (a *API) uploadImport(c echo.Context) error {
	var in ImportUpload
	if err := bind(c, &in); err != nil {
		return err
	}
	if a.mgd == nil {
		return errNoLifecycle
	}
	res, err := a.mgd.CompleteImport(c.Request().Context(), tenant(c), by(c), c.Param("id"),
		managed.ImportUpload{Token: in.ImportToken, WrappedB64: in.WrappedKey, Alias: in.Alias, ValidDays: in.ValidDays})
	if errors.Is(err, keysvc.ErrKeyNotFound) {
		return notFound("import request")
	}
	if err != nil {
		return err
	}
	return opAnswer(c, res, http.StatusCreated)
}
