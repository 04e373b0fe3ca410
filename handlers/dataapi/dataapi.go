// Package dataapi serves keyport's data API under /api/v1 for the
// provider's services: JSON in and out, service-token authentication, no
// cookies, no CSRF. Encrypt, decrypt, rewrap (single and batch), data keys,
// key status and the tenant-imported key's import requests.
//
// It imports handlers (the error answers, JSON decoding, the request's
// token and actor), keysvc and keysvc/managed; handlers never imports it.
package dataapi

import (
	"keyport/handlers"
	"keyport/keysvc"
	"keyport/keysvc/managed"
	"keyport/models"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// API serves the data API under /api/v1 for the provider's services:
// JSON in and out, service-token authentication, no cookies, no CSRF.
type API struct {
	keys *keysvc.Service
	mgd  *managed.Service // import requests; nil serves none
	log  *slog.Logger
}

// New builds the data API handlers. mgd serves the import-request
// endpoints; it may be nil where they are not used.
func New(keys *keysvc.Service, mgd *managed.Service, log *slog.Logger) *API {
	return &API{keys: keys, mgd: mgd, log: log}
}

// Limits of the data API, part of its contract.
const (
	MaxAPIPlaintext = 256 << 10 // bytes per item
	MaxBatchItems   = 100
)

// Authenticate is middleware: a valid service token in the Authorization
// header, or 401. Responses never go to a cache: they carry plaintext.
func (a *API) Authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header()["Cache-Control"] = noStore
		raw, ok := strings.CutPrefix(header(c.Request().Header, "Authorization"), "Bearer ")
		if !ok {
			return a.writeAPIError(c, keysvc.ErrTokenInvalid)
		}
		info, err := a.keys.Authenticate(c.Request().Context(), strings.TrimSpace(raw))
		if err != nil {
			return a.writeAPIError(c, err)
		}
		handlers.SetServiceToken(c, info)
		return next(c)
	}
}

// RateLimited answers 429 rate_limited in the API's error shape, asking the
// caller to wait retryAfter seconds.
func (a *API) RateLimited(c echo.Context, retryAfter string) error {
	return a.writeAPIError(c, &handlers.APIError{Status: http.StatusTooManyRequests, Code: "rate_limited",
		Message: "This service token sent more requests than its rate limit allows; retry after the time in Retry-After.", RetryAfter: retryAfter})
}

// TooManyFailedAuthentications answers 429 rate_limited in the API's error
// shape when the client's address sent too many requests with a bad
// service token; it asks the caller to wait retryAfter seconds.
func (a *API) TooManyFailedAuthentications(c echo.Context, retryAfter string) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	return a.writeAPIError(c, &handlers.APIError{Status: http.StatusTooManyRequests, Code: "rate_limited",
		Message: "Too many requests from this address carried a missing, invalid or revoked service token; retry after the time in Retry-After.", RetryAfter: retryAfter})
}

// writeAPIError answers err in the API's error shape.
func (a *API) writeAPIError(c echo.Context, err error) error {
	return handlers.WriteAPIError(c, a.log, err)
}

// EncryptItem is one encryption request (a body of POST /api/v1/encrypt,
// or an item of the batch form). Plaintext is standard base64 in JSON.
type EncryptItem struct {
	Tenant    string            `json:"tenant,omitempty"`
	KeyID     string            `json:"key_id"`
	Plaintext []byte            `json:"plaintext"`
	Context   map[string]string `json:"context,omitempty"`
}

// EncryptResult is the answer to one encryption.
type EncryptResult struct {
	Ciphertext []byte                   `json:"ciphertext,omitempty"`
	KeyID      string                   `json:"key_id,omitempty"`
	KeyVersion int64                    `json:"key_version,omitempty"`
	Error      *handlers.APIErrorDetail `json:"error,omitempty"`
}

// DecryptItem is one decryption request.
type DecryptItem struct {
	Tenant     string            `json:"tenant,omitempty"`
	Ciphertext []byte            `json:"ciphertext"`
	Context    map[string]string `json:"context,omitempty"`
}

// DecryptResult is the answer to one decryption.
type DecryptResult struct {
	Plaintext  []byte                   `json:"plaintext,omitempty"`
	KeyID      string                   `json:"key_id,omitempty"`
	KeyVersion int64                    `json:"key_version,omitempty"`
	Error      *handlers.APIErrorDetail `json:"error,omitempty"`
}

