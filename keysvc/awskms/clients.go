package awskms

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"keyport/keysvc/seal"
	"keyport/models"
)

// Connection kinds, as stored in aws_connections.kind.
const (
	KindAccessKey  = "access_key"  // an IAM user's access key, secret sealed at rest
	KindAssumeRole = "assume_role" // a role keyport assumes with its own credentials and an external id
)

// Connection is what a KMS client needs to act for a tenant in one AWS
// account. SecretSealed is the IAM secret access key sealed under the KEK
// (purpose SecretPurpose(ID)); it is opened only to build a client.
type Connection struct {
	ID, TenantID, AccountID, DefaultRegion, Kind, AccessKeyID string
	SecretSealed                                              []byte
	RoleARN, ExternalID                                       string
}

// String leaves the sealed secret out, so a logged Connection shows nothing
// that matters.
func (c Connection) String() string {
	return fmt.Sprintf("keysvc.Connection{id: %s, tenant: %s, account: %s, kind: %s}", c.ID, c.TenantID, c.AccountID, c.Kind)
}

// LogValue implements slog.LogValuer with the same redacted form.
func (c Connection) LogValue() slog.Value { return slog.StringValue(c.String()) }

// ConnectionFromModel is the keysvc view of a stored connection.
func ConnectionFromModel(c *models.Connection) Connection {
	return Connection{ID: c.ID, TenantID: c.TenantID, AccountID: c.AccountID, DefaultRegion: c.DefaultRegion,
		Kind: c.Kind, AccessKeyID: c.AccessKeyID, SecretSealed: c.SecretSealed, RoleARN: c.RoleARN, ExternalID: c.ExternalID}
}

// fingerprint changes whenever anything that decides the credentials
// changes, so a cached client is never used for an edited connection.
func (c Connection) fingerprint() string {
	h := sha256.New()
	for _, s := range []string{c.TenantID, c.AccountID, c.Kind, c.AccessKeyID, c.RoleARN, c.ExternalID, c.DefaultRegion} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	h.Write(c.SecretSealed)
	return string(h.Sum(nil))
}

// maxIdleKMSConns bounds the idle connections kept per KMS or STS host.
const maxIdleKMSConns = 64

// ClientOptions configure Clients.
type ClientOptions struct {
	// Base is the AWS configuration every client starts from, carrying the
	// provider's own credentials (used for STS AssumeRole). Nil loads the
	// default chain on first use (config.LoadDefaultConfig), which also
	// honours AWS_ENDPOINT_URL_KMS and AWS_ENDPOINT_URL_STS.
	Base *aws.Config
	// Sealer opens the sealed IAM secrets of access-key connections.
	Sealer *seal.Sealer
	// Timeout bounds each HTTP attempt (default 10s).
	Timeout time.Duration
	// MaxAttempts bounds the SDK's attempts per call, first one included
	// (default 3); throttling and 5xx are retried with jittered backoff.
	MaxAttempts int
	// MaxBackoff caps the wait between attempts (default 2s).
	MaxBackoff time.Duration
	// SessionDuration is how long assumed-role credentials last (default 1h).
	SessionDuration time.Duration
	// NewExternalID makes the external id of a new role connection. Nil
	// draws 128 random bits; tests and the development stand-ins inject it.
	NewExternalID func() string
	Logger        *slog.Logger
	// Observer, when set, hears of every KMS and STS call (metrics).
	Observer Observer
	// LogMode is the SDK's client log mode (KEYPORT_AWS_LOG). The body
	// modes are dropped unless AllowBodyLogging is set, which only
	// development mode does: bodies carry key material and credentials.
	LogMode          aws.ClientLogMode
	AllowBodyLogging bool
}

// Clients hands out KMS clients per AWS connection and region, with the
// connection's credentials: a static access key, or STS AssumeRole with
// the connection's external id, cached by the SDK until shortly before they
// expire. It is safe for concurrent use.
type Clients struct {
	opts ClientOptions
	http *awshttp.BuildableClient

	baseOnce sync.Once
	base     aws.Config
	baseErr  error

	mu    sync.Mutex
	creds map[string]credEntry // by connection id
	kms   map[string]*kmsEntry // by connection id + "/" + region
}

type credEntry struct {
	fp   string
	prov aws.CredentialsProvider
}

