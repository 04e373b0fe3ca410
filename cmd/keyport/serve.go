package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"keyport/handlers"
	"keyport/handlers/dataapi"
	"keyport/handlers/manageapi"
	"keyport/handlers/oidcrp"
	"keyport/keysvc"
	"keyport/keysvc/awskms"
	"keyport/keysvc/mailer"
	"keyport/keysvc/managed"
	"keyport/keysvc/seal"
	"keyport/keysvc/webhooks"
	"keyport/models"
	"keyport/web"
)

// openStore opens and migrates the database and installs the audit key,
// which is kept sealed under the KEK in the database itself.
func openStore(ctx context.Context, cfg *config, log *slog.Logger) (*models.DB, error) {
	db, sealer, err := openStoreWithSealer(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	sealer.Close()
	return db, nil
}

// openStoreWithSealer is openStore that also hands back the Sealer under
// the KEK, which the key service needs for connection secrets. The caller
// closes it.
func openStoreWithSealer(ctx context.Context, cfg *config, log *slog.Logger) (*models.DB, *seal.Sealer, error) {
	if cfg.Dev {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, nil, &configError{"KEYPORT_DATA_DIR", "cannot create " + cfg.DataDir + ": " + describeFileError(err)}
		}
	} else if path, ok := sqliteFile(cfg.DatabaseURL); ok {
		// The file's own path: a file: URI's directory is not the URI's.
		dir := filepath.Dir(path)
		if _, err := os.Stat(dir); err != nil {
			return nil, nil, &configError{"KEYPORT_DATABASE_URL", "directory " + dir + " does not exist"}
		}
	}
	var sealer *seal.Sealer
	if cfg.KEKKMSKeyARN == "" {
		// A bad KEK file stops keyport before it touches the database.
		kek, err := seal.LoadOrCreateKEKFile(cfg.KEKFile, cfg.Dev)
		if err != nil {
			return nil, nil, &configError{"KEYPORT_KEK_FILE", err.Error()}
		}
		sealer, err = seal.NewSealer(kek)
		clear(kek)
		if err != nil {
			return nil, nil, &configError{"KEYPORT_KEK_FILE", err.Error()}
		}
	}

	if err := createPrivateFile(cfg.DatabaseURL); err != nil {
		return nil, nil, &configError{"KEYPORT_DATABASE_URL", err.Error()}
	}
	db, err := models.Open(ctx, cfg.DatabaseURL, log)
	if err != nil {
		return nil, nil, fmt.Errorf("open database: %w", err)
	}
	fail := func(err error) (*models.DB, *seal.Sealer, error) {
		if sealer != nil {
			sealer.Close()
		}
		db.Close()
		return nil, nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		return fail(fmt.Errorf("migrate database: %w", err))
	}
	if sealer == nil {
		// The KEK is a data key wrapped by the provider's KMS key, kept in
		// the database and unwrapped through the same SDK path as tenant
		// keys: no plaintext KEK on disk.
		kek, err := awskms.LoadKMSKEK(ctx, db, awskms.NewClients(awskms.ClientOptions{Logger: log}), cfg.KEKKMSKeyARN)
		if err != nil {
			return fail(&configError{"KEYPORT_KEK_KMS_KEY_ARN", err.Error()})
		}
		sealer, err = seal.NewSealer(kek)
		clear(kek)
		if err != nil {
			return fail(&configError{"KEYPORT_KEK_KMS_KEY_ARN", err.Error()})
		}
	}
	if err := addPreviousKEK(sealer, cfg); err != nil {
		return fail(err)
	}
	key, err := seal.AuditKey(ctx, db, sealer)
	if err != nil {
		return fail(fmt.Errorf("load audit key: %w", err))
	}
	db.SetAuditKey(key)
	clear(key)
	return db, sealer, nil
}