func (a *API) encryptOne(c echo.Context, it EncryptItem) (EncryptResult, error) {
	tenantID, err := handlers.TenantFor(c, it.Tenant)
	if err != nil {
		return EncryptResult{}, err
	}
	if it.KeyID == "" {
		return EncryptResult{}, &keysvc.ValidationError{Field: "key_id", Message: "is required"}
	}
	if len(it.Plaintext) > MaxAPIPlaintext {
		return EncryptResult{}, &keysvc.ValidationError{Field: "plaintext", Message: "must be at most 256 KiB"}
	}
	enc, err := a.keys.Encrypt(c.Request().Context(), tenantID, it.KeyID, it.Plaintext, it.Context)
	if err != nil {
		return EncryptResult{}, err
	}
	return EncryptResult{Ciphertext: enc.Ciphertext, KeyID: enc.KeyID, KeyVersion: enc.Version}, nil
}

func (a *API) decryptOne(c echo.Context, it DecryptItem) (DecryptResult, error) {
	tenantID, err := handlers.TenantFor(c, it.Tenant)
	if err != nil {
		return DecryptResult{}, err
	}
	if len(it.Ciphertext) == 0 {
		return DecryptResult{}, &keysvc.ValidationError{Field: "ciphertext", Message: "is required"}
	}
	dec, err := a.keys.Decrypt(c.Request().Context(), tenantID, it.Ciphertext, it.Context)
	if err != nil {
		return DecryptResult{}, err
	}
	return DecryptResult{Plaintext: dec.Plaintext, KeyID: dec.KeyID, KeyVersion: dec.Version}, nil
}

// Encrypt is POST /api/v1/encrypt.
func (a *API) Encrypt(c echo.Context) error {
	var it EncryptItem
	buf := getBuf()
	defer putBuf(buf)
	if err := decodeBody(c, buf, &it, parseEncrypt(&it)); err != nil {
		return a.writeAPIError(c, err)
	}
	res, err := a.encryptOne(c, it)
	clear(it.Plaintext)
	if err != nil {
		return a.writeAPIError(c, err)
	}
	return writeEncrypt(c, &res)
}

// Decrypt is POST /api/v1/decrypt.
func (a *API) Decrypt(c echo.Context) error {
	var it DecryptItem
	buf := getBuf()
	defer putBuf(buf)
	if err := decodeBody(c, buf, &it, parseDecrypt(&it)); err != nil {
		return a.writeAPIError(c, err)
	}
	res, err := a.decryptOne(c, it)
	if err != nil {
		return a.writeAPIError(c, err)
	}
	defer clear(res.Plaintext)
	return writeDecrypt(c, &res)
}

// batch decodes a batch body ({"items": [...]}, 1 to MaxBatchItems; parse
// is the fast decoder of one item) and answers each item with one, or with
// its error through fail: one item's failure never fails the others.
func batch[I, R any](a *API, c echo.Context, parse func(*scanner, *I) bool, one func(echo.Context, I) (R, error), fail func(*handlers.APIErrorDetail) R) ([]R, error) {
	var b struct {
		Items []I `json:"items"`
	}
	buf := getBuf()
	defer putBuf(buf)
	if err := decodeBody(c, buf, &b, parseBatch(&b.Items, parse)); err != nil {
		return nil, err
	}
	if err := checkBatch(len(b.Items)); err != nil {
		return nil, err
	}
	out := make([]R, len(b.Items))
	for i, it := range b.Items {
		res, err := one(c, it)
		if err != nil {
			res = fail(a.itemError(c, err))
		}
		out[i] = res
	}
	return out, nil
}

func checkBatch(n int) error {
	if n == 0 || n > MaxBatchItems {
		return &keysvc.ValidationError{Field: "items", Message: "must hold 1 to 100 items"}
	}
	return nil
}

// EncryptBatch is POST /api/v1/encrypt/batch: each item answers on its own.
func (a *API) EncryptBatch(c echo.Context) error {
	out, err := batch(a, c, (*scanner).encryptItem, a.encryptOne, func(e *handlers.APIErrorDetail) EncryptResult { return EncryptResult{Error: e} })
	if err != nil {
		return a.writeAPIError(c, err)
	}
	return writeItems(c, out, appendEncrypt)
}