// kmsEntry is a client built (or being built) for one connection and
// region. Concurrent callers wait for one build: a burst of cold misses
// (a restart) would otherwise open the connection's secret and build a
// client, each with its own connection pool, once per caller.
type kmsEntry struct {
	fp     string
	ready  chan struct{} // closed once client or err is set
	client *kms.Client
	err    error
}

// NewClients builds the client factory.
func NewClients(o ClientOptions) *Clients {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 3
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 2 * time.Second
	}
	if o.SessionDuration < 15*time.Minute {
		o.SessionDuration = time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	c := &Clients{
		opts: o,
		http: awshttp.NewBuildableClient().WithTimeout(o.Timeout).WithTransportOptions(func(t *http.Transport) {
			// KMS is one host per region. The SDK keeps 10 idle connections
			// per host; a burst of concurrent misses (a restart, keys
			// expiring together) would then close the rest and open (and
			// TLS-handshake) them again on the next burst.
			t.MaxIdleConnsPerHost = maxIdleKMSConns
		}),
		creds: map[string]credEntry{},
		kms:   map[string]*kmsEntry{},
	}
	if o.Base != nil {
		c.baseOnce.Do(func() { c.base = o.Base.Copy() })
	}
	return c
}

// baseConfig is the provider's AWS configuration, loaded once.
func (c *Clients) baseConfig(ctx context.Context) (aws.Config, error) {
	c.baseOnce.Do(func() {
		c.base, c.baseErr = config.LoadDefaultConfig(ctx)
		if c.baseErr != nil {
			c.baseErr = fmt.Errorf("load aws configuration: %w", c.baseErr)
		}
	})
	return c.base, c.baseErr
}

// retryer is the SDK's standard retryer (retries on throttling, 5xx and
// network errors) with bounded attempts and full-jitter backoff. The
// client-side retry quota is off: attempts are already bounded per call, and
// a quota shared by every tenant would let one failing tenant starve the
// others.
func (c *Clients) retryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = c.opts.MaxAttempts
		o.MaxBackoff = c.opts.MaxBackoff
		o.Backoff = fullJitter{max: c.opts.MaxBackoff}
		o.RateLimiter = ratelimit.None
	})
}

// fullJitter waits a uniformly random time in [0, min(MaxBackoff, 2^attempt
// s)). The SDK's default backoff waits exactly MaxBackoff, unjittered, once
// 2^attempt seconds exceeds it (from the second retry on with the default
// 2s), so every caller throttled together would retry in step.
type fullJitter struct{ max time.Duration }

// BackoffDelay implements retry.BackoffDelayer.
func (j fullJitter) BackoffDelay(attempt int, _ error) (time.Duration, error) {
	ceiling := j.max
	if attempt >= 0 && attempt < 30 && time.Second<<attempt < ceiling {
		ceiling = time.Second << attempt
	}
	if ceiling <= 0 {
		return 0, nil
	}
	return time.Duration(mrand.Int64N(int64(ceiling))), nil
}

