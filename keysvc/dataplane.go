package keysvc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"

	"keyport/keysvc/awskms"
	"keyport/keysvc/envelope"
	"keyport/models"
)

// KMSFor returns a KMS client acting for a tenant's connection in a region.
type KMSFor func(ctx context.Context, tenantID, connectionID, region string) (*kms.Client, error)

// dataPlane is the part of the service the data API drives.
type dataPlane struct {
	cache  *envelope.Cache
	keys   *keyTable
	usage  *usageCounter
	audit  *auditBatcher
	wraps  *wrapReader
	kmsFor KMSFor

	budgetMu sync.Mutex
	budgets  map[envelope.CacheKey]int64 // messages this replica may still encrypt per data-key version
}

// messageBlock is how many messages a replica reserves at a time from a
// data-key version's budget.
const messageBlock = 1 << 16

// Encrypted is the result of an encryption.
type Encrypted struct {
	Ciphertext []byte
	KeyID      string
	Version    int64
}

// Encrypt encrypts plaintext under the tenant's key with its newest data key.
func (s *Service) Encrypt(ctx context.Context, tenantID, keyID string, plaintext []byte, context map[string]string) (*Encrypted, error) {
	if err := envelope.CheckContext(context); err != nil {
		return nil, err
	}
	m, err := s.dp.keys.get(ctx, tenantID, keyID)
	if err != nil {
		return nil, err
	}
	if err := m.usable(); err != nil {
		return nil, err
	}
	if m.CurrentVersion < 1 {
		return nil, awskms.ErrKeyNotUsable
	}
	if err := s.takeBudget(ctx, m); errors.Is(err, ErrVersionExhausted) {
		// Retire the exhausted data key and carry on with a new one.
		if _, err := s.RotateDataKey(ctx, tenantID, keyID, "keyport:data-api", "retired"); err != nil && !errors.Is(err, ErrRotationRaced) {
			return nil, err
		}
		if m, err = s.dp.keys.get(ctx, tenantID, keyID); err != nil {
			return nil, err
		}
		if err := s.takeBudget(ctx, m); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	dk, hit, err := s.dataKey(ctx, m, m.CurrentVersion)
	if err != nil {
		return nil, err
	}
	ct, err := dk.SealChecked(s.rand, tenantID, context, plaintext) // context checked above
	if err != nil {
		return nil, err
	}
	s.dp.usage.addVersion(keyID, m.CurrentVersion, s.now(), useEncrypt, hit)
	return &Encrypted{Ciphertext: ct, KeyID: keyID, Version: m.CurrentVersion}, nil
}

// RequestContext is a context carrying who made the request, as
// WithRequestBy's does, for a caller that embeds it in a context type of
// its own (the data API's, which also holds the request's token): one
// allocation for both, and By is boxed only when asked for, which the
// data plane does on a data-key fetch, not on a cache hit.
type RequestContext struct {
	context.Context
	By RequestBy
}

// Value answers WithRequestBy's key with By, any other from the parent.
func (r *RequestContext) Value(key any) any {
	if _, ok := key.(requestByKey); ok {
		return r.By
	}
	return r.Context.Value(key)
}

// Decrypted is the result of a decryption.
type Decrypted struct {
	Plaintext []byte
	KeyID     string
	Version   int64
}

// Decrypt opens a ciphertext made by Encrypt for the same tenant and context.
func (s *Service) Decrypt(ctx context.Context, tenantID string, ciphertext []byte, context map[string]string) (*Decrypted, error) {
	if err := envelope.CheckContext(context); err != nil {
		return nil, err
	}
	h, err := envelope.ParseCiphertext(ciphertext)
	if err != nil {
		return nil, err
	}
	m, err := s.dp.keys.get(ctx, tenantID, h.KeyID)
	if err != nil {
		return nil, err
	}
	if err := m.usable(); err != nil {
		return nil, err
	}
	v := int64(h.Version)
	if v < 1 || v > m.CurrentVersion {
		return nil, envelope.ErrDecrypt
	}
	if v < m.MinDecryption {
		return nil, &VersionRetiredError{Version: v, Min: m.MinDecryption}
	}
	dk, hit, err := s.dataKey(ctx, m, v)
	if err != nil {
		return nil, err
	}
	pt, err := dk.OpenParsed(h, tenantID, context) // parsed and checked above
	if err != nil {
		return nil, err
	}
	s.dp.usage.addVersion(m.ID, v, s.now(), useDecrypt, hit)
	return &Decrypted{Plaintext: pt, KeyID: m.ID, Version: v}, nil
}

// GeneratedDataKey is a fresh 256-bit key for a service that encrypts
// locally, and the same key encrypted under the tenant's key (opened later
// with Decrypt).
type GeneratedDataKey struct {
	Plaintext  []byte
	Ciphertext []byte
	KeyID      string
	Version    int64
}

// GenerateDataKey makes a fresh data key for local encryption. The caller
// must zero Plaintext when done with it.
func (s *Service) GenerateDataKey(ctx context.Context, tenantID, keyID string, context map[string]string) (*GeneratedDataKey, error) {
	pt := make([]byte, 32)
	if _, err := io.ReadFull(s.rand, pt); err != nil {
		return nil, fmt.Errorf("keysvc: read random: %w", err)
	}
	enc, err := s.Encrypt(ctx, tenantID, keyID, pt, context)
	if err != nil {
		clear(pt)
		return nil, err
	}
	s.dp.usage.add(keyID, s.now(), useDatakey, false)
	return &GeneratedDataKey{Plaintext: pt, Ciphertext: enc.Ciphertext, KeyID: keyID, Version: enc.Version}, nil
}

// KeyStatus is what the data API says about a key.
type KeyStatus struct {
	KeyID          string
	State          string
	Health         string
	CurrentVersion int64
}

// Status returns a tenant key's state, health and current version.
func (s *Service) Status(ctx context.Context, tenantID, keyID string) (*KeyStatus, error) {
	m, err := s.dp.keys.get(ctx, tenantID, keyID)
	if err != nil {
		return nil, err
	}
	return &KeyStatus{KeyID: m.ID, State: string(m.State), Health: string(m.Health), CurrentVersion: m.CurrentVersion}, nil
}

// dataKey returns the plaintext data key of one version, from the cache or
// from KMS; hit reports the cache served it.
func (s *Service) dataKey(ctx context.Context, m keyMeta, version int64) (dk *envelope.DataKey, hit bool, err error) {
	ck := envelope.CacheKey{TenantID: m.TenantID, KeyID: m.ID, Version: uint32(version)}
	return s.dp.cache.Get(ctx, ck, m.Epoch, func(ctx context.Context) (*envelope.DataKey, error) {
		return s.fetchDataKey(ctx, m, version)
	})
}

// fetchDataKey unwraps a data-key version with KMS, trying each region in
// priority order as far as the provider's replica failover allows (see
// FailoverUnavailable). Each KMS call is recorded in the audit log as
// key.datakey_fetch (written while the call is in flight, so the audit
// commit does not add to the latency of a miss) and it fails closed: the
// key is not used until the event is committed, and not at all if the
// event cannot be written. A failed call is followed by key.health_changed
// when the failure says something about the key.
func (s *Service) fetchDataKey(ctx context.Context, m keyMeta, version int64) (*envelope.DataKey, error) {
	wraps, err := s.dp.wraps.read(ctx, models.WrapRef{TenantID: m.TenantID, KeyID: m.ID, Version: version})
	if errors.Is(err, models.ErrNotFound) {
		return nil, envelope.ErrDecrypt
	}
	if err != nil {
		return nil, fmt.Errorf("keysvc: load wrapped data key: %w", err)
	}
	// The fetch is the requester's (the first one's, when several wait on
	// it): the data API's service token and request id, or the data plane
	// itself for a caller that named none.
	by, ok := requestByFrom(ctx)
	if !ok {
		by = RequestBy{UserID: "keyport:data-api", Kind: models.ActorServiceToken}
	}
	var firstErr error
	for i, w := range wraps {
		audited := s.dp.audit.start(ctx, models.AuditInput{TenantID: m.TenantID, ActorKind: by.Kind, Actor: by.UserID,
			RequestID: by.RequestID, Action: "key.datakey_fetch", TargetType: "key", TargetID: m.ID,
			Details: map[string]string{"version": strconv.FormatInt(version, 10), "region": w.Region}})
		raw, err := s.unwrap(ctx, m, w)
		if aerr := audited.wait(ctx); aerr != nil {
			clear(raw)
			return nil, fmt.Errorf("keysvc: audit data-key fetch: %w", aerr)
		}
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			if ctx.Err() != nil || (i == 0 && len(wraps) > 1 && !s.mayFailOver(ctx, err)) {
				break
			}
			continue // DR: the next region may still answer
		}
		dk, err := envelope.NewDataKey(m.ID, uint32(version), raw)
		if err != nil {
			clear(raw)
			return nil, err
		}
		s.servedFrom(ctx, m, i == 0, w.Region, firstErr)
		return dk, nil
	}
	s.reactToKMSError(ctx, m, firstErr)
	return nil, firstErr
}

