package keysvc

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"keyport/keysvc/awskms"
	"keyport/keysvc/envelope"
	"keyport/models"
)

// A held key (mode 3 when the provider keeps imported material for its own
// use) has no KMS key: keyport wraps each data key itself, with AES-256-GCM
// under the key's sealed material, and records the wrap in region
// HeldRegion with a KMSKeyARN naming the material ("keyport:material/ID").
// The data path unwraps it like a KMS wrap, without a KMS call.
const (
	HeldRegion     = "keyport"
	heldNamePrefix = "keyport:material/"
)

// HeldName is what a held wrap records in place of a KMS key ARN.
func HeldName(materialID string) string { return heldNamePrefix + materialID }

// heldAAD binds a held wrap to its tenant, key, version and material.
func heldAAD(tenantID, keyID string, version int64, materialID string) []byte {
	return []byte("keyport held data key v1\x00" + tenantID + "\x00" + keyID + "\x00" + strconv.FormatInt(version, 10) + "\x00" + materialID)
}

// WrapHeld draws a new data key and wraps it under a held key's material.
// The plaintext is zeroed before returning.
func (s *Service) WrapHeld(ctx context.Context, tenantID, keyID string, version int64, materialID string) (models.DataKeyWrap, error) {
	mat, err := s.db.GetKeyMaterial(ctx, tenantID, materialID)
	if err != nil {
		return models.DataKeyWrap{}, fmt.Errorf("keysvc: load held material: %w", err)
	}
	kek, err := s.openMaterial(mat.ID, mat.Sealed, mat.Fingerprint)
	if err != nil {
		return models.DataKeyWrap{}, err
	}
	defer clear(kek)
	dk := make([]byte, 32)
	defer clear(dk)
	if _, err := io.ReadFull(s.rand, dk); err != nil {
		return models.DataKeyWrap{}, fmt.Errorf("keysvc: read random: %w", err)
	}
	aead, err := heldAEAD(kek)
	if err != nil {
		return models.DataKeyWrap{}, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(dk)+aead.Overhead())
	if _, err := io.ReadFull(s.rand, nonce); err != nil {
		return models.DataKeyWrap{}, fmt.Errorf("keysvc: read random: %w", err)
	}
	ct := aead.Seal(nonce, nonce, dk, heldAAD(tenantID, keyID, version, materialID))
	return models.DataKeyWrap{Region: HeldRegion, KMSKeyARN: HeldName(materialID), Ciphertext: ct}, nil
}

// unwrapHeld opens a held wrap of key m. The caller zeroes the result.
func (s *Service) unwrapHeld(ctx context.Context, m keyMeta, w models.DataKeyWrap) ([]byte, error) {
	materialID, ok := strings.CutPrefix(w.KMSKeyARN, heldNamePrefix)
	if !ok {
		return nil, errors.New("keysvc: held wrap does not name its material")
	}
	mat, err := s.db.GetKeyMaterial(ctx, m.TenantID, materialID)
	if errors.Is(err, models.ErrNotFound) || (err == nil && (mat.KeyID != m.ID || len(mat.Sealed) == 0)) {
		return nil, awskms.ErrKeyPendingDeletion // the material was erased with the key
	}
	if err != nil {
		return nil, fmt.Errorf("keysvc: load held material: %w", err)
	}
	kek, err := s.openMaterial(mat.ID, mat.Sealed, mat.Fingerprint)
	if err != nil {
		return nil, err
	}
	defer clear(kek)
	aead, err := heldAEAD(kek)
	if err != nil {
		return nil, err
	}
	if len(w.Ciphertext) < aead.NonceSize()+aead.Overhead() {
		return nil, envelope.ErrDecrypt
	}
	ns := aead.NonceSize()
	dk, err := aead.Open(nil, w.Ciphertext[:ns], w.Ciphertext[ns:], heldAAD(m.TenantID, m.ID, w.Version, materialID))
	if err != nil || len(dk) != 32 {
		clear(dk)
		return nil, envelope.ErrDecrypt
	}
	return dk, nil
}

func heldAEAD(kek []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// heldChecks validate a held key without KMS: its active material opens
// and matches its fingerprint, and the current data key unwraps under it.
func (s *Service) heldChecks(ctx context.Context, k *models.Key) []Check {
	open := Check{Name: "Material", Kind: CheckMaterial, Required: true}
	trip := Check{Name: "Data key", Kind: CheckHeldDataKey, Required: true}
	mat, err := s.db.ActiveMaterial(ctx, k.TenantID, k.ID)
	if err == nil {
		var plain []byte
		if plain, err = s.openMaterial(mat.ID, mat.Sealed, mat.Fingerprint); err == nil {
			clear(plain)
			open.OK, open.Detail = true, "keyport holds the material (fingerprint "+mat.Fingerprint+"); it is not in any KMS"
		}
	}
	if !open.OK {
		open.Detail, open.Health = "keyport cannot open the key's material", models.HealthUnreachable
		trip.Skipped, trip.Detail = true, "skipped: the material did not open"
		return []Check{open, trip}
	}
	ws, err := s.db.DataKeyWraps(ctx, k.TenantID, k.ID, k.CurrentVersion)
	if err == nil && len(ws) > 0 {
		var dk []byte
		if dk, err = s.unwrapHeld(ctx, metaOf(k), ws[0]); err == nil {
			clear(dk)
			trip.OK, trip.Detail = true, "data-key version "+strconv.FormatInt(k.CurrentVersion, 10)+" unwraps under the material"
		}
	}
	if !trip.OK {
		trip.Detail, trip.Health = "the current data key does not unwrap under the material", models.HealthUnreachable
	}
	return []Check{open, trip}
}
