package manageapi

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"keyport/handlers"
	"keyport/keysvc"
	"keyport/models"
)

// Key is a key as the API shows it.
type Key struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Kind  string `json:"kind" doc:"registered (the tenant's own KMS key), generated (keyport-made material in the tenant's KMS), imported (the tenant's material imported into its KMS) or held (the tenant's material kept by keyport, no KMS key)"`
	State string `json:"state" doc:"PENDING, ENABLED, DISABLED, PENDING_DELETION or DELETED"`
	// Health comes from the last validation or use.
	Health               string      `json:"health" doc:"OK, ACCESS_DENIED, KMS_DISABLED, PENDING_DELETION, PENDING_IMPORT, MATERIAL_EXPIRED, DRIFT, UNREACHABLE or UNKNOWN"`
	Status               string      `json:"status,omitempty" doc:"why the health is not OK, when it is not"`
	ConnectionID         string      `json:"connection_id"`
	StoreID              string      `json:"store_id,omitempty" doc:"the key store of a key keyport made or imported"`
	Alias                string      `json:"alias,omitempty" doc:"the KMS alias of a key keyport made or imported"`
	Regions              []KeyRegion `json:"regions" doc:"the KMS keys, primary first"`
	CurrentVersion       int64       `json:"current_version"`
	MinDecryptionVersion int64       `json:"min_decryption_version"`
	CreatedAt            time.Time   `json:"created_at"`
	DeletionAt           *time.Time  `json:"deletion_at,omitempty" doc:"when a key pending deletion is deleted"`
}

// KeyRegion is one KMS key of a key.
type KeyRegion struct {
	Region string `json:"region"`
	ARN    string `json:"arn"`
}

// KeyCreate is the body of POST /keys: the registration of a
// customer-managed KMS key.
type KeyCreate struct {
	Name         string   `json:"name"`
	ConnectionID string   `json:"connection_id"`
	KeyARNs      []string `json:"key_arns" doc:"the primary key (key or alias ARN) first, then one key per other region for DR"`
	// EncryptedDataKey is the tenant's own data key, made under the key.
	EncryptedDataKey string `json:"encrypted_data_key,omitempty" doc:"base64 CiphertextBlob of aws kms generate-data-key-without-plaintext under the primary key, with the encryption context naming the tenant and key_id"`
	KeyID            string `json:"key_id,omitempty" doc:"the key's id chosen ahead (key_ and 24 of a-z2-7), for the encryption context of encrypted_data_key; a fresh one when omitted"`
}

// KeyRegistered is the answer of a registration.
type KeyRegistered struct {
	ID     string        `json:"id"`
	Name   string        `json:"name"`
	State  string        `json:"state"`
	Health string        `json:"health"`
	Checks []CheckResult `json:"checks"`
}

// KeyPatch is the body of PATCH /keys/{id}.
type KeyPatch struct {
	Name                 *string `json:"name,omitempty"`
	MinDecryptionVersion *int64  `json:"min_decryption_version,omitempty" doc:"the oldest data-key version that still decrypts (1 retires nothing); at most the current version"`
}