// unwrap asks one region's KMS for a data key's plaintext.
func (s *Service) unwrap(ctx context.Context, m keyMeta, w models.DataKeyWrap) ([]byte, error) {
	if w.Region == HeldRegion {
		return s.unwrapHeld(ctx, m, w)
	}
	client, err := s.dp.kmsFor(ctx, m.TenantID, m.ConnectionID, w.Region)
	if err != nil {
		return nil, err
	}
	s.dp.usage.add(m.ID, s.now(), useKMSCall, false)
	out, err := client.Decrypt(ctx, &kms.DecryptInput{
		CiphertextBlob:    w.Ciphertext,
		KeyId:             &w.KMSKeyARN,
		EncryptionContext: wrapContext(m.TenantID, m.ID, w),
	})
	if err != nil {
		return nil, awskms.ClassifyKMSError(err)
	}
	if len(out.Plaintext) != 32 {
		clear(out.Plaintext)
		return nil, fmt.Errorf("keysvc: KMS returned a %d-byte data key", len(out.Plaintext))
	}
	return out.Plaintext, nil
}

// reactToKMSError records what a failed fetch says about the key. Revoked
// access purges every replica's cached data keys of the key at once (the
// tenant meant to cut keyport off); a disabled KMS key is shown as such.
func (s *Service) reactToKMSError(ctx context.Context, m keyMeta, err error) {
	switch {
	case errors.Is(err, awskms.ErrAccessDenied):
		s.setHealth(ctx, m, "ACCESS_DENIED", "KMS refused keyport: the key policy or IAM no longer allows it.", true)
	case errors.Is(err, awskms.ErrKeyDisabled):
		s.setHealth(ctx, m, "KMS_DISABLED", "The KMS key is disabled in the tenant's AWS account.", true)
	case errors.Is(err, awskms.ErrKeyPendingDeletion):
		s.setHealth(ctx, m, "PENDING_DELETION", "The KMS key is scheduled for deletion in the tenant's AWS account.", true)
	}
}

