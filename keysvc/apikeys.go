package keysvc

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"keyport/keysvc/seal"
	"keyport/models"
)

// Tenant API keys look like "kpa_<key id>_<secret>": the id ("kak_...")
// finds the row, the 256-bit secret is checked against its SHA-256 in
// constant time. They authenticate the management API with the rights of
// one tenant role.
const apiKeyPrefix = "kpa_"

// ErrAPIKeyInvalid: no such key, a wrong secret, a revoked or an expired
// key. They look alike to the caller on purpose.
var ErrAPIKeyInvalid = errors.New("keysvc: API key is missing, invalid, expired or revoked")

// MaxAPIKeyLifetime bounds an API key's expiry; a key without one is not
// offered.
const MaxAPIKeyLifetime = 365 * 24 * time.Hour

// APIKeyInfo is an authenticated tenant API key.
type APIKeyInfo struct {
	ID       string
	TenantID string
	Name     string
	Role     models.Role
	// CreatedBy is who created the key: a member's user id, or the name
	// of the command ("cli") for keys an operator made.
	CreatedBy string
}

// NewAPIKey creates a tenant API key and returns it in full, the only time
// it is ever shown. lifetime 0 means the longest allowed. A key made with
// another key belongs to that key's creator (by.Person): approvals count
// persons.
func (s *Service) NewAPIKey(ctx context.Context, tenantID string, by RequestBy, name string, role models.Role, lifetime time.Duration) (string, *models.APIKey, error) {
	if lifetime == 0 {
		lifetime = MaxAPIKeyLifetime
	}
	if lifetime < time.Hour || lifetime > MaxAPIKeyLifetime {
		return "", nil, &ValidationError{Field: "expires", Message: "must be between 1 hour and 365 days"}
	}
	secret := make([]byte, 32)
	if _, err := io.ReadFull(s.rand, secret); err != nil {
		return "", nil, fmt.Errorf("keysvc: read random: %w", err)
	}
	enc := base64.RawURLEncoding.EncodeToString(secret)
	clear(secret)
	sum := sha256.Sum256([]byte(enc))
	expires := s.now().Add(lifetime)
	k := &models.APIKey{ID: models.NewID(models.PrefixAPIKey), TenantID: tenantID, Name: name, Role: role,
		SecretHash: sum[:], CreatedBy: by.Person(), ExpiresAt: &expires}
	audit := by.Audit("api_key.created", map[string]string{"name": name, "role": string(role), "expires_at": expires.UTC().Format(time.RFC3339)})
	if err := s.db.CreateAPIKey(ctx, k, audit); err != nil {
		return "", nil, err
	}
	return apiKeyPrefix + k.ID + "_" + enc, k, nil
}

// RevokeAPIKey revokes one of a tenant's keys at once (every replica reads
// the row on each request).
func (s *Service) RevokeAPIKey(ctx context.Context, tenantID string, by RequestBy, id string) error {
	return s.db.RevokeAPIKey(ctx, tenantID, id, by.Audit("api_key.revoked", nil))
}

// APIKeyState names a key's state at now: active, expired or revoked.
func APIKeyState(k *models.APIKey, now time.Time) string {
	switch {
	case k.RevokedAt != nil:
		return "revoked"
	case !k.Usable(now):
		return "expired"
	}
	return "active"
}

// apiKeyTouchEvery is how stale a key's "last used" may get: a script
// calling in a loop writes it at most once a minute.
const apiKeyTouchEvery = time.Minute

