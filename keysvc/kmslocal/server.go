package kmslocal

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// DefaultAccount is the account that callers act in when no principals are
// configured, the same default other KMS emulators use.
const DefaultAccount = "111122223333"

// Config configures a Server. The JSON form is the -config file of
// cmd/kmslocal; the fields without a JSON name are for Go callers only.
type Config struct {
	// DefaultAccount is the account of any caller when Principals is empty.
	DefaultAccount string `json:"defaultAccount"`
	// Principals maps access keys to IAM principals. When it is non-empty,
	// unknown access keys are refused and signatures are verified.
	Principals []Principal `json:"principals"`
	// Roles are the roles STS AssumeRole can hand out, with their trust rule.
	Roles []Role `json:"roles"`
	// KeyQuota caps the keys per account and Region (LimitExceededException);
	// zero means the AWS default of 100000.
	KeyQuota int `json:"keyQuota,omitempty"`
	// WrappingKeySpecs and WrappingAlgorithms narrow what
	// GetParametersForImport offers (UnsupportedOperationException for the
	// rest), to stand in for KMS implementations that offer less than AWS:
	// local-kms, for one, offers RSA_2048 only. Empty means all of AWS's.
	WrappingKeySpecs   []string `json:"wrappingKeySpecs,omitempty"`
	WrappingAlgorithms []string `json:"wrappingAlgorithms,omitempty"`

	// Clock is the server's notion of now, for deletion windows, material
	// expiry, rotation and credential expiry; nil means time.Now.
	Clock func() time.Time `json:"-"`
	// Rand supplies key ids, key material, nonces and tokens; nil means
	// crypto/rand. RSA wrapping keys always come from crypto/rand.
	Rand io.Reader `json:"-"`
	// DataFile, when set, is where state is loaded from and saved to after
	// every change (temp file + rename). It holds key material in the clear.
	DataFile string `json:"-"`
	// AllowRemote lets Start bind a non-loopback address.
	AllowRemote bool `json:"-"`
	// Logger receives persistence failures; nil discards them.
	Logger *slog.Logger `json:"-"`
}

// Principal is an IAM identity reachable by its long-term access key.
type Principal struct {
	// AccessKeyID is what the caller puts in its SigV4 credential scope.
	AccessKeyID string `json:"accessKeyId"`
	// SecretAccessKey is used to verify the caller's signatures.
	SecretAccessKey string `json:"secretAccessKey"`
	// ARN is arn:aws:iam::ACCOUNT:user/NAME or arn:aws:iam::ACCOUNT:root.
	ARN string `json:"arn"`
	// Policies are the principal's identity-based IAM policies (JSON
	// documents). Without them the principal administers its account;
	// with them, key actions need what AWS needs (see identity.go); they
	// add to IdentityPolicy.
	Policies []json.RawMessage `json:"policies,omitempty"`
	// IdentityPolicy is the IAM policy attached to the user (JSON, no
	// Principal). Empty means the user may do whatever its account may;
	// set, a key policy that grants the user's account root delegates to
	// it, as in AWS.
	IdentityPolicy string `json:"identityPolicy,omitempty"`
}

// String names the principal without its secret, so a logged Config does
// not leak it.
func (p Principal) String() string { return p.ARN + " (" + p.AccessKeyID + ")" }

// LogValue redacts the secret for slog.
func (p Principal) LogValue() slog.Value {
	return slog.GroupValue(slog.String("arn", p.ARN), slog.String("access_key_id", p.AccessKeyID))
}

// credential is a configured access key: the secret that verifies its
// signatures and the principal it acts as, parsed once in New rather than on
// every request.
type credential struct {
	secret string
	who    principal
}

// Role is an IAM role that STS AssumeRole may hand out.
type Role struct {
	// ARN is arn:aws:iam::ACCOUNT:role/NAME.
	ARN string `json:"arn"`
	// TrustedPrincipals may assume the role: principal ARNs, or
	// arn:aws:iam::ACCOUNT:root for any principal of that account, or "*".
	TrustedPrincipals []string `json:"trustedPrincipals"`
	// ExternalID, when set, must be passed as ExternalId by the caller.
	ExternalID string `json:"externalId,omitempty"`
	// MaxSessionSeconds caps DurationSeconds; zero means 3600 as in IAM.
	MaxSessionSeconds int32 `json:"maxSessionDurationSeconds,omitempty"`
	// IdentityPolicy is the IAM policy attached to the role, which its
	// sessions act under (see Principal.IdentityPolicy).
	IdentityPolicy string `json:"identityPolicy,omitempty"`
}

