package keysvc

import (
	"crypto/aes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"keyport/keysvc/seal"
)

// MaterialSize is the size of every key material keyport holds: AES-256,
// the only symmetric material AWS KMS imports.
const MaterialSize = 32

// Fingerprint is the key check value of AES material: the first three
// bytes of AES-256-ECB of a zero block, as hex. It identifies the material
// (for comparing an export with what keyport holds) and reveals nothing
// usable about it. With openssl:
//
//	head -c 16 /dev/zero | openssl enc -aes-256-ecb -nopad -K <64 hex digits> | head -c 3 | xxd -p
func Fingerprint(material []byte) (string, error) {
	if len(material) != MaterialSize {
		return "", fmt.Errorf("keysvc: material is %d bytes, want %d", len(material), MaterialSize)
	}
	b, err := aes.NewCipher(material)
	if err != nil {
		return "", err
	}
	var zero, out [aes.BlockSize]byte
	b.Encrypt(out[:], zero[:])
	return strings.ToUpper(hex.EncodeToString(out[:3])), nil
}

// openMaterial opens sealed material and checks it against its recorded
// fingerprint, so a corrupted or swapped blob is never imported or
// exported. The caller zeroes the result.
func (s *Service) openMaterial(materialID string, sealed []byte, fingerprint string) ([]byte, error) {
	return OpenMaterial(s.sealer, materialID, sealed, fingerprint)
}

// OpenMaterial opens material sealed by sl and checks it against its
// recorded fingerprint. The caller zeroes the result.
func OpenMaterial(sl *seal.Sealer, materialID string, sealed []byte, fingerprint string) ([]byte, error) {
	plain, err := sl.Open(seal.MaterialPurpose(materialID), sealed)
	if err != nil {
		return nil, fmt.Errorf("keysvc: open key material: %w", err)
	}
	if fp, err := Fingerprint(plain); err != nil || fp != fingerprint {
		clear(plain)
		return nil, errors.New("keysvc: key material does not match its recorded fingerprint")
	}
	return plain, nil
}
