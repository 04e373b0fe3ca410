package managed

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"strings"
	"time"

	"keyport/keysvc"
	"keyport/keysvc/seal"
	"keyport/models"
)

// Import request parameters: the wrapping key is RSA-3072 (the tenant
// wraps with RSA-OAEP-SHA-256), the token works once, for 24 hours.
const (
	importRequestBits = 3072
	importRequestTTL  = 24 * time.Hour
	importTokenPrefix = "kpi_"
)

// Errors of an upload, each with its own message for the tenant.
var (
	ErrImportTokenUsed    = &keysvc.ValidationError{Field: "import_token", Message: "this import request was already used; make a new one"}
	ErrImportTokenExpired = &keysvc.ValidationError{Field: "import_token", Message: "this import request expired (24 hours); make a new one"}
	ErrImportTokenInvalid = &keysvc.ValidationError{Field: "import_token", Message: "is not the import token of this request"}
	ErrImportBadWrapping  = &keysvc.ValidationError{Field: "wrapped_key", Message: "did not unwrap with this request's key: wrap it with RSA-OAEP, SHA-256, with the public key of this request, and base64 it"}
	ErrImportBadLength    = &keysvc.ValidationError{Field: "wrapped_key", Message: "unwrapped to the wrong length: the key must be exactly 32 bytes (256 bits)"}
	ErrImportBadBase64    = &keysvc.ValidationError{Field: "wrapped_key", Message: "is not base64"}
)

// NewImportRequest is what creating an import request returns: the token
// is shown this once.
type NewImportRequest struct {
	Request *models.ImportRequest
	Token   string
}

// String leaves the token out of logs.
func (r NewImportRequest) String() string {
	if r.Request == nil {
		return "keysvc.NewImportRequest{}"
	}
	return "keysvc.NewImportRequest{id: " + r.Request.ID + "}"
}

// LogValue leaves the token out of slog too (its JSON handler ignores
// String).
func (r NewImportRequest) LogValue() slog.Value { return slog.StringValue(r.String()) }

// CreateImportRequest makes an RSA key pair (the private key sealed under
// the KEK), a one-time import token valid 24 hours, and records them; the
// tenant wraps its 256-bit key to the public key and uploads it with the
// token. A tenant with MaxOpenImportRequests open gets
// ErrTooManyImportRequests, one that made ImportRequestsPerHour in the
// last hour ErrImportRequestRate.
func (s *Service) CreateImportRequest(ctx context.Context, tenantID string, by keysvc.RequestBy, storeID, keyName string) (*NewImportRequest, error) {
	return s.CreateImportRequestWith(ctx, tenantID, by, ImportRequestInput{StoreID: storeID, KeyName: keyName})
}

// CreateImportRequestWith is CreateImportRequest with the wrapping the
// upload must use and, for a re-import of a key's material from the
// tenant's backup, the key (then the store and name are the key's).
func (s *Service) CreateImportRequestWith(ctx context.Context, tenantID string, by keysvc.RequestBy, in ImportRequestInput) (*NewImportRequest, error) {
	wrapping, err := ParseImportWrapping(in.Wrapping)
	if err != nil {
		return nil, err
	}
	storeID, keyName := in.StoreID, in.KeyName
	if in.ReimportKeyID != "" && (strings.TrimSpace(storeID) != "" || strings.TrimSpace(keyName) != "") {
		return nil, &keysvc.ValidationError{Field: "key_id", Message: "re-imports the material of an existing key: give it without store_id and key_name"}
	}
	if in.ReimportKeyID != "" {
		k, mk, err := s.reimportTarget(ctx, tenantID, in.ReimportKeyID)
		if err != nil {
			return nil, err
		}
		storeID, keyName = mk.StoreID, k.Name
	}
	if _, err := s.db.GetKeyStore(ctx, tenantID, storeID); errors.Is(err, models.ErrNotFound) {
		return nil, &keysvc.ValidationError{Field: "store_id", Message: "choose one of your key stores"}
	} else if err != nil {
		return nil, err
	}
	if n := strings.TrimSpace(keyName); n == "" || len([]rune(n)) > 100 {
		return nil, &keysvc.ValidationError{Field: "key_name", Message: "is required, at most 100 characters"}
	}
	open, err := s.db.CountOpenImportRequests(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	release, err := s.imports.reserve(tenantID, open, s.now())
	if err != nil {
		return nil, err
	}
	defer release()
	priv, err := s.imports.key(ctx, importRequestBits)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	defer clear(der)
	pubDER, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return nil, err
	}
	raw := make([]byte, 32)
	if _, err := io.ReadFull(s.rand, raw); err != nil {
		return nil, err
	}
	token := importTokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	h := sha256.Sum256([]byte(token))
	r := &models.ImportRequest{ID: models.NewID("imp_"), TenantID: tenantID, StoreID: storeID, KeyName: strings.TrimSpace(keyName),
		TokenHash: h[:], PublicKeyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})), CreatedBy: by.UserID,
		Wrapping: wrapping, ReimportKeyID: in.ReimportKeyID}
	if r.PrivateSealed, err = s.sealer.Seal(seal.ImportPurpose(r.ID), der); err != nil {
		return nil, err
	}
	details := map[string]string{"store_id": storeID, "key_name": r.KeyName, "wrapping": wrapping}
	if in.ReimportKeyID != "" {
		details["reimport_key_id"] = in.ReimportKeyID
	}
	if err := s.db.CreateImportRequest(ctx, r, importRequestTTL, by.Audit("import_request.created", details)); err != nil {
		return nil, err
	}
	return &NewImportRequest{Request: r, Token: token}, nil
}

