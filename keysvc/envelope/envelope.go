package envelope

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"keyport/models"
	"slices"
	"sync/atomic"
)

// Record ciphertext format, version 1. Every field is fixed-size or
// length-prefixed, so a parser never reads past what it was given:
//
//	version      1 byte   = 1
//	key id len   1 byte   1..64
//	key id       n bytes  keyport's key id (ASCII)
//	key version  4 bytes  big-endian data-key version
//	commitment  32 bytes  HKDF(data key, "keyport record v1 commit")
//	nonce       12 bytes  random
//	sealed       rest     AES-256-GCM(HKDF(data key, "… encrypt"), nonce, plaintext, aad)
//
// The associated data binds the whole header, the tenant id and the caller's
// context, so a ciphertext neither opens under another tenant or context nor
// can be re-pointed at another key or version. The commitment is checked
// before decrypting, so one ciphertext cannot open under two data keys (GCM
// alone is not key-committing).
const (
	envelopeV1    byte = 1
	maxKeyIDLen        = 64
	commitSize         = 32
	nonceSize          = 12
	tagSize            = 16
	minCiphertext      = 1 + 1 + 1 + 4 + commitSize + nonceSize + tagSize
)

// Limits on the caller's encryption context, checked before any crypto.
const (
	MaxContextPairs    = 16
	MaxContextKeyLen   = 128
	MaxContextValueLen = 1024
)

var (
	// ErrMalformedCiphertext is a ciphertext that is not in keyport's format.
	ErrMalformedCiphertext = errors.New("envelope: malformed ciphertext")
	// ErrDecrypt is a well-formed ciphertext that does not open with this
	// key, tenant and context (tampered, or meant for someone else).
	ErrDecrypt = errors.New("envelope: ciphertext does not decrypt under this key, tenant and context")
)

// DataKey is a plaintext data key held in memory for record encryption. The
// cipher is built once per data key, never per call.
type DataKey struct {
	KeyID   string
	Version uint32
	aead    cipher.AEAD
	commit  [commitSize]byte
	retired atomic.Bool
}