func (s *Service) setHealth(ctx context.Context, m keyMeta, health models.Health, detail string, purge bool) {
	audit := models.AuditInput{}
	if purge {
		audit = models.AuditInput{Actor: "keyport:data-api", Action: "key.health_changed",
			Details: map[string]string{"health": string(health), "cache": "purged"}}
	}
	k, err := s.db.UpdateKey(context.WithoutCancel(ctx), m.TenantID, m.ID,
		models.KeyUpdate{Health: &health, HealthDetail: &detail, BumpEpoch: purge}, audit)
	if err != nil {
		s.log.Warn("record key health", "key_id", m.ID, "health", health, "err", err)
		return
	}
	s.dp.keys.apply(k)
	if purge {
		s.dp.cache.Purge(m.TenantID, m.ID)
	}
}

// takeBudget spends one message of the current data-key version's budget,
// reserving another block from the database when this replica's runs out.
// A version whose budget is spent is retired from encryption.
func (s *Service) takeBudget(ctx context.Context, m keyMeta) error {
	ck := envelope.CacheKey{TenantID: m.TenantID, KeyID: m.ID, Version: uint32(m.CurrentVersion)}
	s.dp.budgetMu.Lock()
	defer s.dp.budgetMu.Unlock()
	if s.dp.budgets[ck] > 0 {
		s.dp.budgets[ck]--
		return nil
	}
	block := min(messageBlock, s.cfg.MessageLimit)
	err := s.db.ReserveMessages(ctx, m.TenantID, m.ID, m.CurrentVersion, block, s.cfg.MessageLimit)
	if errors.Is(err, models.ErrConflict) {
		return ErrVersionExhausted
	}
	if err != nil {
		return fmt.Errorf("keysvc: reserve message budget: %w", err)
	}
	s.dp.budgets[ck] = block - 1
	return nil
}

