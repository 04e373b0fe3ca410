package main

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"keyport/handlers/oidcrp"
	"keyport/keysvc/awskms"
	"keyport/keysvc/mailer"
)

// config is keyport's configuration, read from KEYPORT_* environment
// variables. Every variable is documented in README.md; keep the two in step.
type config struct {
	Dev bool // set by the `dev` subcommand, never by the environment

	Addr    string // listen address
	BaseURL string // public URL users reach keyport at

	DataDir     string
	DatabaseURL string
	KEKFile     string
	// KEKKMSKeyARN names the provider's AWS KMS key that wraps the KEK;
	// when set, no plaintext KEK file is used.
	KEKKMSKeyARN string
	// ValidationInterval is how often every key is re-validated in the
	// background (0 turns the sweep off).
	ValidationInterval time.Duration
	// JobWorkers is how many durable jobs (rotations, notices, mail,
	// sweeps) one replica runs at once (KEYPORT_JOB_WORKERS).
	JobWorkers int

	// CacheTTL is how long a plaintext data key stays cached after it was
	// fetched from KMS: the longest a tenant's revocation can take to bite
	// without a purge.
	CacheTTL time.Duration

	OIDCIssuer       string
	OIDCClientID     string
	OIDCClientSecret string
	OIDCRequireMFA   bool
	// OIDCMFAAMR and OIDCMFAACR are the amr and acr values that count as a
	// second factor (KEYPORT_OIDC_MFA_AMR, KEYPORT_OIDC_MFA_ACR).
	OIDCMFAAMR, OIDCMFAACR []string
	// OIDCSubjectChange is "refuse" or "link": what a sign-in with a new
	// subject but a known verified email does (KEYPORT_OIDC_SUBJECT_CHANGE).
	OIDCSubjectChange string

	Signup string // "open" or "invite-only"
	// OneTenantPerDomain refuses a first sign-in a tenant of its own when
	// its email domain already has one (KEYPORT_ONE_TENANT_PER_DOMAIN).
	OneTenantPerDomain bool
	// DevIdPAddr is where `keyport dev` runs its identity provider
	// (KEYPORT_DEV_IDP_ADDR); "" = the address saved in the data directory.
	DevIdPAddr string
	Operators  []string // lowercased emails of provider operators

	SessionIdleTimeout time.Duration
	SessionMaxAge      time.Duration

	// Outgoing mail. In development the mail catcher replaces the relay.
	SMTPHost     string
	SMTPPort     int
	SMTPTLS      mailer.TLSMode
	SMTPUsername string
	SMTPPassword string
	MailFrom     string

	LogLevel  string
	LogFormat string // "text" or "json"

	// Operations (issue 9): read by envReader.operations.
	KEKPreviousFile string            // previous KEK during a rotation: opens, never seals
	MetricsAddr     string            // separate metrics listener, "" = none
	MetricsToken    string            // bearer token for /metrics
	APIRate         float64           // data API requests per second per token, 0 = no limit
	APIBurst        int               // data API burst per token
	LoginRate       float64           // sign-in starts per minute per client address, 0 = no limit
	APIAuthFailRate float64           // failed data API authentications per minute per client address, 0 = no limit
	AWSLogMode      aws.ClientLogMode // AWS SDK client log mode (never bodies outside dev)

	// TLSCertFile and TLSKeyFile, when set, make keyport serve HTTPS itself
	// (PEM; the certificate file may hold the chain). Both or neither.
	TLSCertFile string
	TLSKeyFile  string
}

// configError names the variable at fault, so the one line the program
// prints on a bad value tells the operator exactly what to fix.
type configError struct {
	Var     string
	Problem string
}

func (e *configError) Error() string { return e.Var + ": " + e.Problem }