// createPrivateFile creates the SQLite file with mode 0600 before SQLite
// does (it would use 0644): it holds sealed secrets and session hashes, and
// SQLite gives its -wal and -shm files the same mode as the database.
func createPrivateFile(path string) error {
	if strings.HasPrefix(path, "file:") || strings.Contains(path, "://") {
		return nil // a URI: the operator controls the file
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot create %s: %s", path, describeFileError(err))
	}
	return f.Close()
}

// serve runs the server until ctx ends, then shuts down gracefully.
func serve(ctx context.Context, cfg *config, stdout io.Writer) error {
	log := newLogger(cfg, stdout)
	// The access log (a line per request) is buffered, flushed every 100
	// ms and at the end, after the server has shut down.
	accessOut := web.NewBufferedWriter(stdout, 100*time.Millisecond)
	defer func() {
		accessOut.Close()
		if n := accessOut.Lost(); n > 0 {
			log.Error("access log lines lost: stdout refused them", "lines", n)
		}
	}()
	unlock, err := lockSQLite(cfg.DatabaseURL, cfg.Dev) // one server per SQLite file
	if err != nil {
		return err
	}
	defer unlock()
	db, sealer, err := openStoreWithSealer(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()
	defer sealer.Close()
	metrics := newMetrics(cfg) // nil unless a metrics listener or token is configured

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return &configError{"KEYPORT_ADDR", "cannot listen on " + cfg.Addr + " (is another program using it?)"}
	}
	defer ln.Close()
	var certs *certReloader
	if cfg.TLSCertFile != "" {
		if certs, err = newCertReloader(cfg.TLSCertFile, cfg.TLSKeyFile, log); err != nil {
			return err
		}
	}
	baseURL := cfg.BaseURL
	if baseURL == "" {
		baseURL = "http://" + ln.Addr().String()
		if certs != nil {
			baseURL = "https://" + ln.Addr().String()
		}
	}

	hcfg := handlers.Config{
		Dev: cfg.Dev, SessionIdle: cfg.SessionIdleTimeout, SessionMaxAge: cfg.SessionMaxAge,
		RequireMFA: cfg.OIDCRequireMFA, MFAAMR: cfg.OIDCMFAAMR, MFAACR: cfg.OIDCMFAACR,
		LinkChangedSubject: cfg.OIDCSubjectChange == "link", InviteOnly: cfg.Signup == "invite-only", SecureCookies: !cfg.Dev,
		SeveralTenantsPerDomain: !cfg.OneTenantPerDomain,
		Operators:               cfg.Operators, BaseURL: baseURL,
	}
	deps := handlers.Deps{DB: db, Logger: log, Config: hcfg}
	var clientOpts awskms.ClientOptions
	var stand *devStandIns
	if cfg.Dev {
		stand, err = startDevStandIns(ctx, cfg, db, log)
		if err != nil {
			return err
		}
		defer stand.Close()
		deps.Mailbox = stand.mailbox()
		log.Info("development stand-ins running", "oidc_issuer", cfg.OIDCIssuer, "smtp", stand.mail.Addr(), "kms", stand.kms.URL())
		clientOpts, deps.Config.DemoAWS = stand.awsClients(sealer, log)
		if err := stand.seedProviderSettings(ctx, db, log); err != nil {
			return err
		}
	} else {
		clientOpts = awskms.ClientOptions{Sealer: sealer, Logger: log}
	}
	// Discovery first: an identity provider keyport cannot reach (down,
	// a wrong address, a certificate it does not trust) stops keyport at
	// once with the cause and a non-zero exit, before any background work
	// starts. The service manager restarts it (docs/operations.md).
	deps.OIDC, err = oidcrp.New(ctx, cfg.OIDCIssuer, cfg.OIDCClientID, cfg.OIDCClientSecret, baseURL+"/auth/callback")
	if err != nil {
		log.Error("identity provider unreachable at start", "issuer", cfg.OIDCIssuer, "err", err)
		return &configError{"KEYPORT_OIDC_ISSUER", "cannot reach the identity provider: " + err.Error() + oidcHint(err)}
	}
	// KMS and STS clients: in production the default AWS chain gives the
	// provider's credentials, and AWS_ENDPOINT_URL_KMS / _STS may point the
	// whole process at another endpoint; in development, kmslocal. SDK
	// body logging exists only in development.
	clientOpts.Observer, clientOpts.LogMode, clientOpts.AllowBodyLogging = observer(metrics), cfg.AWSLogMode, cfg.Dev
	clients := awskms.NewClients(clientOpts)
	deps.Keys = keysvc.NewService(keysvc.Deps{DB: db, Sealer: sealer, Logger: log, Clients: clients,
		Config: keysvc.Config{CacheTTL: cfg.CacheTTL}})
	deps.Managed = managed.New(managed.Deps{DB: db, Sealer: sealer, Keys: deps.Keys, Logger: log, Clients: clients})
	if err := deps.Keys.Warm(ctx); err != nil {
		return err
	}
	watchStore(metrics, deps.Keys, db, log)
	go deps.Keys.Run(ctx) // follows other replicas' key and token changes, sweeps the cache, writes use counts
	deps.Mailer, err = newMailer(cfg)
	if err != nil {
		return err
	}
	// The worker stops when serve returns for any reason, not only when ctx
	// ends: waiting for it on an error return would hang (issue 17 #14).
	jobsCtx, stopJobs := context.WithCancel(ctx)
	var waitJobs func()
	// Webhooks (issue 15): in development mode endpoints may be http and
	// on this machine (private addresses); otherwise https to public
	// addresses only, checked again at connect time.
	deps.Webhooks = webhooks.New(webhooks.Options{DB: db, Sealer: sealer, Logger: log, Dev: cfg.Dev})
	deps.Rotation, deps.Outbox, waitJobs = startJobs(jobsCtx, db, sealer, deps.Keys, deps.Managed, deps.Webhooks, deps.Mailer, baseURL,
		cfg.ValidationInterval, cfg.JobWorkers, log, observer(metrics))
	defer waitJobs()
	defer stopJobs() // deferred after waitJobs, so it runs first

	h := handlers.New(deps)
	srv := web.NewHTTPServer(cfg.Addr, web.New(web.Deps{Handlers: h, API: dataapi.New(deps.Keys, deps.Managed, log), Logger: log, AccessLog: newAccessLogger(cfg, accessOut), Dev: cfg.Dev,
		Manage:  manageapi.New(manageapi.Deps{DB: db, Keys: deps.Keys, Managed: deps.Managed, Rotation: deps.Rotation, Webhooks: deps.Webhooks, Invites: h.Invitations(), Log: log}),
		Metrics: metrics, MetricsToken: publicMetricsToken(cfg),
		LoginRate:       web.RateLimit{Rate: cfg.LoginRate / 60, Burst: int(cfg.LoginRate)},
		APIRate:         web.RateLimit{Rate: cfg.APIRate, Burst: cfg.APIBurst},
		APIAuthFailRate: web.RateLimit{Rate: cfg.APIAuthFailRate / 60, Burst: int(cfg.APIAuthFailRate)}}))
	srv.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)

	errc := make(chan error, 1)
	if certs != nil {
		// HTTPS served by keyport itself (KEYPORT_TLS_CERT_FILE/_KEY_FILE).
		srv.TLSConfig = certs.tlsConfig()
		go func() { errc <- srv.ServeTLS(ln, "", "") }()
	} else {
		go func() { errc <- srv.Serve(ln) }()
	}
	// Expired sessions and abandoned sign-ins go now and every 10 minutes:
	// anyone can start a sign-in, so login_flows must not grow unswept.
	sweepExpired(ctx, db, time.Now(), cfg.SessionIdleTimeout, log)
	go sweepExpiredEvery(ctx, db, 10*time.Minute, cfg.SessionIdleTimeout, log)
	metricsAddr, stopMetrics, err := serveMetrics(cfg, metrics, log)
	if err != nil {
		return err
	}
	if metricsAddr != "" {
		fmt.Fprintf(stdout, "keyport metrics at http://%s/metrics\n", metricsAddr)
	}
	if stand != nil {
		if err := stand.printDemo(stdout); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "keyport is running at %s\n", baseURL)

	select {
	case err := <-errc:
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	stopMetrics(shutCtx)
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}