// DecryptBatch is POST /api/v1/decrypt/batch: each item answers on its own.
func (a *API) DecryptBatch(c echo.Context) error {
	out, err := batch(a, c, (*scanner).decryptItem, a.decryptOne, func(e *handlers.APIErrorDetail) DecryptResult { return DecryptResult{Error: e} })
	if err != nil {
		return a.writeAPIError(c, err)
	}
	defer func() {
		for _, r := range out {
			clear(r.Plaintext)
		}
	}()
	return writeItems(c, out, appendDecrypt)
}

func (a *API) itemError(c echo.Context, err error) *handlers.APIErrorDetail {
	ae := handlers.APIErrorFor(err)
	if ae.Status >= 500 {
		a.log.Error("data api item failed", "request_id", handlers.RequestID(c), "err", err)
	}
	return &handlers.APIErrorDetail{Code: ae.Code, Message: ae.Message}
}

// rewrapOne seals a ciphertext again under its key's current version; the
// plaintext stays inside keysvc.
func (a *API) rewrapOne(c echo.Context, it DecryptItem) (EncryptResult, error) {
	tenantID, err := handlers.TenantFor(c, it.Tenant)
	if err != nil {
		return EncryptResult{}, err
	}
	if len(it.Ciphertext) == 0 {
		return EncryptResult{}, &keysvc.ValidationError{Field: "ciphertext", Message: "is required"}
	}
	enc, err := a.keys.Rewrap(c.Request().Context(), tenantID, it.Ciphertext, it.Context)
	if err != nil {
		return EncryptResult{}, err
	}
	return EncryptResult{Ciphertext: enc.Ciphertext, KeyID: enc.KeyID, KeyVersion: enc.Version}, nil
}

// Rewrap is POST /api/v1/rewrap: {ciphertext, context} in, the same
// plaintext under the key's current version out, as {ciphertext, key_id,
// key_version}.
func (a *API) Rewrap(c echo.Context) error {
	var it DecryptItem
	buf := getBuf()
	defer putBuf(buf)
	if err := decodeBody(c, buf, &it, parseDecrypt(&it)); err != nil {
		return a.writeAPIError(c, err)
	}
	res, err := a.rewrapOne(c, it)
	if err != nil {
		return a.writeAPIError(c, err)
	}
	return writeEncrypt(c, &res)
}

// RewrapBatch is POST /api/v1/rewrap/batch: each item answers on its own.
func (a *API) RewrapBatch(c echo.Context) error {
	out, err := batch(a, c, (*scanner).decryptItem, a.rewrapOne, func(e *handlers.APIErrorDetail) EncryptResult { return EncryptResult{Error: e} })
	if err != nil {
		return a.writeAPIError(c, err)
	}
	return writeItems(c, out, appendEncrypt)
}

type datakeyRequest struct {
	Tenant  string            `json:"tenant,omitempty"`
	KeyID   string            `json:"key_id"`
	Context map[string]string `json:"context,omitempty"`
}

type datakeyResponse struct {
	Plaintext  []byte `json:"plaintext"`
	Ciphertext []byte `json:"ciphertext"`
	KeyID      string `json:"key_id"`
	KeyVersion int64  `json:"key_version"`
}

// DataKey is POST /api/v1/datakey: a fresh 256-bit key for local
// encryption, and the same key encrypted under the tenant's key (give it
// to /decrypt later to get the key back).
func (a *API) DataKey(c echo.Context) error {
	var r datakeyRequest
	if err := handlers.DecodeJSON(c, &r); err != nil {
		return a.writeAPIError(c, err)
	}
	tenantID, err := handlers.TenantFor(c, r.Tenant)
	if err != nil {
		return a.writeAPIError(c, err)
	}
	if r.KeyID == "" {
		return a.writeAPIError(c, &keysvc.ValidationError{Field: "key_id", Message: "is required"})
	}
	dk, err := a.keys.GenerateDataKey(c.Request().Context(), tenantID, r.KeyID, r.Context)
	if err != nil {
		return a.writeAPIError(c, err)
	}
	defer clear(dk.Plaintext)
	return c.JSON(http.StatusOK, datakeyResponse{Plaintext: dk.Plaintext, Ciphertext: dk.Ciphertext, KeyID: dk.KeyID, KeyVersion: dk.Version})
}

