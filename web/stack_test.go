package web_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"database/sql"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"keyport/handlers"
	"keyport/handlers/dataapi"
	"keyport/handlers/manageapi"
	"keyport/handlers/oidcrp"
	"keyport/keysvc"
	"keyport/keysvc/jobs"
	"keyport/keysvc/kmslocal"
	"keyport/keysvc/mailer"
	"keyport/keysvc/managed"
	"keyport/keysvc/rotation"
	"keyport/keysvc/seal"
	"keyport/keysvc/webhooks"
	"keyport/models"
	"keyport/models/modelstest"
	"keyport/views"
	"keyport/web"
	"keyport/web/devidp"
	"keyport/web/mailcatcher"
)

// stack is a whole keyport over real HTTP: a store (SQLite, or PostgreSQL
// with KEYPORT_TEST_POSTGRES; see modelstest), the development IdP speaking
// real OIDC, and the echo server on a loopback port.
type stack struct {
	Echo  *echo.Echo
	URL   string
	DB    *models.DB
	DSN   string // the store's database, for tests that go around the store
	IdP   *devidp.IdP
	Clock *clock
	Logs  *syncBuffer
	Mail  *mailcatcher.Catcher // every email keyport sends in the test
	KMS   *kmslocal.Server     // the tenants' AWS accounts (see keys_stack_test.go)
	Keys  *keysvc.Service
	// Managed runs the keys whose material keyport holds, beside Keys.
	Managed *managed.Service
	Seal    *seal.Sealer        // the KEK, for tests that open what keyport sealed
	Jobs    *jobs.Worker        // runs only when a test calls it (see rotation_test.go)
	Rot     *rotation.Scheduler // rotation schedules and notices
	// Hooks is the webhook service; HookCAs the CAs its deliveries trust
	// (tests add their TLS receiver's certificate).
	Hooks   *webhooks.Service
	HookCAs *x509.CertPool
	// Manage is the management API (full stacks only): its operation table
	// is what the authorization matrix derives its rows from.
	Manage *manageapi.API
}

// stackLookup resolves *.example.com to a public documentation address
// (nothing answers there: the matrix registers endpoints without delivering),
// everything else as the system does.
func stackLookup(ctx context.Context, host string) ([]netip.Addr, error) {
	if strings.HasSuffix(host, ".example.com") {
		return []netip.Addr{netip.MustParseAddr("203.0.113.10")}, nil
	}
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// clock is an injectable clock tests move forward.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// syncBuffer collects log output from concurrent requests.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newStack(tb testing.TB, edit func(*handlers.Config)) *stack {
	tb.Helper()
	return newStackIdP(tb, devidp.Options{}, edit)
}

// newStackIdP is newStack with a development IdP started with idpOpts (its
// clock is always the stack's).
func newStackIdP(tb testing.TB, idpOpts devidp.Options, edit func(*handlers.Config)) *stack {
	tb.Helper()
	return buildStack(tb, idpOpts, edit, false)
}

// stackMetricsToken is the /metrics token of a full stack.
const stackMetricsToken = "stack-metrics-token-0123456789abcdef"

// newFullStack is newStack serving every route keyport has: the data API,
// /metrics behind stackMetricsToken and the development routes (the dev
// mail page shows the stack's mail catcher).
func newFullStack(tb testing.TB, edit func(*handlers.Config)) *stack {
	tb.Helper()
	return buildStack(tb, devidp.Options{}, func(c *handlers.Config) {
		c.Dev = true
		if edit != nil {
			edit(c)
		}
	}, true)
}

