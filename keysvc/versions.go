package keysvc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"keyport/models"
)

// ErrVersionRetired: the ciphertext's data-key version is older than the
// key's minimum decryption version. Errors of this kind are
// *VersionRetiredError, which says which minimum is set.
var ErrVersionRetired = errors.New("keysvc: the ciphertext's key version is retired")

// VersionRetiredError is a decrypt or rewrap refused because the tenant
// retired the ciphertext's data-key version.
type VersionRetiredError struct {
	Version int64 // the ciphertext's version
	Min     int64 // the key's minimum decryption version
}

func (e *VersionRetiredError) Error() string { return e.PublicMessage() }

// Is makes errors.Is(err, ErrVersionRetired) true.
func (e *VersionRetiredError) Is(target error) bool { return target == ErrVersionRetired }

// PublicMessage says what was refused and why, safe to show the caller.
func (e *VersionRetiredError) PublicMessage() string {
	return fmt.Sprintf("The ciphertext is under key version %d, but the key's owner set its minimum decryption version to %d: older versions no longer decrypt.", e.Version, e.Min)
}

// Rewrap opens a ciphertext and seals its plaintext again under the key's
// current data-key version with the same context, so a service can move
// its stored ciphertexts off old versions without ever seeing plaintext.
// It counts as a decrypt of the old version and an encrypt of the new, and
// refuses what Decrypt refuses (a wrong context, a retired version).
func (s *Service) Rewrap(ctx context.Context, tenantID string, ciphertext []byte, context map[string]string) (*Encrypted, error) {
	dec, err := s.Decrypt(ctx, tenantID, ciphertext, context)
	if err != nil {
		return nil, err
	}
	defer clear(dec.Plaintext)
	if s.afterOpen != nil {
		s.afterOpen()
	}
	return s.Encrypt(ctx, tenantID, dec.KeyID, dec.Plaintext, context)
}

// SetMinDecryptionVersion sets the oldest data-key version of a tenant's
// key that still decrypts (1 retires nothing). It may not exceed the
// current version; lowering it again is allowed. Each change is audited as
// key.min_decryption_version_changed and reaches every replica's key table
// by its revision.
func (s *Service) SetMinDecryptionVersion(ctx context.Context, tenantID, keyID string, min int64, by RequestBy) (*models.Key, error) {
	k, err := s.db.SetMinDecryptionVersion(ctx, tenantID, keyID, min, by.Audit("", nil))
	if errors.Is(err, models.ErrNotFound) {
		return nil, ErrKeyNotFound
	}
	if err != nil {
		return nil, err
	}
	s.dp.keys.apply(k)
	return k, nil
}

// VersionUse is one data-key version and its use through keyport, as
// counted up to the last usage write (a few minutes at most behind). Its
// first five fields are the management API's version item.
type VersionUse struct {
	Version    int64
	CreatedAt  time.Time
	Encrypts   int64
	Decrypts   int64
	LastUsedAt *time.Time // nil: never used
	// LastDecryptAt is the last decrypt, nil if none.
	LastDecryptAt *time.Time
	Reason        string // why it was made: register, manual, scheduled, retired
	// SupersededAt is when the next version became current; nil for the
	// current version.
	SupersededAt *time.Time
	Current      bool
	Retired      bool // below the key's minimum decryption version
}

// SafeToRetire reports whether nothing has decrypted under an old version
// for idle: it stopped encrypting (a newer version became current) and had
// no decrypt since, both at least idle ago. The current version never is.
func (v VersionUse) SafeToRetire(now time.Time, idle time.Duration) bool {
	if v.Current || v.SupersededAt == nil {
		return false
	}
	quiet := *v.SupersededAt
	if v.LastDecryptAt != nil && v.LastDecryptAt.After(quiet) {
		quiet = *v.LastDecryptAt
	}
	return now.Sub(quiet) >= idle
}

// KeyVersions lists a tenant key's data-key versions, newest first, with
// their use.
func (s *Service) KeyVersions(ctx context.Context, tenantID, keyID string) ([]VersionUse, error) {
	k, err := s.db.GetKey(ctx, tenantID, keyID)
	if errors.Is(err, models.ErrNotFound) {
		return nil, ErrKeyNotFound
	}
	if err != nil {
		return nil, err
	}
	vs, err := s.db.DataKeyVersions(ctx, tenantID, keyID)
	if err != nil {
		return nil, err
	}
	return VersionUses(k, vs), nil
}

// VersionUses is KeyVersions of a key and its versions (newest first) the
// caller loaded already.
func VersionUses(k *models.Key, vs []models.DataKeyVersion) []VersionUse {
	out := make([]VersionUse, len(vs))
	for i, v := range vs {
		out[i] = VersionUse{Version: v.Version, CreatedAt: v.CreatedAt, Encrypts: v.Encrypts, Decrypts: v.Decrypts,
			LastUsedAt: v.LastUsedAt, LastDecryptAt: v.LastDecryptAt, Reason: v.Reason, Current: v.Version == k.CurrentVersion,
			Retired: v.Version < k.MinDecryptionVersion}
		if i > 0 { // newest first: the one before is the next version
			t := vs[i-1].CreatedAt
			out[i].SupersededAt = &t
		}
	}
	return out
}
