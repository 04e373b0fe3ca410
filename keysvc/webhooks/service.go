package webhooks

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"keyport/keysvc"
	"keyport/keysvc/jobs"
	"keyport/keysvc/seal"
	"keyport/models"
)

// SecretPrefix starts every signing secret (the Standard Webhooks format:
// "whsec_" and the base64 of the key).
const SecretPrefix = "whsec_"

// secretSize is the signing key's size in bytes.
const secretSize = 32

// DefaultBackoff is the delay before each retry; the last repeats until
// the window ends.
var DefaultBackoff = []time.Duration{5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour}

// Events lists the event types an endpoint may subscribe to.
func Events() []string { return slices.Clone(models.WebhookEventTypes) }

// ErrEndpointDisabled refuses a test event to a disabled endpoint.
var ErrEndpointDisabled = &models.ValidationError{Field: "endpoint", Message: "is disabled; enable it to send a test event"}

// Options configure a Service; zero values take the defaults.
type Options struct {
	DB     *models.DB
	Sealer *seal.Sealer
	Logger *slog.Logger
	// Dev is development mode: http URLs and private addresses (this
	// machine's receivers) are allowed.
	Dev bool
	Now func() time.Time // clock of attempts and the retry window
	// LookupIP resolves host names, at registration and at connect time
	// (tests make a name resolve differently the second time).
	LookupIP LookupFunc
	// RootCAs are the CAs delivery trusts; nil is the system's.
	RootCAs        *x509.CertPool
	AttemptTimeout time.Duration   // per attempt (default 10s)
	Backoff        []time.Duration // default DefaultBackoff
	Window         time.Duration   // how long after the event to keep trying (default 24h)
	Rand           io.Reader       // secrets (default crypto/rand)
}

// Service manages a tenant's webhook endpoints and delivers their events.
type Service struct {
	db      *models.DB
	sealer  *seal.Sealer
	log     *slog.Logger
	dev     bool
	now     func() time.Time
	lookup  LookupFunc
	timeout time.Duration
	backoff []time.Duration
	window  time.Duration
	rand    io.Reader
	client  *http.Client
	worker  *jobs.Worker
}

