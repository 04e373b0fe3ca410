package seal

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	"keyport/models"
)

// SecretStore is the part of the store that keeps sealed secrets. Blobs are
// sealed by a Sealer before they reach the store.
type SecretStore interface {
	// GetSealedSecret returns the blob stored under name, or an error matching
	// models.ErrNotFound.
	GetSealedSecret(ctx context.Context, name string) ([]byte, error)
	// PutSealedSecretIfAbsent stores blob under name unless one is there, and
	// returns whichever blob is stored.
	PutSealedSecretIfAbsent(ctx context.Context, name string, blob []byte) ([]byte, error)
}

// AuditKeySecret is the sealed-secret name, and the seal purpose, of the audit
// chain's HMAC key.
const AuditKeySecret = "audit-hmac-key"

// auditKeySize is the HMAC-SHA256 key size.
const auditKeySize = 32

// AuditKey returns the audit-chain HMAC key: loaded from the sealed secret
// "audit-hmac-key" in the store, or generated (32 random bytes), sealed
// (purpose "audit-hmac-key") and stored on first start. When two processes
// start at once, both end up with the key that was stored first.
func AuditKey(ctx context.Context, store SecretStore, s *Sealer) ([]byte, error) {
	blob, err := store.GetSealedSecret(ctx, AuditKeySecret)
	if errors.Is(err, models.ErrNotFound) {
		blob, err = createAuditKey(ctx, store, s)
	}
	if err != nil {
		return nil, fmt.Errorf("load audit key: %w", err)
	}
	key, err := s.Open(AuditKeySecret, blob)
	if err != nil {
		return nil, fmt.Errorf("open audit key: %w", err)
	}
	if len(key) != auditKeySize {
		clear(key)
		return nil, fmt.Errorf("open audit key: %w", ErrSealedCorrupt)
	}
	return key, nil
}

// createAuditKey generates, seals and stores a new audit key and returns the
// blob that ended up stored (possibly another process's).
func createAuditKey(ctx context.Context, store SecretStore, s *Sealer) ([]byte, error) {
	key := make([]byte, auditKeySize)
	defer clear(key)
	_, _ = rand.Read(key) // crypto/rand.Read never fails
	blob, err := s.Seal(AuditKeySecret, key)
	if err != nil {
		return nil, fmt.Errorf("seal audit key: %w", err)
	}
	stored, err := store.PutSealedSecretIfAbsent(ctx, AuditKeySecret, blob)
	if err != nil {
		return nil, fmt.Errorf("store audit key: %w", err)
	}
	return stored, nil
}
