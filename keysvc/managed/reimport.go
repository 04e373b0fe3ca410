package managed

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"hash"
	"strings"

	"keyport/keysvc"
	"keyport/models"
)

// ImportWrappings are the RSA-OAEP wrappings an import request offers, as
// AWS KMS names them: SHA-256 (the default) and SHA-1, which is what
// `openssl rsautl -oaep` and Node's crypto.publicEncrypt use unless told
// otherwise. The hash is the same for OAEP and MGF1.
var ImportWrappings = []string{WrapOAEPSHA256, wrapOAEPSHA1}

// WrapOAEPSHA1 is RSA-OAEP with SHA-1 (and MGF1-SHA-1).
const WrapOAEPSHA1 = wrapOAEPSHA1

// ErrImportBadWrappingSHA1 is ErrImportBadWrapping for a request that
// chose SHA-1.
var ErrImportBadWrappingSHA1 = &keysvc.ValidationError{Field: "wrapped_key", Message: "did not unwrap with this request's key: wrap it with RSA-OAEP, SHA-1 (the wrapping this request chose), with the public key of this request, and base64 it"}

// ImportRequestInput is a new import request: a new key (store and name)
// or, with ReimportKeyID, the re-import of an existing key's material from
// the tenant's backup. Wrapping "" is RSAES_OAEP_SHA_256.
type ImportRequestInput struct {
	StoreID       string
	KeyName       string
	Wrapping      string
	ReimportKeyID string
}

// ParseImportWrapping reads a requested wrapping: "" is the default
// (RSAES_OAEP_SHA_256); anything but the two offered is refused, naming
// them.
func ParseImportWrapping(s string) (string, error) {
	switch w := strings.TrimSpace(s); w {
	case "":
		return WrapOAEPSHA256, nil
	case WrapOAEPSHA256, wrapOAEPSHA1:
		return w, nil
	}
	return "", &keysvc.ValidationError{Field: "wrapping", Message: "must be RSAES_OAEP_SHA_256 (the default) or RSAES_OAEP_SHA_1"}
}

// importHash is the hash of a request's wrapping and the refusal of an
// upload that did not unwrap with it. Rows made before requests had a
// wrapping are SHA-256.
func importHash(wrapping string) (hash.Hash, *keysvc.ValidationError) {
	if wrapping == wrapOAEPSHA1 {
		return sha1.New(), ErrImportBadWrappingSHA1
	}
	return sha256.New(), ErrImportBadWrapping
}

// reimportTarget is the key a re-import request names: a key of the tenant
// whose material keyport imported into KMS, enabled or disabled.
func (s *Service) reimportTarget(ctx context.Context, tenantID, keyID string) (*models.Key, *models.ManagedKey, error) {
	k, mk, err := s.kmsManagedKey(ctx, tenantID, keyID, models.StateEnabled, models.StateDisabled)
	var ve *keysvc.ValidationError
	switch {
	case errors.Is(err, keysvc.ErrKeyNotFound), errors.Is(err, ErrNotManaged):
		return nil, nil, &keysvc.ValidationError{Field: "key_id", Message: "choose one of your keys whose material keyport imported into your KMS"}
	case errors.As(err, &ve):
		return nil, nil, &keysvc.ValidationError{Field: "key_id", Message: ve.Message}
	}
	return k, mk, err
}

// completeReimport re-imports a key's material from the tenant's backup:
// the upload must be that key's material (same fingerprint, and the same
// bytes as keyport's sealed copy), and is then imported again into its own
// KMS key by a re-upload operation (retry-safe, like every operation). A
// different material is refused naming both fingerprints, and leaves the
// request open.
func (s *Service) completeReimport(ctx context.Context, tenantID string, by keysvc.RequestBy, r *models.ImportRequest, plain []byte) (*OperationResult, error) {
	k, _, err := s.reimportTarget(ctx, tenantID, r.ReimportKeyID)
	if err != nil {
		return nil, err
	}
	fp, err := keysvc.Fingerprint(plain)
	if err != nil {
		return nil, err
	}
	mats, err := s.db.KeyMaterials(ctx, tenantID, k.ID)
	if err != nil {
		return nil, err
	}
	var match *models.KeyMaterial
	var known []string
	for i := range mats {
		m := &mats[i]
		if m.KMSKeyARN == "" || (m.State != models.MaterialActive && m.State != models.MaterialPrevious) {
			continue
		}
		known = append(known, m.Fingerprint)
		if m.Fingerprint == fp && match == nil {
			match = m
		}
	}
	mismatch := &keysvc.ValidationError{Field: "wrapped_key", Message: "fingerprint mismatch: the uploaded key has fingerprint " + fp +
		", but the material of key " + k.Name + " has fingerprint " + strings.Join(known, " or ") + ": upload your backup of this key's material"}
	if match == nil {
		return nil, mismatch
	}
	sealed, err := s.openMaterial(match.ID, match.Sealed, match.Fingerprint)
	if err != nil {
		return nil, err
	}
	same := subtle.ConstantTimeCompare(sealed, plain) == 1
	clear(sealed)
	if !same { // three bytes of fingerprint matched by chance
		return nil, mismatch
	}
	if err := s.db.ClaimImportRequest(ctx, tenantID, r.ID); err != nil {
		if errors.Is(err, models.ErrConflict) || errors.Is(err, models.ErrNotFound) {
			return nil, ErrImportTokenUsed
		}
		return nil, err
	}
	res, err := s.Reupload(ctx, tenantID, by, k.ID, match.ID)
	if err != nil {
		_ = s.db.ReopenImportRequest(ctx, tenantID, r.ID) // nothing was started: the token still works
		return nil, err
	}
	if err := s.db.CompleteImportRequest(ctx, tenantID, r.ID, k.ID, by.Audit("import_request.used",
		map[string]string{"key_id": k.ID, "fingerprint": fp, "material": match.ID, "reimport": "true"})); err != nil {
		return nil, err
	}
	return res, nil
}
