package webhooks_test

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"keyport/keysvc"
	"keyport/keysvc/jobs"
	"keyport/keysvc/seal"
	"keyport/keysvc/webhooks"
	"keyport/models"
	"keyport/models/modelstest"
)

var quiet = slog.New(slog.DiscardHandler)

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

// world is a tenant with an owner, a store, a jobs worker and a webhook
// service built by opts.
type world struct {
	db     *models.DB
	clk    *clock
	w      *jobs.Worker
	svc    *webhooks.Service
	tenant string
	owner  string
	by     keysvc.RequestBy
}

func newWorld(t *testing.T, opts webhooks.Options) *world {
	t.Helper()
	ctx := context.Background()
	db, err := models.Open(ctx, modelstest.DSN(t), quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	rand.Read(key)
	db.SetAuditKey(key)
	kek := make([]byte, 32)
	rand.Read(kek)
	sealer, err := seal.NewSealer(kek)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{now: time.Now().UTC().Truncate(time.Second)}
	db.SetNow(clk.Now)
	u, _, err := db.UpsertOIDCUser(ctx, "https://idp.test", "owner", "owner@acme.test", "Owner")
	if err != nil {
		t.Fatal(err)
	}
	tn, err := db.CreateTenantWithOwner(ctx, "Acme", u.ID, models.AuditInput{Actor: u.ID})
	if err != nil {
		t.Fatal(err)
	}
	opts.DB, opts.Sealer, opts.Logger, opts.Now = db, sealer, quiet, clk.Now
	svc := webhooks.New(opts)
	w := jobs.NewWorker(db, quiet, jobs.WorkerConfig{})
	svc.Register(w)
	return &world{db: db, clk: clk, w: w, svc: svc, tenant: tn.ID, owner: u.ID,
		by: keysvc.RequestBy{UserID: u.ID, Kind: models.ActorUser, RequestID: "req-test"}}
}

// received is one request the receiver accepted as correctly signed.
type received struct {
	ID, Timestamp string
	Body          map[string]any
}

// receiver is a real TLS webhook receiver that checks every signature with
// its own HMAC code, and answers from a script (then 200).
type receiver struct {
	srv     *httptest.Server
	mu      sync.Mutex
	secret  string
	script  []func(w http.ResponseWriter, r *http.Request)
	got     []received
	badSigs int
	calls   int
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	rc := &receiver{}
	rc.srv = httptest.NewTLSServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(rc.srv.Certificate())
	return p
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.calls++
	var step func(http.ResponseWriter, *http.Request)
	if len(rc.script) > 0 {
		step, rc.script = rc.script[0], rc.script[1:]
	}
	secret := rc.secret
	rc.mu.Unlock()
	if step != nil {
		step(w, r)
		return
	}
	id, ts, sig := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature")
	// Independent verification, as a receiver following Standard
	// Webhooks would do it.
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + string(body)))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	var parsed map[string]any
	jerr := json.Unmarshal(body, &parsed)
	if _, terr := strconv.ParseInt(ts, 10, 64); err != nil || terr != nil || jerr != nil || !hmac.Equal([]byte(sig), []byte(want)) ||
		r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		rc.mu.Lock()
		rc.badSigs++
		rc.mu.Unlock()
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	rc.mu.Lock()
	rc.got = append(rc.got, received{ID: id, Timestamp: ts, Body: parsed})
	rc.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func status(code int) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "down for maintenance", code) }
}

func (w *world) run(t *testing.T) {
	t.Helper()
	if _, err := w.w.RunDue(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func (w *world) deliveries(t *testing.T, id string) []models.WebhookDelivery {
	t.Helper()
	ds, err := w.svc.ListDeliveries(context.Background(), w.tenant, id, 50)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// lookups resolves names from a table; a name with two entries answers
// the first once, then the second (DNS rebinding).
type lookups struct {
	mu    sync.Mutex
	names map[string][]string
	calls map[string]int
}

func (l *lookups) lookup(_ context.Context, host string) ([]netip.Addr, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	answers, ok := l.names[host]
	if !ok {
		return nil, errors.New("no such host")
	}
	if l.calls == nil {
		l.calls = map[string]int{}
	}
	i := min(l.calls[host], len(answers)-1)
	l.calls[host]++
	return []netip.Addr{netip.MustParseAddr(answers[i])}, nil
}