// loadConfig reads and validates the configuration. dev selects the
// development defaults of `keyport dev`: loopback address, a data directory in
// the working directory, and stand-ins for the IdP (filled in by the caller).
func loadConfig(getenv func(string) string, dev bool) (*config, error) {
	r := envReader{getenv: getenv}
	c := &config{Dev: dev}

	defAddr, defData := ":8080", "/var/lib/keyport"
	if dev {
		defAddr, defData = "127.0.0.1:8080", "data"
	}
	c.Addr = r.str("KEYPORT_ADDR", defAddr)
	c.DataDir = r.str("KEYPORT_DATA_DIR", defData)
	c.DatabaseURL = r.str("KEYPORT_DATABASE_URL", filepath.Join(c.DataDir, "keyport.db"))
	c.KEKFile = r.str("KEYPORT_KEK_FILE", "")
	c.KEKKMSKeyARN = r.str("KEYPORT_KEK_KMS_KEY_ARN", "")
	c.ValidationInterval = r.duration("KEYPORT_VALIDATION_INTERVAL", time.Hour, 0, 7*24*time.Hour)
	c.JobWorkers = r.count("KEYPORT_JOB_WORKERS", defaultJobWorkers, 1, 256)
	c.CacheTTL = r.duration("KEYPORT_CACHE_TTL", 5*time.Minute, time.Second, time.Hour)
	if c.KEKFile != "" && c.KEKKMSKeyARN != "" {
		r.fail("KEYPORT_KEK_KMS_KEY_ARN", "set either KEYPORT_KEK_FILE or KEYPORT_KEK_KMS_KEY_ARN, not both")
	}
	if c.KEKFile == "" && c.KEKKMSKeyARN == "" && dev {
		c.KEKFile = filepath.Join(c.DataDir, "kek.key")
	}
	c.BaseURL = strings.TrimRight(r.str("KEYPORT_BASE_URL", ""), "/")
	c.OIDCIssuer = r.str("KEYPORT_OIDC_ISSUER", "")
	c.OIDCClientID = r.str("KEYPORT_OIDC_CLIENT_ID", "")
	c.OIDCClientSecret = r.secret("KEYPORT_OIDC_CLIENT_SECRET")
	c.OIDCRequireMFA = r.boolean("KEYPORT_OIDC_REQUIRE_MFA", false)
	c.OIDCSubjectChange = r.oneOf("KEYPORT_OIDC_SUBJECT_CHANGE", "refuse", "refuse", "link")
	c.OIDCMFAAMR = r.list("KEYPORT_OIDC_MFA_AMR", oidcrp.DefaultMFAAMR)
	c.OIDCMFAACR = r.list("KEYPORT_OIDC_MFA_ACR", []string{})
	if c.OIDCRequireMFA && len(c.OIDCMFAAMR) == 0 && len(c.OIDCMFAACR) == 0 {
		r.fail("KEYPORT_OIDC_MFA_AMR", "with KEYPORT_OIDC_REQUIRE_MFA=true, name at least one amr value here or one acr value in KEYPORT_OIDC_MFA_ACR, or nobody can sign in")
	}
	c.Operators = r.emails("KEYPORT_OPERATORS")
	c.Signup = r.oneOf("KEYPORT_SIGNUP", "open", "open", "invite-only")
	c.OneTenantPerDomain = r.boolean("KEYPORT_ONE_TENANT_PER_DOMAIN", true)
	c.DevIdPAddr = r.str("KEYPORT_DEV_IDP_ADDR", "")
	if c.DevIdPAddr != "" {
		if host, _, err := net.SplitHostPort(c.DevIdPAddr); err != nil || !isLoopbackHost(host) {
			r.fail("KEYPORT_DEV_IDP_ADDR", "must be a loopback host:port, for example 127.0.0.1:8081")
		}
	}
	c.SessionIdleTimeout = r.duration("KEYPORT_SESSION_IDLE_TIMEOUT", 30*time.Minute, time.Minute, 24*time.Hour)
	c.SessionMaxAge = r.duration("KEYPORT_SESSION_MAX_AGE", 12*time.Hour, 5*time.Minute, 30*24*time.Hour)
	c.LogLevel = r.oneOf("KEYPORT_LOG_LEVEL", "info", "debug", "info", "warn", "error")
	defFormat := "json"
	if dev {
		defFormat = "text"
	}
	c.LogFormat = r.oneOf("KEYPORT_LOG_FORMAT", defFormat, "text", "json")
	r.smtp(c, dev)
	r.operations(c, dev)
	if r.err != nil {
		return nil, r.err
	}

	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return nil, &configError{"KEYPORT_ADDR", "must be host:port, for example 127.0.0.1:8080"}
	}
	if dev && !isLoopbackHost(host) {
		// Development mode signs anyone in through its own identity
		// provider and shows every email at /dev/mail: never on a network.
		return nil, &configError{"KEYPORT_ADDR", "development mode listens on loopback only (127.0.0.1, ::1 or localhost), not " + c.Addr}
	}
	if c.SessionIdleTimeout > c.SessionMaxAge {
		return nil, &configError{"KEYPORT_SESSION_IDLE_TIMEOUT", "must not be longer than KEYPORT_SESSION_MAX_AGE"}
	}
	if dev {
		// The development IdP and the printed URL fill in the rest.
		return c, nil
	}
	required := []struct{ name, val string }{
		{"KEYPORT_BASE_URL", c.BaseURL},
		{"KEYPORT_KEK_FILE", c.KEKFile + c.KEKKMSKeyARN}, // or KEYPORT_KEK_KMS_KEY_ARN
		{"KEYPORT_OIDC_ISSUER", c.OIDCIssuer},
		{"KEYPORT_OIDC_CLIENT_ID", c.OIDCClientID},
		{"KEYPORT_OIDC_CLIENT_SECRET", c.OIDCClientSecret},
		{"KEYPORT_SMTP_HOST", c.SMTPHost},
		{"KEYPORT_MAIL_FROM", c.MailFrom},
	}
	for _, v := range required {
		if v.val == "" {
			return nil, &configError{v.name, "is required outside development mode"}
		}
	}
	if err := checkHTTPSURL(c.BaseURL); err != nil {
		return nil, &configError{"KEYPORT_BASE_URL", err.Error()}
	}
	if err := checkHTTPSURL(c.OIDCIssuer); err != nil {
		return nil, &configError{"KEYPORT_OIDC_ISSUER", err.Error()}
	}
	return c, nil
}

