package keysvc

import (
	"crypto/rand"
	"io"
	"log/slog"
	"time"

	"keyport/keysvc/awskms"
	"keyport/keysvc/envelope"
	"keyport/keysvc/seal"
	"keyport/models"
)

// Service is keyport's key service: connections, key registration and
// validation, and the data path (envelope encryption through the data-key
// cache). It knows nothing of HTTP.
type Service struct {
	db      *models.DB
	sealer  *seal.Sealer
	log     *slog.Logger
	now     func() time.Time
	rand    io.Reader
	cfg     Config
	tokens  *tokenTable
	dp      *dataPlane
	clients *awskms.Clients // KMS and STS clients per AWS connection and region
	tests   testBudget      // per-tenant budget of connection tests

	afterOpen func() // tests: runs in Rewrap between opening and sealing again
}

// Config tunes the service.
type Config struct {
	CacheTTL        time.Duration // data keys stay cached at most this long after fetch (default 5m, max 60m)
	CacheMaxEntries int           // bound on cached data keys (default 100,000)
	MessageLimit    int64         // messages per data-key version before it is retired from encryption (default 2^30)
	RefreshEvery    time.Duration // how often the in-memory key table polls for other replicas' changes (default 500ms)
	// DisableUsageCounts turns off the per-key use counts (the record of
	// cached decrypts). Only the load test sets it, to measure what
	// counting costs; keyport itself never does.
	DisableUsageCounts bool
}

// Deps are the service's collaborators.
type Deps struct {
	DB     *models.DB
	Sealer *seal.Sealer
	Logger *slog.Logger
	Now    func() time.Time // injected clock; time.Now when nil
	Rand   io.Reader        // crypto/rand when nil
	Config Config
	// KMSFor overrides how the data path gets a KMS client for a tenant's
	// connection (tests point it at kmslocal); by default it comes from the
	// connection's stored credentials.
	KMSFor KMSFor
	// Clients builds KMS and STS clients for connections; nil means one
	// from the default AWS configuration, loaded on first use.
	Clients *awskms.Clients
}

// KMSContext is the KMS encryption context of every data key keyport wraps:
// it names the tenant and the key (never a secret: it appears in the
// tenant's CloudTrail), and KMS refuses to unwrap under any other.
func KMSContext(tenantID, keyID string) map[string]string {
	return map[string]string{"keyport:tenant": tenantID, "keyport:key": keyID}
}

func (d *Deps) defaults() {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Rand == nil {
		d.Rand = rand.Reader
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	c := &d.Config
	if c.CacheTTL <= 0 {
		c.CacheTTL = 5 * time.Minute
	}
	if c.CacheTTL > time.Hour {
		c.CacheTTL = time.Hour
	}
	if c.CacheMaxEntries <= 0 {
		c.CacheMaxEntries = 100_000
	}
	if c.MessageLimit <= 0 {
		c.MessageLimit = 1 << 30
	}
	if c.RefreshEvery <= 0 {
		c.RefreshEvery = 500 * time.Millisecond
	}
}

// NewService builds the key service.
func NewService(d Deps) *Service {
	d.defaults()
	s := &Service{db: d.DB, sealer: d.Sealer, log: d.Logger, now: d.Now, rand: d.Rand, cfg: d.Config,
		tokens: newTokenTable(d.DB)}
	s.clients = d.Clients
	if s.clients == nil {
		s.clients = awskms.NewClients(awskms.ClientOptions{Sealer: d.Sealer, Logger: d.Logger})
	}
	s.dp = &dataPlane{
		cache:   envelope.NewCache(d.Config.CacheTTL, d.Config.CacheMaxEntries, d.Now),
		keys:    newKeyTable(d.DB),
		usage:   newUsageCounter(d.Config.DisableUsageCounts),
		audit:   newAuditBatcher(d.DB),
		wraps:   newWrapReader(d.DB, d.Now),
		kmsFor:  d.KMSFor,
		budgets: make(map[envelope.CacheKey]int64),
	}
	if s.dp.kmsFor == nil {
		s.dp.kmsFor = KMSForStore(d.DB, s.clients)
	}
	return s
}

// Clients is the service's KMS and STS clients per AWS connection and region.
func (s *Service) Clients() *awskms.Clients { return s.clients }

// ApplyKey brings the data path's key table up to date with k, just
// changed by its owner (the managed-key lifecycle).
func (s *Service) ApplyKey(k *models.Key) { s.dp.keys.apply(k) }

// PurgeKey drops every cached data key of a key, so the next use fetches
// (and checks) it again.
func (s *Service) PurgeKey(tenantID, keyID string) { s.dp.cache.Purge(tenantID, keyID) }

// CacheTTL is how long a data key stays cached after its KMS fetch: the
// longest keyport may keep decrypting after a tenant revokes its access,
// unless a purge or a refused KMS call ends it sooner.
func (s *Service) CacheTTL() time.Duration { return s.cfg.CacheTTL }