// ErrVersionExhausted: the current data key has encrypted as many messages
// as one key safely may; a new data-key version is needed.
var ErrVersionExhausted = errors.New("keysvc: the current data key has reached its message limit and must be rotated")

// Purge drops the cached data keys of one key (keyID set) or of all the
// tenant's keys, on every replica: the epoch is bumped in the database, and
// this replica's cache is purged before Purge returns.
func (s *Service) Purge(ctx context.Context, tenantID, keyID, actor string) error {
	if keyID == "" {
		if err := s.db.PurgeTenantKeys(ctx, tenantID, models.AuditInput{Actor: actor, Action: "keys.cache_purged"}); err != nil {
			return err
		}
		if err := s.dp.keys.refresh(ctx); err != nil {
			return err
		}
		s.dp.cache.Purge(tenantID, "")
		return nil
	}
	k, err := s.db.UpdateKey(ctx, tenantID, keyID, models.KeyUpdate{BumpEpoch: true},
		models.AuditInput{Actor: actor, Action: "key.cache_purged"})
	if errors.Is(err, models.ErrNotFound) {
		return ErrKeyNotFound
	}
	if err != nil {
		return err
	}
	s.dp.keys.apply(k)
	s.dp.cache.Purge(tenantID, keyID)
	return nil
}

// Warm loads every key and service token into memory, reads ahead the
// wrapped data keys of the keys' current versions and builds the KMS
// clients that unwrap them, so the first requests after a start neither
// read the database nor build clients before their KMS call.
func (s *Service) Warm(ctx context.Context) error {
	if err := s.dp.keys.refresh(ctx); err != nil {
		return fmt.Errorf("keysvc: load keys: %w", err)
	}
	if err := s.dp.wraps.readAhead(ctx, s.dp.keys.currentVersions(), s.cfg.CacheMaxEntries); err != nil {
		return fmt.Errorf("keysvc: read wrapped data keys: %w", err)
	}
	s.primeClients(ctx)
	if err := s.tokens.refresh(ctx); err != nil {
		return fmt.Errorf("keysvc: load service tokens: %w", err)
	}
	return nil
}

// primeClients builds the KMS client of every connection and primary
// region the read-ahead wraps name: the connection read, its secret opened
// and the SDK client made once here rather than in the first burst of cache
// misses, in front of their KMS calls. A connection that fails is left to
// the misses (which report it); no KMS call is made.
func (s *Service) primeClients(ctx context.Context) {
	type target struct{ tenantID, connID, region string }
	seen := map[target]bool{}
	for _, ref := range s.dp.wraps.aheadPrimaries() {
		m, err := s.dp.keys.get(ctx, ref.TenantID, ref.KeyID)
		if err != nil || ref.Region == HeldRegion {
			continue
		}
		t := target{m.TenantID, m.ConnectionID, ref.Region}
		if seen[t] {
			continue
		}
		seen[t] = true
		if _, err := s.dp.kmsFor(ctx, t.tenantID, t.connID, t.region); err != nil {
			s.log.Warn("build kms client", "tenant_id", t.tenantID, "connection_id", t.connID, "region", t.region, "err", err)
		}
	}
}