// LoadConfigFile reads a JSON Config such as the -config file of
// cmd/kmslocal. Unknown fields are an error so a typo does not silently open
// the server to any caller.
func LoadConfigFile(path string) (Config, error) {
	var cfg Config
	f, err := os.Open(path)
	if err != nil {
		return cfg, fmt.Errorf("kmslocal: open config: %w", err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return cfg, fmt.Errorf("kmslocal: parse config %s: %w", path, err)
	}
	return cfg, nil
}

// Server is the KMS and STS stand-in. It is an http.Handler and safe for
// concurrent use; Start serves it on a loopback port.
type Server struct {
	cfg        Config
	principals map[string]credential // by access key id
	roles      map[string]Role
	identities map[string]*identityDoc // by user or role ARN
	strict     bool
	rand       io.Reader

	mu        sync.Mutex // guards everything below
	st        *state
	imports   map[string]*importParams
	dirty     bool
	nextEvent time.Time

	faults faults
	stats  stats

	hs *http.Server
	ln net.Listener
}

// New builds a Server from cfg and loads cfg.DataFile if it exists.
func New(cfg Config) (*Server, error) {
	if cfg.DefaultAccount == "" {
		cfg.DefaultAccount = DefaultAccount
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.KeyQuota <= 0 {
		cfg.KeyQuota = 100000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:        cfg,
		principals: map[string]credential{},
		roles:      map[string]Role{},
		identities: map[string]*identityDoc{},
		strict:     len(cfg.Principals) > 0,
		rand:       &lockedReader{r: cfg.Rand},
		st:         newState(),
		imports:    map[string]*importParams{},
	}
	if err := s.OfferWrapping(cfg.WrappingKeySpecs, cfg.WrappingAlgorithms); err != nil {
		return nil, err
	}
	for _, p := range cfg.Principals {
		if p.AccessKeyID == "" || p.SecretAccessKey == "" {
			return nil, fmt.Errorf("kmslocal: principal %q needs an access key id and secret", p.ARN)
		}
		who, err := parsePrincipalARN(p.ARN)
		if err != nil {
			return nil, err
		}
		if _, dup := s.principals[p.AccessKeyID]; dup {
			return nil, fmt.Errorf("kmslocal: access key %s configured twice", p.AccessKeyID)
		}
		who.AccessKeyID = p.AccessKeyID
		if err := s.addIdentityPolicies(p.ARN, p.Policies); err != nil {
			return nil, err
		}
		s.principals[p.AccessKeyID] = credential{secret: p.SecretAccessKey, who: who}
		if err := s.addIdentityPolicy(p.ARN, p.IdentityPolicy); err != nil {
			return nil, err
		}
	}
	for _, r := range cfg.Roles {
		if _, _, err := parseRoleARN(r.ARN); err != nil {
			return nil, err
		}
		s.roles[r.ARN] = r
		if err := s.addIdentityPolicy(r.ARN, r.IdentityPolicy); err != nil {
			return nil, err
		}
	}
	if cfg.DataFile != "" {
		if err := s.load(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// addIdentityPolicy parses the identity policy configured for arn, if any.
func (s *Server) addIdentityPolicy(arn, text string) error {
	if text == "" {
		return nil
	}
	doc, err := parseIdentityPolicy(text)
	if err != nil {
		return fmt.Errorf("kmslocal: identity policy of %s: %w", arn, err)
	}
	if prev := s.identities[arn]; prev != nil { // several attached policies: their statements together
		doc.Statements = append(prev.Statements, doc.Statements...)
	}
	s.identities[arn] = doc
	return nil
}

// lockedReader serialises reads so a caller-supplied io.Reader that is not
// safe for concurrent use can still be Config.Rand.
type lockedReader struct {
	mu sync.Mutex
	r  io.Reader
}

func (l *lockedReader) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return io.ReadFull(l.r, p)
}

func (s *Server) randBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := io.ReadFull(s.rand, b); err != nil {
		// Without randomness no key or nonce is safe; failing loudly beats
		// handing out a zero key.
		panic(fmt.Sprintf("kmslocal: read random: %v", err))
	}
	return b
}

func (s *Server) now() time.Time { return s.cfg.Clock().UTC() }

// ErrNotLoopback is returned by Start for an address that is not loopback
// while Config.AllowRemote is false.
var ErrNotLoopback = errors.New("kmslocal: refusing to listen on a non-loopback address")

// checkLoopback accepts localhost and loopback IPs only: the server hands
// out key material to anyone who asks, so it must not be reachable from
// another machine by accident.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("kmslocal: listen address %q: %w", addr, err)
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%w: %q (use 127.0.0.1 or allow remote explicitly)", ErrNotLoopback, addr)
}

// Start listens on addr (for example "127.0.0.1:0") and serves in the
// background until Close.
func (s *Server) Start(addr string) error {
	if !s.cfg.AllowRemote {
		if err := checkLoopback(addr); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("kmslocal: listen: %w", err)
	}
	s.ln = ln
	s.hs = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.hs.Serve(ln) }()
	return nil
}

// Addr is the address Start bound, such as 127.0.0.1:41234.
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// URL is the base endpoint to give the AWS SDK, such as http://127.0.0.1:41234.
func (s *Server) URL() string { return "http://" + s.Addr() }

// Close stops a server started with Start, letting requests in flight
// finish for up to 200ms. Then it closes what is left: net/http counts a
// connection that was dialled but has not sent a request yet (the SDK dials
// spares under concurrency) as busy for 5 seconds, which would make every
// test's cleanup wait that long.
func (s *Server) Close() error {
	if s.hs == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := s.hs.Shutdown(ctx); errors.Is(err, context.DeadlineExceeded) {
		return s.hs.Close()
	} else if err != nil {
		return err
	}
	return nil
}

// AWSConfig returns an aws.Config whose KMS and STS clients talk to this
// server with the given static credentials, as keysvc and tests need.
func (s *Server) AWSConfig(region, accessKeyID, secretAccessKey string) aws.Config {
	return aws.Config{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider(accessKeyID, secretAccessKey, ""),
		BaseEndpoint: aws.String(s.URL()),
	}
}

// newRequestID draws from crypto/rand, not Config.Rand, so that request
// ids do not shift the deterministic stream a test may inject.
func newRequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