type keyStatusResponse struct {
	KeyID          string `json:"key_id"`
	State          string `json:"state"`
	Health         string `json:"health"`
	CurrentVersion int64  `json:"current_version"`
}

// KeyStatus is GET /api/v1/keys/:key_id (?tenant= for provider-wide tokens).
func (a *API) KeyStatus(c echo.Context) error {
	tenantID, err := handlers.TenantFor(c, c.QueryParam("tenant"))
	if err != nil {
		return a.writeAPIError(c, err)
	}
	st, err := a.keys.Status(c.Request().Context(), tenantID, c.Param("key_id"))
	if err != nil {
		return a.writeAPIError(c, err)
	}
	return c.JSON(http.StatusOK, keyStatusResponse{KeyID: st.KeyID, State: st.State, Health: st.Health, CurrentVersion: st.CurrentVersion})
}

// apiImportRequest is the data API's import request.
type apiImportRequest struct {
	Tenant  string `json:"tenant,omitempty"`
	StoreID string `json:"store_id"`
	KeyName string `json:"key_name"`
	// Wrapping is RSAES_OAEP_SHA_256 (default) or RSAES_OAEP_SHA_1.
	Wrapping string `json:"wrapping,omitempty"`
	// KeyID asks to re-import that key's material from the tenant's
	// backup instead of making a new key.
	KeyID string `json:"key_id,omitempty"`
}

// apiImportUpload is the data API's upload of a wrapped key.
type apiImportUpload struct {
	Tenant      string `json:"tenant,omitempty"`
	ImportToken string `json:"import_token"`
	WrappedKey  string `json:"wrapped_key"`
	Alias       string `json:"alias,omitempty"`
	ValidDays   int    `json:"valid_days,omitempty"`
}

// CreateImportRequest is POST /api/v1/import-requests: keyport's public key
// (PEM) and a one-time import token, valid 24 hours.
func (a *API) CreateImportRequest(c echo.Context) error {
	var in apiImportRequest
	if err := handlers.DecodeJSON(c, &in); err != nil {
		return a.writeAPIError(c, err)
	}
	tenantID, err := handlers.TenantFor(c, in.Tenant)
	if err != nil {
		return a.writeAPIError(c, err)
	}
	nr, err := a.mgd.CreateImportRequestWith(c.Request().Context(), tenantID, handlers.APIBy(c),
		managed.ImportRequestInput{StoreID: in.StoreID, KeyName: in.KeyName, Wrapping: in.Wrapping, ReimportKeyID: in.KeyID})
	if err != nil {
		return a.writeAPIError(c, err)
	}
	out := map[string]any{"id": nr.Request.ID, "public_key": nr.Request.PublicKeyPEM, "import_token": nr.Token,
		"expires_at": nr.Request.ExpiresAt, "wrapping": nr.Request.Wrapping}
	if nr.Request.ReimportKeyID != "" {
		out["key_id"] = nr.Request.ReimportKeyID
	}
	return c.JSON(http.StatusCreated, out)
}

// UploadImport is POST /api/v1/import-requests/{id}/upload: the wrapped key
// (base64) with its token; the answer names the new key and fingerprint.
func (a *API) UploadImport(c echo.Context) error {
	var in apiImportUpload
	if err := handlers.DecodeJSON(c, &in); err != nil {
		return a.writeAPIError(c, err)
	}
	tenantID, err := handlers.TenantFor(c, in.Tenant)
	if err != nil {
		return a.writeAPIError(c, err)
	}
	ctx := c.Request().Context()
	res, err := a.mgd.CompleteImport(ctx, tenantID, handlers.APIBy(c), c.Param("request_id"),
		managed.ImportUpload{Token: in.ImportToken, WrappedB64: in.WrappedKey, Alias: in.Alias, ValidDays: in.ValidDays})
	if err != nil {
		return a.writeAPIError(c, err)
	}
	out := map[string]any{"key_id": res.Op.KeyID, "state": res.Key.State, "operation": res.Op.State}
	if res.Op.Kind == models.OpReupload {
		out["reimported"] = true // the tenant's backup of the key's material, imported again
	}
	if m, err := a.mgd.ActiveFingerprint(ctx, tenantID, res.Op.KeyID); err == nil {
		out["fingerprint"] = m
	}
	return c.JSON(http.StatusCreated, out)
}
