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
	"sync"
	"sync/atomic"
	"time"

	"keyport/models"
)

// Service tokens look like "kpt_<token id>_<secret>": the id finds the row,
// the 256-bit secret is checked against its SHA-256 in constant time.
const tokenPrefix = "kpt_"

var (
	// ErrTokenInvalid: no such token, a wrong secret, or a revoked token.
	// The three look alike to the caller on purpose.
	ErrTokenInvalid = errors.New("keysvc: service token is missing, invalid or revoked")
	// ErrTokenScope: the token may not act for this tenant.
	ErrTokenScope = errors.New("keysvc: service token is not allowed for this tenant")
)

// TokenInfo is an authenticated service token.
type TokenInfo struct {
	ID       string
	TenantID string // "" = provider-wide
	Name     string
}

// NewServiceToken creates a token and returns it in full, the only time it
// is ever shown. tenantID "" makes a provider-wide token.
func (s *Service) NewServiceToken(ctx context.Context, tenantID, name, actor string) (string, *models.ServiceToken, error) {
	secret := make([]byte, 32)
	if _, err := io.ReadFull(s.rand, secret); err != nil {
		return "", nil, fmt.Errorf("keysvc: read random: %w", err)
	}
	enc := base64.RawURLEncoding.EncodeToString(secret)
	clear(secret)
	sum := sha256.Sum256([]byte(enc))
	t := &models.ServiceToken{ID: models.NewID("tok_"), TenantID: tenantID, Name: name, SecretHash: sum[:], CreatedBy: actor}
	details := map[string]string{"name": name, "scope": "tenant"}
	if tenantID == "" {
		details["scope"] = "provider-wide"
	}
	if err := s.db.CreateServiceToken(ctx, t, models.AuditInput{Actor: actor, Action: "service_token.created", Details: details}); err != nil {
		return "", nil, err
	}
	s.tokens.apply(t)
	return tokenPrefix + t.ID + "_" + enc, t, nil
}

// RevokeServiceToken revokes a token on every replica (within one refresh).
func (s *Service) RevokeServiceToken(ctx context.Context, id, actor string) error {
	if err := s.db.RevokeServiceToken(ctx, id, models.AuditInput{Actor: actor, Action: "service_token.revoked"}); err != nil {
		return err
	}
	t, err := s.db.GetServiceToken(ctx, id)
	if err != nil {
		return err
	}
	s.tokens.apply(t)
	return nil
}

// Authenticate checks a presented token.
func (s *Service) Authenticate(ctx context.Context, presented string) (TokenInfo, error) {
	rest, ok := strings.CutPrefix(presented, tokenPrefix)
	if !ok || len(presented) > 200 {
		return TokenInfo{}, ErrTokenInvalid
	}
	// The id itself contains an underscore ("tok_..."); the secret does not
	// (base64url may contain "_" though), so split at the id's known shape.
	id, secret, ok := splitToken(rest)
	if !ok {
		return TokenInfo{}, ErrTokenInvalid
	}
	e, err := s.tokens.get(ctx, id)
	if err != nil {
		return TokenInfo{}, err
	}
	t := e.tok.Load()
	// Hash from a stack copy: converting the 43-byte secret would allocate.
	var sec [64]byte
	sum := sha256.Sum256(sec[:copy(sec[:], secret)])
	clear(sec[:])
	if subtle.ConstantTimeCompare(sum[:], t.SecretHash) != 1 || t.RevokedAt != nil {
		return TokenInfo{}, ErrTokenInvalid
	}
	e.lastUsed.Store(s.now().UnixNano())
	return TokenInfo{ID: t.ID, TenantID: t.TenantID, Name: t.Name}, nil
}

// splitToken splits "tok_<id>_<secret>": ids are "tok_" plus a fixed-alphabet
// random part without underscores.
func splitToken(rest string) (id, secret string, ok bool) {
	if !strings.HasPrefix(rest, "tok_") {
		return "", "", false
	}
	i := strings.IndexByte(rest[len("tok_"):], '_')
	if i < 0 {
		return "", "", false
	}
	id, secret = rest[:len("tok_")+i], rest[len("tok_")+i+1:]
	return id, secret, len(secret) == 43
}