// ImportUpload is an upload of wrapped key material.
type ImportUpload struct {
	Token      string
	WrappedB64 string
	Alias      string
	ValidDays  int
}

// String leaves the token out of logs.
func (u ImportUpload) String() string { return "keysvc.ImportUpload{}" }

// LogValue leaves the token and wrapped key out of slog too (its JSON
// handler ignores String).
func (u ImportUpload) LogValue() slog.Value { return slog.StringValue(u.String()) }

// CompleteImport checks the token, unwraps the tenant's key, checks it is
// 256 bits, seals it and creates a key with it (mode 3): imported into the
// tenant's KMS like a keyport-generated one, or, when the provider keeps
// imported keys for its own use, a held key with no KMS key. Every refusal
// leaves nothing behind.
func (s *Service) CompleteImport(ctx context.Context, tenantID string, by keysvc.RequestBy, requestID string, up ImportUpload) (*OperationResult, error) {
	r, err := s.db.GetImportRequest(ctx, tenantID, requestID)
	if errors.Is(err, models.ErrNotFound) {
		return nil, keysvc.ErrKeyNotFound
	}
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256([]byte(strings.TrimSpace(up.Token)))
	switch {
	case subtle.ConstantTimeCompare(h[:], r.TokenHash) != 1:
		return nil, ErrImportTokenInvalid
	case r.State == models.ImportUsed:
		return nil, ErrImportTokenUsed
	case r.State == models.ImportExpired || len(r.PrivateSealed) == 0:
		return nil, ErrImportTokenExpired
	}
	wrapped, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(up.WrappedB64), ""))
	if err != nil || len(wrapped) == 0 {
		return nil, ErrImportBadBase64
	}
	plain, err := s.unwrapImport(r, wrapped)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	if r.ReimportKeyID != "" {
		return s.completeReimport(ctx, tenantID, by, r, plain)
	}
	ps, err := s.keys.ProviderSettings(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.db.ClaimImportRequest(ctx, tenantID, r.ID); err != nil {
		if errors.Is(err, models.ErrConflict) {
			return nil, ErrImportTokenUsed
		}
		return nil, err
	}
	mat, err := s.sealMaterial(models.SourceTenant, by, plain)
	if err != nil {
		_ = s.db.ReopenImportRequest(ctx, tenantID, r.ID)
		return nil, err
	}
	res, err := s.startCreate(ctx, tenantID, by, CreateKeyInput{StoreID: r.StoreID, Name: r.KeyName, Alias: up.Alias, ValidDays: up.ValidDays,
		held: ps.ImportedKeyUse == keysvc.ImportedHeld}, models.ModeImported, *mat)
	if err != nil {
		_ = s.db.ReopenImportRequest(ctx, tenantID, r.ID) // nothing was created: the token still works
		return nil, err
	}
	if err := s.db.CompleteImportRequest(ctx, tenantID, r.ID, res.Op.KeyID, by.Audit("import_request.used",
		map[string]string{"key_id": res.Op.KeyID, "fingerprint": mat.Fingerprint})); err != nil {
		return nil, err
	}
	return res, nil
}

// unwrapImport opens the request's private key and unwraps the upload
// with RSA-OAEP and the request's hash (for OAEP and MGF1 alike), and no
// other: an upload wrapped with the other hash is refused.
func (s *Service) unwrapImport(r *models.ImportRequest, wrapped []byte) ([]byte, error) {
	der, err := s.sealer.Open(seal.ImportPurpose(r.ID), r.PrivateSealed)
	if err != nil {
		return nil, err
	}
	defer clear(der)
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, err
	}
	priv, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("keysvc: import request key is not RSA")
	}
	h, bad := importHash(r.Wrapping)
	plain, err := rsa.DecryptOAEP(h, nil, priv, wrapped, nil)
	if err != nil {
		return nil, bad
	}
	if len(plain) != keysvc.MaterialSize {
		clear(plain)
		return nil, ErrImportBadLength
	}
	return plain, nil
}

// ImportCommands are the openssl commands that wrap a 32-byte key for an
// import request of the default wrapping (RSAES_OAEP_SHA_256), as the
// tenant runs them (after saving the public key as import-public.pem).
var ImportCommands = ImportCommandsFor(WrapOAEPSHA256).OpenSSL

// ActiveFingerprint is the fingerprint of a managed key's active material.
func (s *Service) ActiveFingerprint(ctx context.Context, tenantID, keyID string) (string, error) {
	m, err := s.db.ActiveMaterial(ctx, tenantID, keyID)
	if err != nil {
		return "", err
	}
	return m.Fingerprint, nil
}