// Run keeps the data plane current until ctx ends: it follows other
// replicas' key changes, zeroes expired cache entries and writes usage
// counts. A server calls Warm before it serves and before Run (Run used
// to warm a second time, reading every key table again at start-up).
func (s *Service) Run(ctx context.Context) {
	tick := time.NewTicker(s.cfg.RefreshEvery)
	defer tick.Stop()
	changed := s.watchChanges(ctx) // PostgreSQL: another replica committed a change
	flushEvery := 0
	for {
		select {
		case <-ctx.Done():
			_ = s.dp.usage.flush(context.WithoutCancel(ctx), s.db)
			return
		case <-changed:
			s.refreshNow(ctx)
			continue
		case <-tick.C:
		}
		if err := s.dp.keys.refresh(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("refresh key table", "err", err)
		}
		if err := s.tokens.refresh(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("refresh service tokens", "err", err)
		}
		s.dp.cache.Sweep()
		s.dp.wraps.dropStale()
		if flushEvery++; flushEvery%10 == 0 {
			if err := s.dp.usage.flush(ctx, s.db); err != nil && ctx.Err() == nil {
				s.log.Warn("write key usage", "err", err)
			}
		}
		if flushEvery%600 == 1 { // every few minutes: forget management-API answers past their replay window
			if _, err := s.db.PurgeIdempotencyRecords(ctx, s.now().Add(-IdempotencyTTL)); err != nil && ctx.Err() == nil {
				s.log.Warn("purge idempotency records", "err", err)
			}
		}
	}
}

// CacheStats reports the data-key cache's counters.
func (s *Service) CacheStats() envelope.CacheStats { return s.dp.cache.Stats() }

// FlushUsage writes pending usage counts now (tests, shutdown).
func (s *Service) FlushUsage(ctx context.Context) error { return s.dp.usage.flush(ctx, s.db) }

// KMS is the KMS client the data path uses for a tenant's connection in
// region.
func (s *Service) KMS(ctx context.Context, tenantID, connectionID, region string) (*kms.Client, error) {
	return s.dp.kmsFor(ctx, tenantID, connectionID, region)
}

// KMSForStore returns the KMSFor that loads a tenant's connection from the
// store and asks clients for a KMS client with its credentials. Connections
// are kept for a few seconds, and concurrent loads of one connection are one
// read: a burst of cache misses after a restart should not read the same
// row once per key. (A connection is never edited in place, only created or
// deleted, so a short-lived copy cannot go stale in a way that matters.)
func KMSForStore(db *models.DB, clients *awskms.Clients) KMSFor {
	type loaded struct {
		ready chan struct{} // closed when conn and err are set
		conn  awskms.Connection
		err   error
		at    time.Time
	}
	var mu sync.Mutex
	conns := map[string]*loaded{}
	return func(ctx context.Context, tenantID, connectionID, region string) (*kms.Client, error) {
		mu.Lock()
		l, ok := conns[connectionID]
		if ok {
			select {
			case <-l.ready:
				if l.err != nil || time.Since(l.at) > 10*time.Second {
					ok = false // failed loads are not kept; old copies are reread
				}
			default: // another caller is loading it: wait for that read
			}
		}
		if !ok {
			l = &loaded{ready: make(chan struct{})}
			conns[connectionID] = l
			mu.Unlock()
			mc, err := db.GetConnection(context.WithoutCancel(ctx), tenantID, connectionID)
			if err != nil {
				l.err = fmt.Errorf("keysvc: load connection: %w", err)
			} else {
				l.conn = awskms.ConnectionFromModel(mc)
			}
			l.at = time.Now()
			close(l.ready)
		} else {
			mu.Unlock()
		}
		select {
		case <-l.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if l.err != nil {
			return nil, l.err
		}
		if l.conn.TenantID != tenantID {
			return nil, fmt.Errorf("keysvc: load connection: %w", models.ErrNotFound)
		}
		return clients.KMS(ctx, l.conn, region)
	}
}
