package managed

import (
	"context"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"hash"
	"io"

	"keyport/keysvc"
	"keyport/keysvc/kwp"
	"keyport/keysvc/seal"
	"keyport/models"
)

// newMaterial draws 256 bits of key material and returns only its sealed
// record: the plaintext is zeroed before it returns.
func (s *Service) newMaterial(by keysvc.RequestBy) (*models.KeyMaterial, error) {
	plain := make([]byte, keysvc.MaterialSize)
	defer clear(plain) // sealed from here on; opened again only to import or export
	if _, err := io.ReadFull(s.rand, plain); err != nil {
		return nil, fmt.Errorf("keysvc: generate key material: %w", err)
	}
	return s.sealMaterial(models.SourceGenerated, by, plain)
}

// sealMaterial seals material under the KEK as a new material record (a
// fresh id, which the seal is bound to, and the fingerprint).
func (s *Service) sealMaterial(source string, by keysvc.RequestBy, plain []byte) (*models.KeyMaterial, error) {
	fp, err := keysvc.Fingerprint(plain)
	if err != nil {
		return nil, err
	}
	id := models.NewID("mat_")
	sealed, err := s.sealer.Seal(seal.MaterialPurpose(id), plain)
	if err != nil {
		return nil, fmt.Errorf("keysvc: seal key material: %w", err)
	}
	return &models.KeyMaterial{ID: id, Source: source, Sealed: sealed, Fingerprint: fp, CreatedBy: by.UserID}, nil
}

// materialOf is a key's material by id, or its active one for id "". An
// id naming another key's material is models.ErrNotFound too.
func (s *Service) materialOf(ctx context.Context, tenantID, keyID, materialID string) (*models.KeyMaterial, error) {
	if materialID == "" {
		return s.db.ActiveMaterial(ctx, tenantID, keyID)
	}
	m, err := s.db.GetKeyMaterial(ctx, tenantID, materialID)
	if err == nil && m.KeyID != keyID {
		return nil, models.ErrNotFound
	}
	return m, err
}

// openMaterial opens sealed material and checks its fingerprint.
func (s *Service) openMaterial(materialID string, sealed []byte, fingerprint string) ([]byte, error) {
	return keysvc.OpenMaterial(s.sealer, materialID, sealed, fingerprint)
}

// Wrapping algorithms keyport uses for import into KMS and for export.
const (
	WrapOAEPSHA256    = "RSAES_OAEP_SHA_256"       // RSA-OAEP with SHA-256 (and MGF1-SHA-256) of the material
	WrapRSAAESKWP256  = "RSA_AES_KEY_WRAP_SHA_256" // RSA-OAEP-SHA-256 of a fresh AES-256 key, then AES-KWP (RFC 5649) of the material
	wrapOAEPSHA1      = "RSAES_OAEP_SHA_1"
	wrapRSAAESKWPSHA1 = "RSA_AES_KEY_WRAP_SHA_1"
)

// wrapMaterial wraps material to an RSA public key with one of the AWS
// import algorithms. For the combined wrap the output is the RSA-OAEP
// block followed by the AES-KWP ciphertext, as KMS expects.
func (s *Service) wrapMaterial(pub *rsa.PublicKey, algorithm string, material []byte) ([]byte, error) {
	var h hash.Hash
	switch algorithm {
	case WrapOAEPSHA256, WrapRSAAESKWP256:
		h = sha256.New()
	case wrapOAEPSHA1, wrapRSAAESKWPSHA1:
		h = sha1.New()
	default:
		return nil, fmt.Errorf("keysvc: unsupported wrapping algorithm %q", algorithm)
	}
	if algorithm == WrapOAEPSHA256 || algorithm == wrapOAEPSHA1 {
		out, err := rsa.EncryptOAEP(h, s.rand, pub, material, nil)
		if err != nil {
			return nil, fmt.Errorf("keysvc: wrap key material: %w", err)
		}
		return out, nil
	}
	aesKey := make([]byte, 32)
	defer clear(aesKey)
	if _, err := io.ReadFull(s.rand, aesKey); err != nil {
		return nil, fmt.Errorf("keysvc: generate wrapping key: %w", err)
	}
	head, err := rsa.EncryptOAEP(h, s.rand, pub, aesKey, nil)
	if err != nil {
		return nil, fmt.Errorf("keysvc: wrap key material: %w", err)
	}
	tail, err := kwp.Wrap(aesKey, material)
	if err != nil {
		return nil, fmt.Errorf("keysvc: wrap key material: %w", err)
	}
	return append(head, tail...), nil
}

// parseRSAPublicDER parses the DER SubjectPublicKeyInfo KMS returns.
func parseRSAPublicDER(der []byte) (*rsa.PublicKey, error) {
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("keysvc: parse wrapping key: %w", err)
	}
	pub, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("keysvc: wrapping key is not RSA")
	}
	return pub, nil
}