// New builds the service.
func New(o Options) *Service {
	s := &Service{db: o.DB, sealer: o.Sealer, log: o.Logger, dev: o.Dev, now: o.Now, lookup: o.LookupIP,
		timeout: o.AttemptTimeout, backoff: o.Backoff, window: o.Window, rand: o.Rand}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.lookup == nil {
		s.lookup = defaultLookup
	}
	if s.timeout <= 0 {
		s.timeout = 10 * time.Second
	}
	if len(s.backoff) == 0 {
		s.backoff = DefaultBackoff
	}
	if s.window <= 0 {
		s.window = 24 * time.Hour
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	d := &net.Dialer{Timeout: s.timeout, Control: s.control}
	tr := &http.Transport{
		Proxy:                 nil, // a proxy would dial for us, past the address check
		DialContext:           s.dialContext(d),
		TLSClientConfig:       &tls.Config{RootCAs: o.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   s.timeout,
		ResponseHeaderTimeout: s.timeout,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       30 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	s.client = &http.Client{Transport: tr, Timeout: s.timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return s
}

// Register makes w deliver webhooks; SendTest then wakes it.
func (s *Service) Register(w *jobs.Worker) {
	w.Handle(models.JobKindWebhook, s.Deliver)
	s.worker = w
}

// newSecret makes a signing secret: its raw key and its "whsec_" text.
func (s *Service) newSecret() ([]byte, string, error) {
	key := make([]byte, secretSize)
	if _, err := io.ReadFull(s.rand, key); err != nil {
		return nil, "", fmt.Errorf("webhooks: make secret: %w", err)
	}
	return key, SecretPrefix + base64.StdEncoding.EncodeToString(key), nil
}

// sealSecret seals key for endpoint id and zeroes it.
func (s *Service) sealSecret(id string, key []byte) ([]byte, error) {
	defer clear(key)
	sealed, err := s.sealer.Seal(seal.WebhookSecretPurpose(id), key)
	if err != nil {
		return nil, fmt.Errorf("webhooks: seal secret: %w", err)
	}
	return sealed, nil
}

// checkEvents normalizes a subscription list.
func checkEvents(events []string) ([]string, error) {
	var out []string
	for _, e := range events {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if !slices.Contains(models.WebhookEventTypes, e) {
			return nil, &models.ValidationError{Field: "events", Message: "has an unknown event type"}
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		return nil, &models.ValidationError{Field: "events", Message: "choose at least one event"}
	}
	return out, nil
}

// auditDetails describe an endpoint in its audit events: the URL's host
// only (a path may carry a token), the events, whether enabled.
func auditDetails(rawURL string, events []string, enabled bool) map[string]string {
	d := map[string]string{"events": strings.Join(events, " "), "enabled": fmt.Sprint(enabled)}
	if u, err := url.Parse(rawURL); err == nil {
		d["host"] = u.Host
	}
	return d
}

// CreateEndpoint registers an endpoint, enabled, and returns it with its
// signing secret: shown to the caller this once, sealed at rest.
func (s *Service) CreateEndpoint(ctx context.Context, tenantID string, by keysvc.RequestBy, rawURL string, events []string) (*models.WebhookEndpoint, string, error) {
	u, err := s.ValidateURL(ctx, rawURL)
	if err != nil {
		return nil, "", err
	}
	evs, err := checkEvents(events)
	if err != nil {
		return nil, "", err
	}
	id := models.NewID("whe_")
	key, secret, err := s.newSecret()
	if err != nil {
		return nil, "", err
	}
	sealed, err := s.sealSecret(id, key)
	if err != nil {
		return nil, "", err
	}
	e := &models.WebhookEndpoint{ID: id, TenantID: tenantID, URL: u, Events: evs, SecretSealed: sealed, Enabled: true, CreatedBy: by.UserID}
	if err := s.db.CreateWebhookEndpoint(ctx, e, by.Audit("webhook.endpoint_created", auditDetails(u, evs, true))); err != nil {
		return nil, "", err
	}
	return e, secret, nil
}

// List returns a tenant's endpoints.
func (s *Service) List(ctx context.Context, tenantID string) ([]models.WebhookEndpoint, error) {
	return s.db.ListWebhookEndpoints(ctx, tenantID)
}

// Get returns a tenant's endpoint; models.ErrNotFound for another tenant's.
func (s *Service) Get(ctx context.Context, tenantID, id string) (*models.WebhookEndpoint, error) {
	return s.db.GetWebhookEndpoint(ctx, tenantID, id)
}

// Update is a change to an endpoint; nil fields stay as they are.
type Update struct {
	URL     *string
	Events  []string
	Enabled *bool
}

// Update changes a tenant's endpoint; a new URL is checked as at
// registration.
func (s *Service) Update(ctx context.Context, tenantID string, by keysvc.RequestBy, id string, in Update) (*models.WebhookEndpoint, error) {
	cur, err := s.db.GetWebhookEndpoint(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	var u models.WebhookEndpointUpdate
	if in.URL != nil {
		v, err := s.ValidateURL(ctx, *in.URL)
		if err != nil {
			return nil, err
		}
		u.URL = &v
	}
	if in.Events != nil {
		evs, err := checkEvents(in.Events)
		if err != nil {
			return nil, err
		}
		u.Events = evs
	}
	u.Enabled = in.Enabled
	next := *cur
	if u.URL != nil {
		next.URL = *u.URL
	}
	if u.Events != nil {
		next.Events = u.Events
	}
	if u.Enabled != nil {
		next.Enabled = *u.Enabled
	}
	return s.db.UpdateWebhookEndpoint(ctx, tenantID, id, u, by.Audit("webhook.endpoint_updated", auditDetails(next.URL, next.Events, next.Enabled)))
}

// Delete removes a tenant's endpoint and its delivery history.
func (s *Service) Delete(ctx context.Context, tenantID string, by keysvc.RequestBy, id string) error {
	return s.db.DeleteWebhookEndpoint(ctx, tenantID, id, by.Audit("webhook.endpoint_deleted", nil))
}

// RotateSecret replaces an endpoint's signing secret and returns the new
// one, shown this once. Deliveries still waiting are signed with it.
func (s *Service) RotateSecret(ctx context.Context, tenantID string, by keysvc.RequestBy, id string) (string, error) {
	if _, err := s.db.GetWebhookEndpoint(ctx, tenantID, id); err != nil {
		return "", err
	}
	key, secret, err := s.newSecret()
	if err != nil {
		return "", err
	}
	sealed, err := s.sealSecret(id, key)
	if err != nil {
		return "", err
	}
	if _, err := s.db.UpdateWebhookEndpoint(ctx, tenantID, id, models.WebhookEndpointUpdate{SecretSealed: sealed},
		by.Audit("webhook.secret_rotated", nil)); err != nil {
		return "", err
	}
	return secret, nil
}

// SendTest queues a webhook.test event to one endpoint, through the same
// outbox as every event: its audit event raises it.
func (s *Service) SendTest(ctx context.Context, tenantID string, by keysvc.RequestBy, id string) error {
	e, err := s.db.GetWebhookEndpoint(ctx, tenantID, id)
	if err != nil {
		return err
	}
	if !e.Enabled {
		return ErrEndpointDisabled
	}
	in := by.Audit(models.WebhookAuditTestSent, map[string]string{"note": "a test event sent from keyport"})
	in.TenantID, in.TargetType, in.TargetID = tenantID, models.WebhookTargetType, id
	if _, err := s.db.AppendAudit(ctx, in); err != nil {
		return fmt.Errorf("webhooks: send test event: %w", err)
	}
	if s.worker != nil {
		s.worker.Wake()
	}
	return nil
}

// ListDeliveries returns an endpoint's newest deliveries with their
// attempts; models.ErrNotFound for another tenant's endpoint.
func (s *Service) ListDeliveries(ctx context.Context, tenantID, id string, limit int) ([]models.WebhookDelivery, error) {
	if _, err := s.db.GetWebhookEndpoint(ctx, tenantID, id); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 50
	}
	return s.db.ListWebhookDeliveries(ctx, tenantID, id, limit)
}

// ListDeliveriesPage is ListDeliveries for paging APIs: the page after
// cursor ("" = the newest) and the cursor of the next page ("" when this
// one is the last).
func (s *Service) ListDeliveriesPage(ctx context.Context, tenantID, id, cursor string, limit int) ([]models.WebhookDelivery, string, error) {
	if _, err := s.db.GetWebhookEndpoint(ctx, tenantID, id); err != nil {
		return nil, "", err
	}
	if limit <= 0 {
		limit = 50
	}
	ds, err := s.db.ListWebhookDeliveriesBefore(ctx, tenantID, id, cursor, limit+1)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(ds) > limit {
		ds, next = ds[:limit], ds[limit-1].ID
	}
	return ds, next, nil
}

// IsNotFound reports whether err means "no such endpoint".
func IsNotFound(err error) bool { return errors.Is(err, models.ErrNotFound) }
