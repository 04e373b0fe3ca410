package seal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
)

// Sealed blob format, version 1:
//
//	version (1 byte, = 1) | kek id (8 bytes) | nonce (12 bytes) | AES-256-GCM ciphertext and 16-byte tag
//
// The associated data is sealADPrefix + purpose, which binds a blob to what it
// is for: a blob sealed as "iam-secret/conn_x" does not open as
// "audit-hmac-key", so a row copied into the wrong place fails instead of
// being used.
const (
	sealVersion1  = 1
	KEKSize       = 32
	kekIDSize     = 8
	sealNonceSize = 12
	sealTagSize   = 16
	sealHeader    = 1 + kekIDSize + sealNonceSize
	sealOverhead  = sealHeader + sealTagSize
	sealADPrefix  = "keyport-seal-v1\x00"
	kekIDLabel    = "keyport-kek-id-v1\x00"
)

// ErrSealedCorrupt is returned when a sealed blob is malformed, was altered,
// or was sealed for another purpose. The causes are deliberately not told
// apart beyond that.
var ErrSealedCorrupt = errors.New("seal: sealed data is corrupt or was sealed for another purpose")

// ErrWrongKEK is returned (matching ErrSealedCorrupt too) when a blob names
// another key-encryption key than the sealer's: usually a misconfigured KEK
// file, which the operator can act on.
var ErrWrongKEK = errors.New("seal: sealed with another key-encryption key")

// ErrSealerClosed is returned by a Sealer after Close.
var ErrSealerClosed = errors.New("seal: sealer is closed")

// wrongKEKError names both KEK ids (fingerprints, which reveal nothing).
type wrongKEKError struct{ blob, ours string }

// Error implements error.
func (e *wrongKEKError) Error() string {
	return fmt.Sprintf("seal: sealed with another key-encryption key (kek id %s, this key is %s)", e.blob, e.ours)
}

// Is lets callers test for either ErrWrongKEK or the broader ErrSealedCorrupt.
func (e *wrongKEKError) Is(target error) bool {
	return target == ErrWrongKEK || target == ErrSealedCorrupt
}

// Sealer encrypts secrets at rest under the provider key-encryption key (KEK).
// During a KEK rotation it also holds previous KEKs, which only open: every
// blob names its KEK by id, so a blob opens under whichever key sealed it
// while new blobs are always sealed under the current one. It is safe for
// concurrent use.
type Sealer struct {
	rand io.Reader
	kid  [kekIDSize]byte

	mu       sync.RWMutex // Close and AddPrevious vs Seal/Open
	key      []byte
	aead     cipher.AEAD
	previous []openKey // open-only KEKs, see AddPrevious
}

// openKey is a previous KEK: it opens blobs that name it and seals nothing.
type openKey struct {
	kid  [kekIDSize]byte
	key  []byte
	aead cipher.AEAD
}

// NewSealer returns a Sealer for kek, which must be exactly 32 bytes. The
// Sealer keeps its own copy; the caller may zero kek afterwards.
func NewSealer(kek []byte) (*Sealer, error) {
	return NewSealerWithRand(kek, rand.Reader)
}

// NewSealerWithRand is NewSealer with the source of nonces injected; tests use
// it to pin the output. Production code uses NewSealer (crypto/rand).
func NewSealerWithRand(kek []byte, random io.Reader) (*Sealer, error) {
	if len(kek) != KEKSize {
		return nil, fmt.Errorf("seal: key-encryption key is %d bytes, want %d", len(kek), KEKSize)
	}
	if random == nil {
		return nil, errors.New("seal: sealer random source is nil")
	}
	key := bytes.Clone(kek)
	aead, err := newSealAEAD(key)
	if err != nil {
		return nil, err
	}
	s := &Sealer{rand: random, key: key, aead: aead}
	s.kid = kekID(key)
	return s, nil
}

func newSealAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("create sealer cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("create sealer cipher: %w", err)
	}
	return aead, nil
}

// AddPrevious lets the Sealer open blobs sealed under kek, an earlier KEK,
// while it keeps sealing under its current one: the state of every replica
// during a KEK rotation (see RotateKEK). kek must be 32 bytes and differ
// from the current KEK; the Sealer keeps its own copy.
func (s *Sealer) AddPrevious(kek []byte) error {
	if len(kek) != KEKSize {
		return fmt.Errorf("seal: previous key-encryption key is %d bytes, want %d", len(kek), KEKSize)
	}
	kid := kekID(kek)
	if kid == s.kid {
		// Almost always the old file copied over the new one, or the two
		// variables naming the same file: a rotation would change nothing.
		return errors.New("seal: the previous key-encryption key is the same as the current one")
	}
	key := bytes.Clone(kek)
	aead, err := newSealAEAD(key)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.aead == nil {
		clear(key)
		return ErrSealerClosed
	}
	for _, p := range s.previous {
		if p.kid == kid {
			clear(key)
			return nil
		}
	}
	s.previous = append(s.previous, openKey{kid: kid, key: key, aead: aead})
	return nil
}