// TenantFor decides which tenant a request acts for: a tenant token acts
// for its own tenant (a request may repeat it, never name another); a
// provider-wide token must name one.
func (t TokenInfo) TenantFor(requested string) (string, error) {
	if t.TenantID != "" {
		if requested != "" && requested != t.TenantID {
			return "", ErrTokenScope
		}
		return t.TenantID, nil
	}
	if requested == "" {
		return "", &ValidationError{Field: "tenant", Message: "a provider-wide token must name the tenant"}
	}
	return requested, nil
}

// tokenTable keeps every token in memory, following the database by
// revision like keyTable. Last-used times are atomics on each entry and are
// written in batches: recording a use must not take a lock every request
// would contend on.
type tokenTable struct {
	db   *models.DB
	mu   sync.RWMutex
	byID map[string]*tokenEntry
	rev  int64
	// complete is set once a refresh has read every token: from then on
	// the table holds every token there is (a token created on another
	// replica arrives with the next refresh, within RefreshEvery or at
	// once through PostgreSQL's notifications), so an id it does not know
	// is refused without a database read (issue 17 #8).
	complete atomic.Bool

	// unknown remembers, for a second, ids the database did not know,
	// until the table is complete: a flood of made-up tokens must not
	// become a flood of database reads.
	unknownMu sync.Mutex
	unknown   map[string]time.Time
}

// Bounds on the memory of unknown token ids.
const (
	unknownTokenFor = time.Second
	maxUnknownIDs   = 10_000
)

type tokenEntry struct {
	tok      atomic.Pointer[models.ServiceToken] // replaced whole on change: requests read it without a lock
	lastUsed atomic.Int64                        // Unix nanoseconds of the latest use; 0 = none since start
	flushed  atomic.Int64                        // the lastUsed value last written to the database
}

func newTokenTable(db *models.DB) *tokenTable {
	return &tokenTable{db: db, byID: make(map[string]*tokenEntry)}
}

func (t *tokenTable) apply(tok *models.ServiceToken) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := *tok
	if cur, ok := t.byID[tok.ID]; ok {
		if cur.tok.Load().Revision <= c.Revision {
			cur.tok.Store(&c)
		}
		return
	}
	e := &tokenEntry{}
	e.tok.Store(&c)
	t.byID[tok.ID] = e
}

func (t *tokenTable) get(ctx context.Context, id string) (*tokenEntry, error) {
	t.mu.RLock()
	e, ok := t.byID[id]
	t.mu.RUnlock()
	if ok {
		return e, nil
	}
	if t.complete.Load() || t.knownUnknown(id) {
		return nil, ErrTokenInvalid
	}
	dbTok, err := t.db.GetServiceToken(ctx, id)
	if errors.Is(err, models.ErrNotFound) {
		t.rememberUnknown(id)
		return nil, ErrTokenInvalid
	}
	if err != nil {
		return nil, fmt.Errorf("keysvc: load service token: %w", err)
	}
	t.apply(dbTok)
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.byID[id], nil
}

// knownUnknown reports whether the database did not know id a moment ago.
func (t *tokenTable) knownUnknown(id string) bool {
	t.unknownMu.Lock()
	defer t.unknownMu.Unlock()
	at, ok := t.unknown[id]
	return ok && time.Since(at) < unknownTokenFor
}

func (t *tokenTable) rememberUnknown(id string) {
	t.unknownMu.Lock()
	defer t.unknownMu.Unlock()
	if t.unknown == nil || len(t.unknown) >= maxUnknownIDs {
		t.unknown = make(map[string]time.Time) // forgetting early only costs a read
	}
	t.unknown[id] = time.Now()
}

func (t *tokenTable) refresh(ctx context.Context) error {
	t.mu.RLock()
	rev := t.rev
	t.mu.RUnlock()
	ts, err := t.db.TokensChangedSince(ctx, rev)
	if err != nil {
		return err
	}
	for i := range ts {
		t.apply(&ts[i])
	}
	seen := map[string]time.Time{}
	t.mu.Lock()
	if len(ts) > 0 && ts[len(ts)-1].Revision > t.rev {
		t.rev = ts[len(ts)-1].Revision
	}
	for id, e := range t.byID {
		if last := e.lastUsed.Load(); last > e.flushed.Load() {
			seen[id] = time.Unix(0, last)
			e.flushed.Store(last)
		}
	}
	t.mu.Unlock()
	t.complete.Store(true) // every token up to rev is in the table
	return t.db.TouchServiceTokens(ctx, seen)
}