// newAccessLogger is newLogger for the access log: its JSON lines are
// written by hand (web.NewAccessLogger), the same bytes at less cost.
func newAccessLogger(cfg *config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel)) // validated in loadConfig
	return web.NewAccessLogger(w, cfg.LogFormat == "json", level)
}

// oidcHint adds what to do about a discovery failure the operator can fix
// on keyport's side: a certificate keyport does not trust.
func oidcHint(err error) string {
	var unknownCA x509.UnknownAuthorityError
	var verify *tls.CertificateVerificationError
	var hostname x509.HostnameError
	switch {
	case errors.As(err, &unknownCA), errors.As(err, &verify) && !errors.As(err, &hostname):
		return " (keyport does not trust the provider's certificate: if it is issued by a private CA, set SSL_CERT_FILE to a PEM bundle that includes that CA)"
	case errors.As(err, &hostname):
		return " (the provider's certificate is not valid for this host name: check KEYPORT_OIDC_ISSUER)"
	}
	return ""
}

// newMailer builds the SMTP sender from the configuration (in development,
// already pointed at the mail catcher).
func newMailer(cfg *config) (*mailer.Mailer, error) {
	m, err := mailer.New(mailer.Config{Host: cfg.SMTPHost, Port: cfg.SMTPPort, TLS: cfg.SMTPTLS,
		Username: cfg.SMTPUsername, Password: cfg.SMTPPassword, From: cfg.MailFrom})
	if err != nil {
		return nil, &configError{"KEYPORT_SMTP_HOST", err.Error()}
	}
	return m, nil
}