// isLoopbackHost reports whether host (of a listen address) is loopback
// only; "" and 0.0.0.0 listen on every interface.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loadCommandConfig is the configuration of a one-shot command (migrate,
// audit verify, token, kek rotate, backup): with KEYPORT_DEV=true the
// development defaults, so the commands work on `keyport dev`'s data.
func loadCommandConfig(getenv func(string) string) (*config, error) {
	return loadConfig(getenv, getenv("KEYPORT_DEV") == "true")
}

// checkHTTPSURL accepts an absolute https URL without query or fragment.
// Session cookies are Secure outside development, so plain http cannot work.
func checkHTTPSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return errors.New("must be an absolute URL, for example https://keyport.example.com")
	}
	if u.Scheme != "https" {
		return errors.New("must use https outside development mode")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return errors.New("must not have a query or fragment")
	}
	return nil
}

// envReader reads variables and keeps the first error, so loadConfig reads
// top to bottom without an if after every line.
type envReader struct {
	getenv func(string) string
	err    error
}

func (r *envReader) fail(name, problem string) {
	if r.err == nil {
		r.err = &configError{name, problem}
	}
}

func (r *envReader) str(name, def string) string {
	if v := strings.TrimSpace(r.getenv(name)); v != "" {
		return v
	}
	return def
}

// secret reads NAME, or the file named by NAME_FILE (one of the two, not both),
// so secrets can come from a mounted file rather than the environment.
func (r *envReader) secret(name string) string {
	v, file := r.getenv(name), strings.TrimSpace(r.getenv(name+"_FILE"))
	if v != "" && file != "" {
		r.fail(name, "set either "+name+" or "+name+"_FILE, not both")
		return ""
	}
	if file == "" {
		return v
	}
	b, err := os.ReadFile(file)
	if err != nil {
		r.fail(name+"_FILE", "cannot read "+file+": "+describeFileError(err))
		return ""
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		r.fail(name+"_FILE", file+" is empty")
	}
	return s
}