// PreviousKeyIDs returns the ids of the open-only KEKs (see AddPrevious).
func (s *Sealer) PreviousKeyIDs() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.previous))
	for _, p := range s.previous {
		out = append(out, hex.EncodeToString(p.kid[:]))
	}
	return out
}

// IsCurrent reports whether sealed is a blob naming the current KEK, that is
// one a KEK rotation has nothing left to do for. It does not authenticate
// the blob.
func (s *Sealer) IsCurrent(sealed []byte) bool {
	return len(sealed) >= sealOverhead && sealed[0] == sealVersion1 &&
		subtle.ConstantTimeCompare(sealed[1:1+kekIDSize], s.kid[:]) == 1
}

// Reseal opens a blob sealed for purpose under any KEK the Sealer holds and
// seals its plaintext again under the current KEK. The plaintext never
// leaves the Sealer.
func (s *Sealer) Reseal(purpose string, sealed []byte) ([]byte, error) {
	plaintext, err := s.Open(purpose, sealed)
	if err != nil {
		return nil, err
	}
	defer clear(plaintext)
	return s.Seal(purpose, plaintext)
}

// kekID is the fingerprint of a KEK: SHA-256 over a fixed label and the key,
// truncated. Without the key it tells nothing about it.
func kekID(key []byte) [kekIDSize]byte {
	h := sha256.New()
	h.Write([]byte(kekIDLabel))
	h.Write(key)
	var id [kekIDSize]byte
	copy(id[:], h.Sum(nil))
	return id
}

// KeyID returns the KEK fingerprint as 16 hex characters, for logs and for
// telling which KEK sealed a blob.
func (s *Sealer) KeyID() string {
	return hex.EncodeToString(s.kid[:])
}

// Seal encrypts plaintext for purpose, which must not be empty.
func (s *Sealer) Seal(purpose string, plaintext []byte) ([]byte, error) {
	if purpose == "" {
		return nil, errors.New("seal: purpose is empty")
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.aead == nil {
		return nil, ErrSealerClosed
	}
	out := make([]byte, sealHeader, sealOverhead+len(plaintext))
	out[0] = sealVersion1
	copy(out[1:], s.kid[:])
	nonce := out[1+kekIDSize : sealHeader]
	if _, err := io.ReadFull(s.rand, nonce); err != nil {
		return nil, fmt.Errorf("read seal nonce: %w", err)
	}
	return s.aead.Seal(out, nonce, plaintext, sealAD(purpose)), nil
}

// Open decrypts a blob sealed for purpose. Any malformed, altered or
// wrong-purpose blob gives ErrSealedCorrupt; a blob of another KEK gives an
// error matching both ErrWrongKEK and ErrSealedCorrupt.
func (s *Sealer) Open(purpose string, sealed []byte) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.aead == nil {
		return nil, ErrSealerClosed
	}
	if len(sealed) < sealOverhead || sealed[0] != sealVersion1 {
		return nil, ErrSealedCorrupt
	}
	aead := s.aeadFor(sealed[1 : 1+kekIDSize])
	if aead == nil {
		return nil, &wrongKEKError{blob: hex.EncodeToString(sealed[1 : 1+kekIDSize]), ours: s.KeyID()}
	}
	nonce := sealed[1+kekIDSize : sealHeader]
	plaintext, err := aead.Open(nil, nonce, sealed[sealHeader:], sealAD(purpose))
	if err != nil {
		return nil, ErrSealedCorrupt
	}
	return plaintext, nil
}

// aeadFor picks the KEK a blob names: the current one or a previous one.
// The caller holds s.mu.
func (s *Sealer) aeadFor(kid []byte) cipher.AEAD {
	if subtle.ConstantTimeCompare(kid, s.kid[:]) == 1 {
		return s.aead
	}
	for _, p := range s.previous {
		if subtle.ConstantTimeCompare(kid, p.kid[:]) == 1 {
			return p.aead
		}
	}
	return nil
}

// sealAD is the associated data for purpose.
func sealAD(purpose string) []byte {
	return append([]byte(sealADPrefix), purpose...)
}

// Close zeroes the Sealer's copy of the KEK; later calls fail with
// ErrSealerClosed. (The AES key schedule inside crypto/aes cannot be reached;
// dropping the AEAD leaves it to the garbage collector.)
func (s *Sealer) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.key)
	s.key, s.aead = nil, nil
	for _, p := range s.previous {
		clear(p.key)
	}
	s.previous = nil
}

// String redacts: a Sealer printed by accident shows only its KEK id.
func (s *Sealer) String() string {
	return "keysvc.Sealer{kek_id: " + s.KeyID() + "}"
}

// LogValue implements slog.LogValuer with the same redacted form as String.
func (s *Sealer) LogValue() slog.Value {
	return slog.StringValue(s.String())
}