// sweepExpiredEvery runs sweepExpired every interval until ctx ends.
func sweepExpiredEvery(ctx context.Context, db *models.DB, interval, idle time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			sweepExpired(ctx, db, now, idle, log)
		}
	}
}

// sweepExpired deletes sessions past their expiry or idle timeout and login
// flows past theirs (sign-ins started and never finished), so both tables
// hold only live rows. Every replica sweeps; the deletes are idempotent.
func sweepExpired(ctx context.Context, db *models.DB, now time.Time, idle time.Duration, log *slog.Logger) {
	if _, err := db.DeleteExpiredSessions(ctx, now, idle); err != nil && ctx.Err() == nil {
		log.Warn("sweep sessions", "err", err)
	}
	if _, err := db.DeleteExpiredLoginFlows(ctx, now); err != nil && ctx.Err() == nil {
		log.Warn("sweep login flows", "err", err)
	}
}

// migrate applies migrations and exits.
func migrate(ctx context.Context, cfg *config, stdout io.Writer) error {
	db, err := openStore(ctx, cfg, newLogger(cfg, stdout))
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = fmt.Fprintln(stdout, "migrations applied")
	return err
}

// auditVerify checks the audit chain and prints the result.
func auditVerify(ctx context.Context, cfg *config, stdout io.Writer) error {
	db, err := openStore(ctx, cfg, newLogger(cfg, io.Discard))
	if err != nil {
		return err
	}
	defer db.Close()
	v, err := db.VerifyAudit(ctx)
	if err != nil {
		return fmt.Errorf("verify audit log: %w", err)
	}
	if !v.OK {
		fmt.Fprintf(stdout, "audit chain BROKEN at seq %d: %s (%d rows checked)\n", v.FirstBrokenSeq, v.Reason, v.Checked)
		return errors.New("audit chain verification failed")
	}
	_, err = fmt.Fprintf(stdout, "audit chain OK: %d rows, head %x\n", v.Checked, v.Head)
	return err
}