// KMS returns the KMS client for conn in region, built once per connection
// and region and reused until Forget or the connection changes.
func (c *Clients) KMS(ctx context.Context, conn Connection, region string) (*kms.Client, error) {
	if !KnownRegion(region) {
		return nil, &models.ValidationError{Field: "region", Message: "is not a known AWS region"}
	}
	fp := conn.fingerprint()
	key := conn.ID + "/" + region
	c.mu.Lock()
	e, ok := c.kms[key]
	if !ok || e.fp != fp {
		e = &kmsEntry{fp: fp, ready: make(chan struct{})}
		c.kms[key] = e
		c.mu.Unlock()
		e.client, e.err = c.buildKMS(context.WithoutCancel(ctx), conn, fp, region) // the waiters want it too
		if e.err != nil {
			c.mu.Lock()
			if c.kms[key] == e {
				delete(c.kms, key) // failures are not kept: the next call tries again
			}
			c.mu.Unlock()
		}
		close(e.ready)
	} else {
		c.mu.Unlock()
	}
	select {
	case <-e.ready:
		return e.client, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// buildKMS makes conn's client in region, with the connection's cached
// credentials.
func (c *Clients) buildKMS(ctx context.Context, conn Connection, fp, region string) (*kms.Client, error) {
	prov, err := c.cachedCredentials(ctx, conn, fp)
	if err != nil {
		return nil, err
	}
	return c.KMSWith(ctx, prov, region)
}

// Provider returns a KMS client in region acting as the provider itself
// (the default credential chain), for the provider's own KEK.
func (c *Clients) Provider(ctx context.Context, region string) (*kms.Client, error) {
	base, err := c.baseConfig(ctx)
	if err != nil {
		return nil, err
	}
	return c.KMSWith(ctx, base.Credentials, region)
}

func (c *Clients) KMSWith(ctx context.Context, prov aws.CredentialsProvider, region string) (*kms.Client, error) {
	base, err := c.baseConfig(ctx)
	if err != nil {
		return nil, err
	}
	return kms.NewFromConfig(base, func(o *kms.Options) {
		o.Region = region
		o.Credentials = prov
		o.Retryer = c.retryer()
		o.HTTPClient = c.http
		c.instrument(&o.APIOptions, &o.ClientLogMode, &o.Logger, "kms")
	}), nil
}

// STS is an STS client in region with the given credentials.
func (c *Clients) STS(ctx context.Context, prov aws.CredentialsProvider, region string) (*sts.Client, error) {
	base, err := c.baseConfig(ctx)
	if err != nil {
		return nil, err
	}
	return sts.NewFromConfig(base, func(o *sts.Options) {
		o.Region = region
		if prov != nil {
			o.Credentials = prov
		}
		o.Retryer = c.retryer()
		o.HTTPClient = c.http
		c.instrument(&o.APIOptions, &o.ClientLogMode, &o.Logger, "sts")
	}), nil
}

// cachedCredentials returns the connection's credentials provider, shared
// by its clients in every region so one AssumeRole serves them all.
func (c *Clients) cachedCredentials(ctx context.Context, conn Connection, fp string) (aws.CredentialsProvider, error) {
	c.mu.Lock()
	if e, ok := c.creds[conn.ID]; ok && e.fp == fp {
		c.mu.Unlock()
		return e.prov, nil
	}
	c.mu.Unlock()
	prov, err := c.Credentials(ctx, conn)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.creds[conn.ID] = credEntry{fp: fp, prov: prov}
	return prov, nil
}

// Credentials builds a fresh credentials provider for conn. For a role it
// is an AssumeRole provider wrapped in the SDK's credentials cache, which
// refreshes shortly before expiry and collapses concurrent refreshes.
func (c *Clients) Credentials(ctx context.Context, conn Connection) (aws.CredentialsProvider, error) {
	switch conn.Kind {
	case KindAccessKey:
		if c.opts.Sealer == nil {
			return nil, errors.New("keysvc: no sealer to open the connection's secret")
		}
		secret, err := c.opts.Sealer.Open(seal.SecretPurpose(conn.ID), conn.SecretSealed)
		if err != nil {
			return nil, fmt.Errorf("open connection secret: %w", err)
		}
		prov := credentials.NewStaticCredentialsProvider(conn.AccessKeyID, string(secret), "")
		clear(secret)
		return prov, nil
	case KindAssumeRole:
		region := conn.DefaultRegion
		if !KnownRegion(region) {
			region = "us-east-1"
		}
		stsc, err := c.STS(ctx, nil, region)
		if err != nil {
			return nil, err
		}
		ext := conn.ExternalID
		prov := stscreds.NewAssumeRoleProvider(stsc, conn.RoleARN, func(o *stscreds.AssumeRoleOptions) {
			o.ExternalID = aws.String(ext)
			o.RoleSessionName = sessionName(conn.TenantID)
			o.Duration = c.opts.SessionDuration
		})
		return aws.NewCredentialsCache(prov), nil
	}
	return nil, fmt.Errorf("keysvc: unknown connection kind %q", conn.Kind)
}

// sessionName names keyport and the tenant in the tenant's CloudTrail.
func sessionName(tenantID string) string {
	n := "keyport-" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' {
			return r
		}
		return -1
	}, tenantID)
	return n[:min(len(n), 64)]
}

// Forget drops the cached clients and credentials of a connection, after it
// is deleted or replaced.
func (c *Clients) Forget(connID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.creds, connID)
	for k := range c.kms {
		if strings.HasPrefix(k, connID+"/") {
			delete(c.kms, k)
		}
	}
}