// AuthenticateAPIKey checks a presented tenant API key.
func (s *Service) AuthenticateAPIKey(ctx context.Context, presented string) (APIKeyInfo, error) {
	rest, ok := strings.CutPrefix(presented, apiKeyPrefix)
	if !ok || len(presented) > 200 || !strings.HasPrefix(rest, models.PrefixAPIKey) {
		return APIKeyInfo{}, ErrAPIKeyInvalid
	}
	i := strings.IndexByte(rest[len(models.PrefixAPIKey):], '_')
	if i < 0 {
		return APIKeyInfo{}, ErrAPIKeyInvalid
	}
	id, secret := rest[:len(models.PrefixAPIKey)+i], rest[len(models.PrefixAPIKey)+i+1:]
	if len(secret) != 43 {
		return APIKeyInfo{}, ErrAPIKeyInvalid
	}
	k, err := s.db.GetAPIKey(ctx, id)
	if errors.Is(err, models.ErrNotFound) {
		return APIKeyInfo{}, ErrAPIKeyInvalid
	}
	if err != nil {
		return APIKeyInfo{}, err
	}
	sum := sha256.Sum256([]byte(secret))
	now := s.now()
	if subtle.ConstantTimeCompare(sum[:], k.SecretHash) != 1 || !k.Usable(now) {
		return APIKeyInfo{}, ErrAPIKeyInvalid
	}
	if k.LastUsedAt == nil || now.Sub(*k.LastUsedAt) >= apiKeyTouchEvery {
		if err := s.db.TouchAPIKey(ctx, k.ID, now); err != nil {
			s.log.WarnContext(ctx, "record API key use", "api_key", k.ID, "err", err)
		}
	}
	return APIKeyInfo{ID: k.ID, TenantID: k.TenantID, Name: k.Name, Role: k.Role, CreatedBy: k.CreatedBy}, nil
}

// Idempotency records of the management API: a POST's first answer, kept
// sealed (an answer may show a secret once) for replays of the same
// Idempotency-Key by the same API key.

// IdempotencyTTL is how long a recorded answer is replayed.
const IdempotencyTTL = 24 * time.Hour

// IdempotencyRecordID names the record of apiKeyID's idempotency key.
func IdempotencyRecordID(apiKeyID, idemKey string) string {
	sum := sha256.Sum256([]byte(idemKey))
	return apiKeyID + "/" + base64.RawURLEncoding.EncodeToString(sum[:])
}

// IdempotentAnswer is a recorded answer.
type IdempotentAnswer struct {
	Status int
	Body   []byte
}

// ClaimIdempotencyKey claims record id for a request whose method, path and
// body hash to requestHash, or returns the recorded answer (Status 0 while
// the first request runs) and the first request's hash.
func (s *Service) ClaimIdempotencyKey(ctx context.Context, id string, requestHash []byte, maxAge time.Duration) (claimed bool, first []byte, ans IdempotentAnswer, err error) {
	rec, claimed, err := s.db.ClaimIdempotencyKey(ctx, id, requestHash, maxAge)
	if err != nil || claimed {
		return claimed, nil, IdempotentAnswer{}, err
	}
	ans.Status = rec.Status
	if len(rec.BodySealed) > 0 {
		if ans.Body, err = s.sealer.Open(seal.IdempotencyPurpose(id), rec.BodySealed); err != nil {
			return false, nil, IdempotentAnswer{}, fmt.Errorf("open idempotent answer: %w", err)
		}
	}
	return false, rec.RequestHash, ans, nil
}

// FinishIdempotencyKey records the answer of a claimed request, sealed.
func (s *Service) FinishIdempotencyKey(ctx context.Context, id string, ans IdempotentAnswer) error {
	var sealed []byte
	if len(ans.Body) > 0 {
		var err error
		if sealed, err = s.sealer.Seal(seal.IdempotencyPurpose(id), ans.Body); err != nil {
			return fmt.Errorf("seal idempotent answer: %w", err)
		}
	}
	return s.db.FinishIdempotencyKey(ctx, id, ans.Status, sealed)
}

// ReleaseIdempotencyKey forgets a claim whose request failed (500 or
// more), so the caller may retry with the same key.
func (s *Service) ReleaseIdempotencyKey(ctx context.Context, id string) error {
	return s.db.ReleaseIdempotencyKey(ctx, id)
}