// NewDataKey prepares a 32-byte data key for use and zeroes raw once the
// record key and commitment are derived from it: the plaintext data key
// itself is never held longer than that.
func NewDataKey(keyID string, version uint32, raw []byte) (*DataKey, error) {
	if len(raw) != 32 {
		return nil, fmt.Errorf("envelope: data key must be 32 bytes, got %d", len(raw))
	}
	if len(keyID) == 0 || len(keyID) > maxKeyIDLen {
		return nil, fmt.Errorf("envelope: key id must be 1 to %d bytes", maxKeyIDLen)
	}
	encKey, err := hkdf.Key(sha256.New, raw, nil, "keyport record v1 encrypt", 32)
	if err != nil {
		return nil, fmt.Errorf("envelope: derive record key: %w", err)
	}
	defer clear(encKey)
	commit, err := hkdf.Key(sha256.New, raw, nil, "keyport record v1 commit", commitSize)
	if err != nil {
		return nil, fmt.Errorf("envelope: derive commitment: %w", err)
	}
	block, err := aes.NewCipher(encKey)
	if err != nil {
		return nil, fmt.Errorf("envelope: record cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("envelope: record cipher: %w", err)
	}
	k := &DataKey{KeyID: keyID, Version: version, aead: aead}
	copy(k.commit[:], commit)
	clear(raw)
	return k, nil
}

// Destroy marks the key retired when it leaves the cache. There is nothing
// left to wipe: the raw key bytes were zeroed in NewDataKey, and the AES key
// schedule inside crypto/aes cannot be reached (it goes with the garbage
// collector). Destroy deliberately changes nothing a request still holding
// the key uses: sealing with a half-wiped key would write records that never
// decrypt.
func (k *DataKey) Destroy() { k.retired.Store(true) }

// destroyed reports whether Destroy ran (tests).
func (k *DataKey) destroyed() bool { return k.retired.Load() }

// header writes the ciphertext header for nonce.
func (k *DataKey) header(nonce []byte) []byte {
	h := make([]byte, 0, 2+len(k.KeyID)+4+commitSize+nonceSize)
	h = append(h, envelopeV1, byte(len(k.KeyID)))
	h = append(h, k.KeyID...)
	h = binary.BigEndian.AppendUint32(h, k.Version)
	h = append(h, k.commit[:]...)
	return append(h, nonce...)
}

// Seal encrypts plaintext for tenantID under the caller's context, with a
// fresh random nonce from random.
func (k *DataKey) Seal(random io.Reader, tenantID string, context map[string]string, plaintext []byte) ([]byte, error) {
	if err := CheckContext(context); err != nil {
		return nil, err
	}
	return k.SealChecked(random, tenantID, context, plaintext)
}

// SealChecked is Seal for a context the caller has checked already (the data
// path checks it before any cache or KMS work).
func (k *DataKey) SealChecked(random io.Reader, tenantID string, context map[string]string, plaintext []byte) ([]byte, error) {
	var nonce [nonceSize]byte
	if _, err := io.ReadFull(random, nonce[:]); err != nil {
		return nil, fmt.Errorf("envelope: read nonce: %w", err)
	}
	hdr := k.header(nonce[:])
	out := make([]byte, len(hdr), len(hdr)+len(plaintext)+tagSize)
	copy(out, hdr)
	return k.aead.Seal(out, nonce[:], plaintext, associatedData(hdr, tenantID, context)), nil
}

// Open decrypts a ciphertext sealed by this data key for tenantID and context.
func (k *DataKey) Open(tenantID string, context map[string]string, ciphertext []byte) ([]byte, error) {
	h, err := ParseCiphertext(ciphertext)
	if err != nil {
		return nil, err
	}
	if err := CheckContext(context); err != nil {
		return nil, err
	}
	return k.OpenParsed(h, tenantID, context)
}

// OpenParsed is Open for a ciphertext the caller has parsed and a context it has
// checked (the data path parses once to find the key).
func (k *DataKey) OpenParsed(h *CiphertextHeader, tenantID string, context map[string]string) ([]byte, error) {
	if h.KeyID != k.KeyID || h.Version != k.Version {
		return nil, ErrDecrypt
	}
	if !hmac.Equal(h.commit, k.commit[:]) {
		return nil, ErrDecrypt
	}
	pt, err := k.aead.Open(nil, h.nonce, h.sealed, associatedData(h.header, tenantID, context))
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// CiphertextHeader is what a ciphertext says about itself, read without any
// key: which key and data-key version can open it.
type CiphertextHeader struct {
	KeyID   string
	Version uint32
	header  []byte
	commit  []byte
	nonce   []byte
	sealed  []byte
}

// ParseCiphertext reads a ciphertext's header, checking every length before
// it is used. It never allocates from a length it has not checked.
func ParseCiphertext(b []byte) (*CiphertextHeader, error) {
	if len(b) < minCiphertext || b[0] != envelopeV1 {
		return nil, ErrMalformedCiphertext
	}
	n := int(b[1])
	if n == 0 || n > maxKeyIDLen || len(b) < minCiphertext-1+n {
		return nil, ErrMalformedCiphertext
	}
	keyID := b[2 : 2+n]
	for _, c := range keyID {
		if c < 0x21 || c > 0x7e {
			return nil, ErrMalformedCiphertext
		}
	}
	off := 2 + n
	h := &CiphertextHeader{KeyID: string(keyID), Version: binary.BigEndian.Uint32(b[off:])}
	off += 4
	h.commit = b[off : off+commitSize]
	off += commitSize
	h.nonce = b[off : off+nonceSize]
	off += nonceSize
	h.header, h.sealed = b[:off], b[off:]
	return h, nil
}

// CheckContext enforces the limits on an encryption context.
func CheckContext(context map[string]string) error {
	if len(context) > MaxContextPairs {
		return &models.ValidationError{Field: "context", Message: fmt.Sprintf("at most %d entries", MaxContextPairs)}
	}
	for k, v := range context {
		if k == "" || len(k) > MaxContextKeyLen {
			return &models.ValidationError{Field: "context", Message: fmt.Sprintf("keys must be 1 to %d bytes", MaxContextKeyLen)}
		}
		if len(v) > MaxContextValueLen {
			return &models.ValidationError{Field: "context", Message: fmt.Sprintf("values must be at most %d bytes", MaxContextValueLen)}
		}
	}
	return nil
}

// associatedData is a canonical, length-prefixed encoding of the header, the
// tenant and the context (keys sorted), so no two different inputs encode
// the same.
func associatedData(header []byte, tenantID string, context map[string]string) []byte {
	keys := make([]string, 0, len(context))
	for k := range context {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	ad := make([]byte, 0, 64+len(header)+len(tenantID))
	ad = append(ad, "keyport record v1\x00"...)
	ad = appendField(ad, header)
	ad = appendField(ad, []byte(tenantID))
	ad = binary.BigEndian.AppendUint32(ad, uint32(len(keys)))
	for _, k := range keys {
		ad = appendField(ad, []byte(k))
		ad = appendField(ad, []byte(context[k]))
	}
	return ad
}

func appendField(b, f []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
	return append(b, f...)
}