func describeFileError(err error) string {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "no such file"
	case errors.Is(err, os.ErrPermission):
		return "permission denied"
	}
	return "read failed"
}

// emails reads a comma-separated list of email addresses, lowercased.
func (r *envReader) emails(name string) []string {
	var out []string
	for _, e := range strings.Split(r.str(name, ""), ",") {
		e = strings.ToLower(strings.TrimSpace(e))
		if e == "" {
			continue
		}
		if at := strings.IndexByte(e, '@'); at < 1 || at == len(e)-1 || strings.ContainsAny(e, " <>") {
			r.fail(name, fmt.Sprintf("%q is not an email address", e))
			return nil
		}
		out = append(out, e)
	}
	return out
}

// list reads a comma-separated list of claim values; unset gives def, set
// to "none" gives an empty list.
func (r *envReader) list(name string, def []string) []string {
	raw := strings.TrimSpace(r.str(name, ""))
	if raw == "" {
		return def
	}
	out := []string{}
	if raw == "none" {
		return out
	}
	for _, v := range strings.Split(raw, ",") {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		if len(v) > 200 || strings.ContainsFunc(v, func(c rune) bool { return c < ' ' || c == 0x7f || c == '"' }) {
			r.fail(name, fmt.Sprintf("%q is not a claim value", v))
			return nil
		}
		out = append(out, v)
	}
	return out
}

func (r *envReader) boolean(name string, def bool) bool {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.fail(name, fmt.Sprintf("must be true or false, got %q", v))
	}
	return b
}

func (r *envReader) oneOf(name, def string, allowed ...string) string {
	v := r.str(name, def)
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	r.fail(name, fmt.Sprintf("must be one of %s, got %q", strings.Join(allowed, ", "), v))
	return def
}

func (r *envReader) duration(name string, def, min, max time.Duration) time.Duration {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		r.fail(name, fmt.Sprintf("must be a duration such as 30m or 12h, got %q", v))
		return def
	}
	if d < min || d > max {
		r.fail(name, fmt.Sprintf("must be between %s and %s, got %s", min, max, d))
	}
	return d
}

// devMailFrom is the sender in development, where mail goes to the catcher.
const devMailFrom = "keyport <keyport@keyport.localhost>"

// smtp reads the outgoing mail settings. Plain-text SMTP ("none") exists
// for the development catcher only: outside development the relay must
// speak TLS, because the mail carries invitation links.
func (r *envReader) smtp(c *config, dev bool) {
	c.SMTPHost = r.str("KEYPORT_SMTP_HOST", "")
	mode, err := mailer.ParseTLSMode(r.str("KEYPORT_SMTP_TLS", string(mailer.STARTTLSMandatory)))
	if err != nil {
		r.fail("KEYPORT_SMTP_TLS", "must be starttls-mandatory, tls or none")
	}
	if mode == mailer.NoTLS && !dev {
		r.fail("KEYPORT_SMTP_TLS", "none sends mail in plain text and is only for the development mail catcher; use starttls-mandatory or tls")
	}
	c.SMTPTLS = mode
	c.SMTPPort = r.port("KEYPORT_SMTP_PORT", mailer.DefaultPort(mode))
	c.SMTPUsername = r.str("KEYPORT_SMTP_USERNAME", "")
	c.SMTPPassword = r.secret("KEYPORT_SMTP_PASSWORD")
	if (c.SMTPUsername == "") != (c.SMTPPassword == "") {
		r.fail("KEYPORT_SMTP_USERNAME", "set both KEYPORT_SMTP_USERNAME and KEYPORT_SMTP_PASSWORD, or neither")
	}
	def := ""
	if dev {
		def = devMailFrom
	}
	c.MailFrom = r.str("KEYPORT_MAIL_FROM", def)
	if c.MailFrom != "" {
		if _, err := mail.ParseAddress(c.MailFrom); err != nil {
			problem := fmt.Sprintf("%q is not an email address (use keyport@example.com or \"keyport <keyport@example.com>\")", c.MailFrom)
			if len(c.MailFrom) > 1 && c.MailFrom[0] == c.MailFrom[len(c.MailFrom)-1] && strings.ContainsRune(`"'`, rune(c.MailFrom[0])) {
				// A shell and systemd remove the quotes of an environment
				// file; docker --env-file keeps them.
				problem += "; the quotes are part of the value here: leave them out where the file is not read by a shell or systemd (docker --env-file)"
			}
			r.fail("KEYPORT_MAIL_FROM", problem)
		}
	}
}