// ClassifyKMSError maps an error from a KMS or STS call onto the sentinels
// callers act on (ErrAccessDenied, ErrKeyDisabled, ErrKeyPendingDeletion,
// ErrKeyNotUsable, ErrThrottled, ErrUnavailable), wrapped with %w and the
// AWS error code, never AWS's message text. Other errors are wrapped as
// they are; nil stays nil.
func ClassifyKMSError(err error) error {
	if err == nil {
		return nil
	}
	for _, s := range []error{ErrAccessDenied, ErrKeyDisabled, ErrKeyPendingDeletion, ErrKeyNotUsable, ErrThrottled, ErrUnavailable} {
		if errors.Is(err, s) {
			return err // already classified
		}
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		code := api.ErrorCode()
		if s := sentinelForCode(code, api.ErrorMessage()); s != nil {
			return fmt.Errorf("%w (aws error %s)", s, code)
		}
		var re *awshttp.ResponseError
		if errors.As(err, &re) && re.HTTPStatusCode() >= 500 {
			return fmt.Errorf("%w (aws error %s, http %d)", ErrUnavailable, code, re.HTTPStatusCode())
		}
		return &awsCallError{code: code, err: err}
	}
	var quota ratelimit.QuotaExceededError
	var send *smithyhttp.RequestSendError
	var netErr net.Error
	var re *awshttp.ResponseError
	switch {
	case errors.As(err, &quota):
		return fmt.Errorf("%w (client retry quota)", ErrThrottled)
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &send), errors.As(err, &netErr):
		return fmt.Errorf("%w (network: %w)", ErrUnavailable, err)
	case errors.As(err, &re) && re.HTTPStatusCode() >= 500:
		return fmt.Errorf("%w (http %d)", ErrUnavailable, re.HTTPStatusCode())
	}
	return fmt.Errorf("kms call failed: %w", err)
}

// awsCallError is an AWS error no sentinel covers. Its text names the AWS
// error code only: AWS's message (which names ARNs and principals) stays out
// of operation details, pages and logs, while errors.As still reaches the
// SDK's error beneath.
type awsCallError struct {
	code string
	err  error
}

func (e *awsCallError) Error() string { return "kms call failed (aws error " + e.code + ")" }
func (e *awsCallError) Unwrap() error { return e.err }

// sentinelForCode maps AWS error codes (KMS awsJson __type names and STS
// query codes, which the SDK has no Go types for) onto sentinels. The
// message is only inspected, to tell "pending deletion" from the other
// invalid states; it is never passed on.
func sentinelForCode(code, message string) error {
	switch code {
	case "AccessDeniedException", "AccessDenied", "UnrecognizedClientException", "InvalidClientTokenId",
		"InvalidSignatureException", "SignatureDoesNotMatch", "IncompleteSignature", "IncompleteSignatureException",
		"ExpiredTokenException", "ExpiredToken", "MissingAuthenticationToken", "MissingAuthenticationTokenException",
		"RegionDisabledException", "InvalidIdentityToken":
		return ErrAccessDenied
	case "DisabledException":
		return ErrKeyDisabled
	case "KMSInvalidStateException":
		if strings.Contains(strings.ToLower(message), "pending deletion") || strings.Contains(strings.ToLower(message), "pendingdeletion") {
			return ErrKeyPendingDeletion
		}
		return ErrKeyNotUsable
	case "NotFoundException", "InvalidKeyUsageException", "UnsupportedOperationException":
		return ErrKeyNotUsable
	case "ThrottlingException", "Throttling", "LimitExceededException", "RequestLimitExceeded",
		"TooManyRequestsException", "ThrottledException", "SlowDown":
		return ErrThrottled
	case "KMSInternalException", "KeyUnavailableException", "DependencyTimeoutException", "InternalFailure", "InternalError",
		"ServiceUnavailable", "ServiceUnavailableException", "RequestTimeout", "RequestTimeoutException":
		return ErrUnavailable
	}
	return nil
}

// NewExternalID makes an external id for a role connection: 128 random
// bits, so no other keyport tenant (or other customer of any service) can
// guess it and make keyport a confused deputy.
func (c *Clients) NewExternalID() string {
	if c.opts.NewExternalID != nil {
		return c.opts.NewExternalID()
	}
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return "keyport-" + hex.EncodeToString(b[:])
}

// ErrorCode is the AWS error code of err, or "" when err is nil or no AWS
// API error (a network failure, a cancelled context).
func ErrorCode(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}