func buildStack(tb testing.TB, idpOpts devidp.Options, edit func(*handlers.Config), full bool) *stack {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	logs := &syncBuffer{}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("server log:\n%s", logs.String())
		}
	})
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	dsn := modelstest.DSN(tb)
	db, err := models.Open(ctx, dsn, log)
	if err != nil {
		tb.Fatalf("open db: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		tb.Fatalf("migrate: %v", err)
	}
	kek := make([]byte, 32)
	rand.Read(kek)
	sealer, err := seal.NewSealer(kek)
	if err != nil {
		tb.Fatal(err)
	}
	key, err := seal.AuditKey(ctx, db, sealer)
	if err != nil {
		tb.Fatalf("audit key: %v", err)
	}
	db.SetAuditKey(key)

	clk := &clock{now: time.Now()}
	idpOpts.Now = clk.Now
	idp, err := devidp.StartWith(ctx, "127.0.0.1:0", idpOpts)
	if err != nil {
		tb.Fatalf("start idp: %v", err)
	}
	tb.Cleanup(func() { idp.Close() })

	ts := httptest.NewUnstartedServer(nil)
	base := "http://" + ts.Listener.Addr().String()
	oidc, err := oidcrp.New(ctx, idp.Issuer(), idp.ClientID(), idp.ClientSecret(), base+"/auth/callback")
	if err != nil {
		tb.Fatalf("oidc: %v", err)
	}
	mc, err := mailcatcher.Start(ctx, "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("start mail catcher: %v", err)
	}
	tb.Cleanup(func() { mc.Close() })
	mhost, mport, _ := net.SplitHostPort(mc.Addr())
	port, _ := strconv.Atoi(mport)
	ml, err := mailer.New(mailer.Config{Host: mhost, Port: port, TLS: mailer.NoTLS, From: "keyport <keyport@keyport.test>"})
	if err != nil {
		tb.Fatalf("mailer: %v", err)
	}

	db.SetNow(clk.Now)
	cfg := handlers.Config{SessionIdle: 30 * time.Minute, SessionMaxAge: 12 * time.Hour, BaseURL: base}
	if edit != nil {
		edit(&cfg)
	}
	kmsSrv, keys := newKeyService(tb, db, sealer, log)
	mgd := managed.New(managed.Deps{DB: db, Sealer: sealer, Keys: keys, Logger: log})
	jobs, rot := newScheduler(db, sealer, keys, ml, base, clk.Now, log)
	hookCAs := x509.NewCertPool()
	hooks := webhooks.New(webhooks.Options{DB: db, Sealer: sealer, Logger: log, Dev: cfg.Dev, Now: clk.Now, LookupIP: stackLookup, RootCAs: hookCAs})
	hooks.Register(jobs)
	hd := handlers.Deps{DB: db, OIDC: oidc, Logger: log, Config: cfg, Now: clk.Now, Mailer: ml, Keys: keys, Managed: mgd, Rotation: rot, Webhooks: hooks}
	wd := web.Deps{Logger: log, Dev: cfg.Dev}
	if full {
		hd.Mailbox = catcherBox{mc}
		wd.API = dataapi.New(keys, mgd, log)
		wd.Metrics, wd.MetricsToken = web.NewMetrics(), stackMetricsToken
	}
	h := handlers.New(hd)
	wd.Handlers = h
	if full {
		wd.Manage = manageapi.New(manageapi.Deps{DB: db, Keys: keys, Managed: mgd, Rotation: rot, Webhooks: hooks, Invites: h.Invitations(), Log: log, Now: clk.Now})
	}
	e := web.New(wd)
	ts.Config.Handler = e
	ts.Start()
	tb.Cleanup(ts.Close)
	return &stack{Echo: e, URL: base, DB: db, DSN: dsn, IdP: idp, Clock: clk, Logs: logs, Mail: mc, KMS: kmsSrv, Keys: keys, Managed: mgd,
		Seal: sealer, Jobs: jobs, Rot: rot, Hooks: hooks, HookCAs: hookCAs, Manage: wd.Manage}
}

// catcherBox shows the mail catcher's messages on the development mail
// pages, as cmd/keyport does.
type catcherBox struct{ c *mailcatcher.Catcher }

func (b catcherBox) List() []views.Mail {
	var out []views.Mail
	for _, m := range b.c.Messages() {
		out = append(out, catcherMail(m))
	}
	return out
}

func (b catcherBox) Get(id string) (views.Mail, bool) {
	m, ok := b.c.Message(id)
	return catcherMail(m), ok
}

func catcherMail(m mailcatcher.Message) views.Mail {
	return views.Mail{MailSummary: views.MailSummary{ID: m.ID, ReceivedAt: m.ReceivedAt, From: m.From, To: strings.Join(m.To, ", "), Subject: m.Subject},
		Text: m.Text, HTML: m.HTML}
}

// rawSQL opens the stack's database around the store, for tests that
// tamper with rows as an attacker with database access would.
func (s *stack) rawSQL(tb testing.TB) *sql.DB {
	tb.Helper()
	driver := "sqlite3"
	if models.IsPostgresURL(s.DSN) {
		driver = "pgx" // registered by modelstest
	}
	raw, err := sql.Open(driver, s.DSN)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { raw.Close() })
	return raw
}

// browser is an HTTP client with a cookie jar that records every response
// it sees, so tests can look at the redirects of a flow.
type browser struct {
	*http.Client
	seen []*http.Response
}

func newBrowser(tb testing.TB) *browser {
	tb.Helper()
	jar, _ := cookiejar.New(nil)
	b := &browser{}
	b.Client = &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			b.seen = append(b.seen, req.Response)
			return nil
		}}
	return b
}

// noFollow returns a copy of the browser that stops at the first redirect.
func (b *browser) noFollow() *http.Client {
	c := *b.Client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// get fetches a URL and returns status and body.
func (b *browser) get(tb testing.TB, u string) (*http.Response, string) {
	tb.Helper()
	res, err := b.Get(u)
	if err != nil {
		tb.Fatalf("GET %s: %v", u, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

// post submits a form and returns status and body.
func (b *browser) post(tb testing.TB, u string, form url.Values, header map[string]string) (*http.Response, string) {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := b.Do(req)
	if err != nil {
		tb.Fatalf("POST %s: %v", u, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

// signIn runs the whole OIDC flow as id and returns the final page.
func (s *stack) signIn(tb testing.TB, b *browser, id devidp.Identity) (*http.Response, string) {
	tb.Helper()
	s.IdP.Queue(id)
	return b.get(tb, s.URL+"/auth/login")
}

// cookie returns the named cookie the browser holds for keyport.
func (s *stack) cookie(b *browser, name string) *http.Cookie {
	u, _ := url.Parse(s.URL)
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// csrfToken reads the CSRF token from a page's forms.
func csrfToken(tb testing.TB, page string) string {
	tb.Helper()
	const marker = `name="csrf_token" value="`
	i := strings.Index(page, marker)
	if i < 0 {
		tb.Fatalf("page has no csrf token")
	}
	rest := page[i+len(marker):]
	return rest[:strings.IndexByte(rest, '"')]
}

// auditActions lists a tenant's audit actions, oldest first ("" = all).
func (s *stack) auditActions(tb testing.TB, tenantID string) []string {
	tb.Helper()
	events, err := s.DB.ListAudit(context.Background(), tenantID, 1000)
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for i := len(events) - 1; i >= 0; i-- {
		out = append(out, events[i].Action+":"+events[i].Details)
	}
	return out
}