// defaultJobWorkers is KEYPORT_JOB_WORKERS' default. A job spends most
// of its time waiting for KMS (a rotation of a two-region key makes four
// calls in a row), not on this machine's CPU, so a replica runs several
// at once; each holds a database connection only between those calls.
const defaultJobWorkers = 16

// count reads a whole number between min and max.
func (r *envReader) count(name string, def, min, max int) int {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		r.fail(name, fmt.Sprintf("must be a whole number from %d to %d, got %q", min, max, v))
		return def
	}
	return n
}

func (r *envReader) port(name string, def int) int {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	p, err := strconv.Atoi(v)
	if err != nil || p < 1 || p > 65535 {
		r.fail(name, fmt.Sprintf("must be a port number from 1 to 65535, got %q", v))
		return def
	}
	return p
}

// operations reads the operations settings: the previous KEK of a
// rotation, metrics, rate limits and AWS SDK logging.
func (r *envReader) operations(c *config, dev bool) {
	c.KEKPreviousFile = r.str("KEYPORT_KEK_PREVIOUS_FILE", "")
	if c.KEKPreviousFile != "" && c.KEKPreviousFile == c.KEKFile {
		r.fail("KEYPORT_KEK_PREVIOUS_FILE", "names the same file as KEYPORT_KEK_FILE; it must be the KEK being replaced")
	}
	c.MetricsAddr = r.str("KEYPORT_METRICS_ADDR", "")
	if c.MetricsAddr != "" {
		if _, port, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			r.fail("KEYPORT_METRICS_ADDR", "must be host:port, for example 127.0.0.1:9090")
		} else if c.MetricsAddr == c.Addr && port != "0" {
			r.fail("KEYPORT_METRICS_ADDR", "must differ from KEYPORT_ADDR: it is a separate, private listener")
		}
	}
	c.MetricsToken = r.secret("KEYPORT_METRICS_TOKEN")
	if c.MetricsToken != "" && len(c.MetricsToken) < 16 {
		r.fail("KEYPORT_METRICS_TOKEN", "must be at least 16 characters (for example: openssl rand -hex 32)")
	}
	c.APIRate = r.number("KEYPORT_API_RATE", 1000, 0, 1e6)
	c.APIBurst = int(r.number("KEYPORT_API_BURST", max(1, math.Ceil(2*c.APIRate)), 0, 1e7))
	if c.APIRate > 0 && c.APIBurst < 1 {
		r.fail("KEYPORT_API_BURST", "must be at least 1 while KEYPORT_API_RATE is set")
	}
	c.LoginRate = r.number("KEYPORT_LOGIN_RATE", 60, 0, 1e5)
	c.APIAuthFailRate = r.number("KEYPORT_API_AUTH_FAILURE_RATE", 60, 0, 1e6)
	mode, err := awskms.ParseAWSLogMode(r.str("KEYPORT_AWS_LOG", ""), dev)
	if err != nil {
		r.fail("KEYPORT_AWS_LOG", err.Error())
	}
	c.AWSLogMode = mode
	c.TLSCertFile, c.TLSKeyFile = r.str("KEYPORT_TLS_CERT_FILE", ""), r.str("KEYPORT_TLS_KEY_FILE", "")
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		r.fail("KEYPORT_TLS_CERT_FILE", "set both KEYPORT_TLS_CERT_FILE and KEYPORT_TLS_KEY_FILE, or neither")
	}
}

// number reads a decimal number between min and max.
func (r *envReader) number(name string, def, min, max float64) float64 {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) {
		r.fail(name, fmt.Sprintf("must be a number, got %q", v))
		return def
	}
	if f < min || f > max {
		r.fail(name, fmt.Sprintf("must be between %g and %g, got %g", min, max, f))
	}
	return f
}