// KeyVersion is one data-key version and its use.
type KeyVersion struct {
	Version    int64      `json:"version"`
	CreatedAt  time.Time  `json:"created_at"`
	Encrypts   int64      `json:"encrypts"`
	Decrypts   int64      `json:"decrypts"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

var keyListParams = append([]Param{{Name: "q", Description: "Only keys whose name, alias, KMS key ARN or id contains this (ignoring case)."}}, pageParams...)

var deleteParams = []Param{
	{Name: "window_days", Description: "KMS's waiting period before the deletion, 7 to 30 days; 30 when omitted.", Integer: true},
	{Name: "acknowledge", Description: "true: accept that data under the key's data-key versions becomes unreadable (required while any exists)."},
	{Name: "approval_id", Description: "The approved request for this deletion, when the provider requires one."},
}

func (a *API) keyOps() []Operation {
	opStatus := []int{http.StatusAccepted}
	return []Operation{
		{Method: http.MethodPost, Path: "/keys", ID: "registerKey", Tag: "keys", Act: handlers.ActManageKeys,
			Summary: "Register a customer-managed KMS key: keyport validates it in every region and wraps data-key version 1 under it. A failed validation answers 422 with the checks, and nothing is stored.",
			Request: KeyCreate{}, Response: KeyRegistered{}, Status: http.StatusCreated, Handler: a.registerKey},
		{Method: http.MethodGet, Path: "/keys", ID: "listKeys", Tag: "keys", Act: handlers.ActViewTenant,
			Summary: "List the tenant's keys.", Query: keyListParams, Response: List[Key]{}, Handler: a.listKeys},
		{Method: http.MethodGet, Path: "/keys/:id", ID: "getKey", Tag: "keys", Act: handlers.ActViewTenant,
			Summary: "One key.", Response: Key{}, Handler: a.getKey},
		{Method: http.MethodPatch, Path: "/keys/:id", ID: "updateKey", Tag: "keys", Act: handlers.ActManageKeys,
			Summary: "Rename a key and/or set its minimum decryption version (ciphertexts under older versions stop decrypting).",
			Request: KeyPatch{}, Response: Key{}, Handler: a.updateKey},
		{Method: http.MethodDelete, Path: "/keys/:id", ID: "deleteKey", Tag: "keys", Act: handlers.ActManageKeys,
			Summary: "Schedule the deletion of a key keyport made or imported: keyport stops using it at once and KMS deletes its KMS keys after the waiting period. A registered customer-managed key is deleted in AWS KMS, not here (409 not_managed).",
			Query:   deleteParams, Response: KeyOperation{}, AlsoStatus: opStatus, Handler: a.deleteKey},
		{Method: http.MethodPost, Path: "/keys/:id/validate", ID: "validateKey", Tag: "keys", Act: handlers.ActManageKeys,
			Summary: "Validate the key in KMS now; its health follows.", Response: TestResult{}, Handler: a.validateKey},
		{Method: http.MethodPost, Path: "/keys/:id/rotate", ID: "rotateKey", Tag: "keys", Act: handlers.ActManageKeys,
			Summary: "Rotate the key now: a new data-key version under its current KMS key, for every kind of key (renew and rotate-material change the KMS key or its material). 202 while it is still running.",
			Request: RotateRequest{}, OptionalBody: true, Response: RotateResult{}, AlsoStatus: opStatus, Handler: a.rotateKey},
		a.lifecycleOp("/deactivate", "deactivateKey", "Deactivate the key: keyport stops using it at once. A key keyport made or imported is also disabled in KMS; a registered customer-managed key is left as it is in KMS.",
			nil, a.deactivateKey),
		{Method: http.MethodPost, Path: "/keys/:id/activate", ID: "activateKey", Tag: "keys", Act: handlers.ActManageKeys,
			Summary:  "Activate a deactivated key: keyport uses it again (and first enables the KMS keys of a key keyport made or imported). It runs at once: the answer has no operation id.",
			Response: KeyOperation{}, Handler: a.activateKey},
		a.lifecycleOp("/renew", "renewKey", "Renew a key keyport made or imported: new material in a new KMS key, the alias moved; the old KMS key stays enabled for older data.",
			nil, a.renewKey),
		a.lifecycleOp("/undo", "undoRenewal", "Undo the last renewal: the alias moves back to the previous KMS key (checked first).",
			nil, a.undoRenewal),
		a.lifecycleOp("/rotate-material", "rotateKeyMaterial", "Rotate the material of a key keyport made or imported in place: new material in the same KMS key (ARN and alias stay).",
			nil, a.rotateMaterial),
		a.lifecycleOp("/reupload", "reuploadKey", "Import the key's material into its KMS key again (after it expired or was deleted there).",
			ReuploadRequest{}, a.reuploadKey),
		{Method: http.MethodPost, Path: "/keys/:id/cancel-deletion", ID: "cancelKeyDeletion", Tag: "keys", Act: handlers.ActManageKeys,
			Summary: "Cancel a scheduled deletion during its waiting period; the key comes back deactivated.", Response: Key{}, Handler: a.cancelDeletion},
		{Method: http.MethodGet, Path: "/keys/:id/versions", ID: "listKeyVersions", Tag: "keys", Act: handlers.ActViewTenant,
			Summary: "The key's data-key versions, oldest first, with their use (counted up to a few minutes ago).",
			Query:   pageParams, Response: List[KeyVersion]{}, Handler: a.keyVersions},
	}
}

// keyErr answers a missing key (or another tenant's) as not_found.
func keyErr(err error) error {
	if errors.Is(err, keysvc.ErrKeyNotFound) || errors.Is(err, models.ErrNotFound) {
		return notFound("key")
	}
	return err
}

// keyKind names a key's mode as the API does.
func keyKind(k *models.Key, mk *models.ManagedKey) string {
	switch {
	case k.Mode == models.ModeCMK:
		return "registered"
	case mk != nil && mk.Held:
		return "held"
	}
	return string(k.Mode)
}

func keyOut(k *models.Key, regions []models.KeyRegion, mk *models.ManagedKey) Key {
	out := Key{ID: k.ID, Name: k.Name, Kind: keyKind(k, mk), State: string(k.State), Health: string(k.Health), ConnectionID: k.ConnectionID,
		Regions: make([]KeyRegion, 0, len(regions)), CurrentVersion: k.CurrentVersion, MinDecryptionVersion: max(k.MinDecryptionVersion, 1),
		CreatedAt: k.CreatedAt}
	if k.Health != models.HealthOK {
		out.Status = k.HealthDetail
	}
	for _, r := range regions {
		out.Regions = append(out.Regions, KeyRegion{Region: r.Region, ARN: r.KMSKeyARN})
	}
	if mk != nil {
		out.StoreID, out.Alias = mk.StoreID, mk.AliasName
		if k.State == models.StatePendingDeletion {
			out.DeletionAt = mk.DeletionAt
		}
	}
	return out
}

// loadKey reads one of the tenant's keys as the API shows it.
func (a *API) loadKey(c echo.Context, id string) (Key, error) {
	ctx := c.Request().Context()
	k, err := a.db.GetKey(ctx, tenant(c), id)
	if err != nil {
		return Key{}, keyErr(err)
	}
	rs, err := a.db.KeyRegions(ctx, tenant(c), k.ID)
	if err != nil {
		return Key{}, err
	}
	mk, err := a.db.GetManagedKey(ctx, tenant(c), k.ID)
	if errors.Is(err, models.ErrNotFound) {
		mk, err = nil, nil
	}
	if err != nil {
		return Key{}, err
	}
	return keyOut(k, rs, mk), nil
}

func (a *API) registerKey(c echo.Context) error {
	var in KeyCreate
	if err := bind(c, &in); err != nil {
		return err
	}
	if len(in.KeyARNs) == 0 {
		return badRequest("key_arns", "give the primary key's ARN (and one per other region)")
	}
	reg, err := a.keys.RegisterKey(c.Request().Context(), tenant(c), by(c), keysvc.RegisterInput{ConnectionID: in.ConnectionID, Name: in.Name,
		KeyARN: in.KeyARNs[0], ExtraARNs: strings.Join(in.KeyARNs[1:], "\n"), KeyID: in.KeyID, EncryptedDataKey: in.EncryptedDataKey})
	var re *keysvc.RegisterError
	if errors.As(err, &re) {
		return c.JSON(http.StatusUnprocessableEntity, ErrorBody{Error: handlers.APIErrorDetail{Code: "key_validation_failed",
			Message: "The key failed validation and nothing was stored; checks says which step failed and why."}, Checks: checks(re.Checks)})
	}
	if err != nil {
		return err
	}
	k := reg.Key
	return c.JSON(http.StatusCreated, KeyRegistered{ID: k.ID, Name: k.Name, State: string(k.State), Health: string(k.Health), Checks: checks(reg.Checks)})
}

func (a *API) listKeys(c echo.Context) error {
	ctx := c.Request().Context()
	ks, err := a.db.ListKeys(ctx, tenant(c))
	if err != nil {
		return err
	}
	regions, err := a.db.TenantKeyRegions(ctx, tenant(c))
	if err != nil {
		return err
	}
	mks, err := a.db.TenantManagedKeys(ctx, tenant(c))
	if err != nil {
		return err
	}
	q := strings.ToLower(strings.TrimSpace(c.QueryParam("q")))
	out := make([]Key, 0, len(ks))
	for i := range ks {
		var mk *models.ManagedKey
		if m, ok := mks[ks[i].ID]; ok {
			mk = &m
		}
		k := keyOut(&ks[i], regions[ks[i].ID], mk)
		if q == "" || keyMatches(k, q) {
			out = append(out, k)
		}
	}
	return page(c, out, func(k Key) string { return k.ID })
}

// keyMatches reports whether a key's name, alias, KMS key ARNs or id
// contain q (lower case).
func keyMatches(k Key, q string) bool {
	fields := []string{k.ID, k.Name, k.Alias}
	for _, r := range k.Regions {
		fields = append(fields, r.ARN)
	}
	for _, f := range fields {
		if strings.Contains(strings.ToLower(f), q) {
			return true
		}
	}
	return false
}

func (a *API) getKey(c echo.Context) error {
	k, err := a.loadKey(c, c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, k)
}

func (a *API) updateKey(c echo.Context) error {
	var in KeyPatch
	if err := bind(c, &in); err != nil {
		return err
	}
	ctx := c.Request().Context()
	k, err := a.db.GetKey(ctx, tenant(c), c.Param("id"))
	if err != nil {
		return keyErr(err)
	}
	// The version is checked before the rename, so a refused version
	// leaves the name as it was.
	if m := in.MinDecryptionVersion; m != nil && (*m < 1 || *m > k.CurrentVersion) {
		return badRequest("min_decryption_version", fmt.Sprintf("must be from 1 to the current version (%d)", k.CurrentVersion))
	}
	if in.Name != nil {
		if _, err := a.keys.RenameKey(ctx, tenant(c), by(c), k.ID, *in.Name); err != nil {
			return keyErr(err)
		}
	}
	if in.MinDecryptionVersion != nil {
		if _, err := a.keys.SetMinDecryptionVersion(ctx, tenant(c), k.ID, *in.MinDecryptionVersion, by(c)); err != nil {
			return keyErr(err)
		}
	}
	return a.getKey(c)
}

func (a *API) keyVersions(c echo.Context) error {
	vs, err := a.keys.KeyVersions(c.Request().Context(), tenant(c), c.Param("id"))
	if err != nil {
		return keyErr(err)
	}
	out := make([]KeyVersion, 0, len(vs))
	for _, v := range vs {
		out = append(out, KeyVersion{Version: v.Version, CreatedAt: v.CreatedAt, Encrypts: v.Encrypts, Decrypts: v.Decrypts, LastUsedAt: v.LastUsedAt})
	}
	// Zero-padded, so the ids' order is the versions'.
	return page(c, out, func(v KeyVersion) string { return fmt.Sprintf("%020d", v.Version) })
}
