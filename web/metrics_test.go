package web_test

import (
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"keyport/handlers"
	"keyport/handlers/dataapi"
	"keyport/keysvc"
	"keyport/keysvc/awskms"
	"keyport/keysvc/jobs"
	"keyport/keysvc/keysvctest"
	"keyport/keysvc/mailer"
	"keyport/models"
	"keyport/web"
)

const testMetricsToken = "metrics-token-0123456789abcdef"

// okSender accepts every message.
type okSender struct{}

func (okSender) Send(context.Context, mailer.Message) error { return nil }

// metricsStack is the data API of a key service whose KMS clients, job
// worker and outbox report to a Metrics, served with /metrics behind a token.
type metricsStack struct {
	*keysvctest.Env
	URL, Token string
	Metrics    *web.Metrics
	Worker     *jobs.Worker
	Outbox     *mailer.Outbox
}

func newMetricsStack(t *testing.T, token string) *metricsStack {
	t.Helper()
	env := keysvctest.New(t, keysvc.Config{})
	m := web.NewMetrics()
	base := env.KMS.AWSConfig(keysvctest.Region, "AKIAPROVIDERUNUSED01", "unused")
	clients := awskms.NewClients(awskms.ClientOptions{Base: &base, Sealer: env.Sealer, MaxAttempts: 1, Observer: m})
	svc := keysvc.NewService(keysvc.Deps{DB: env.DB, Sealer: env.Sealer, Now: env.Clock.Now, KMSFor: keysvc.KMSForStore(env.DB, clients)})
	m.WatchCache(svc.CacheStats)
	m.WatchKeys(env.DB.CountKeysByHealth, nil)
	w := jobs.NewWorker(env.DB, nil, jobs.WorkerConfig{})
	ob := mailer.NewOutbox(env.DB, env.Sealer, okSender{}, "keyport.test")
	ob.Register(w)
	w.SetObserver(m)
	ob.SetObserver(m)

	tok, _, err := svc.NewServiceToken(context.Background(), env.Tenant.ID, "orders", env.Owner.ID)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	h := handlers.New(handlers.Deps{DB: env.DB, Logger: log})
	ts := httptest.NewServer(web.New(web.Deps{Handlers: h, API: dataapi.New(svc, env.Managed(svc), log), Logger: log,
		Metrics: m, MetricsToken: token}))
	t.Cleanup(ts.Close)
	return &metricsStack{Env: env, URL: ts.URL, Token: tok, Metrics: m, Worker: w, Outbox: ob}
}

func (s *metricsStack) do(t *testing.T, method, path, bearer, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestMetricsAfterTraffic sends real traffic through the data API (KMS in
// kmslocal), a mail through the outbox job, and checks that /metrics
// refuses scrapers without the token and shows every family to one with it.
func TestMetricsAfterTraffic(t *testing.T) {
	s := newMetricsStack(t, testMetricsToken)
	k := s.Key(t, "orders")
	pt := base64.StdEncoding.EncodeToString([]byte("card 4111"))
	code, body := s.do(t, "POST", "/api/v1/encrypt", s.Token, `{"key_id":"`+k.ID+`","plaintext":"`+pt+`"}`)
	if code != 200 {
		t.Fatalf("encrypt = %d %s", code, body)
	}
	ct := regexp.MustCompile(`"ciphertext":"([^"]+)"`).FindStringSubmatch(body)[1]
	for range 3 {
		if code, body := s.do(t, "POST", "/api/v1/decrypt", s.Token, `{"ciphertext":"`+ct+`"}`); code != 200 {
			t.Fatalf("decrypt = %d %s", code, body)
		}
	}
	s.do(t, "GET", "/api/v1/keys/"+k.ID, s.Token, "")
	s.do(t, "GET", "/api/v1/keys/"+k.ID, "wrong-token", "")
	s.do(t, "GET", "/no/such/page/"+s.Tenant.ID, "", "")

	m, err := s.Outbox.Compose(s.Tenant.ID, "test", "", mailer.Message{To: []string{"a@tenant.test"}, Subject: "hi", Text: "body"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DB.EnqueueMail(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Worker.RunDue(context.Background()); n != 1 || err != nil {
		t.Fatalf("RunDue = %d, %v", n, err)
	}

	for _, bad := range []string{"", "wrong-token-0123456789abcdef", testMetricsToken + "x"} {
		if code, _ := s.do(t, "GET", "/metrics", bad, ""); code != http.StatusUnauthorized {
			t.Errorf("/metrics with token %q = %d, want 401", bad, code)
		}
	}
	code, text := s.do(t, "GET", "/metrics", testMetricsToken, "")
	if code != 200 {
		t.Fatalf("/metrics = %d", code)
	}
	for _, want := range []string{
		`keyport_http_requests_total{method="POST",route="/api/v1/encrypt",status="200"} 1`,
		`keyport_http_requests_total{method="POST",route="/api/v1/decrypt",status="200"} 3`,
		`keyport_http_requests_total{method="GET",route="/api/v1/keys/:key_id",status="200"} 1`,
		`keyport_http_requests_total{method="GET",route="/api/v1/keys/:key_id",status="401"} 1`,
		`keyport_http_requests_total{method="GET",route="/*",status="404"} 1`,
		`keyport_http_request_duration_seconds_bucket{method="POST",route="/api/v1/decrypt",le=`,
		`keyport_kms_calls_total{operation="Decrypt",outcome="ok",service="kms"} 1`,
		`keyport_kms_call_duration_seconds_count{operation="Decrypt",service="kms"} 1`,
		"keyport_cache_hits_total 3", "keyport_cache_misses_total 1", "keyport_cache_purges_total 0", "keyport_cache_entries 1",
		`keyport_keys{health="OK",state="ENABLED"} 1`,
		`keyport_jobs_total{kind="` + models.JobKindEmail + `",outcome="ok"} 1`,
		`keyport_job_lag_seconds_count{kind="` + models.JobKindEmail + `"} 1`,
		`keyport_emails_total{outcome="sent"} 1`,
		"go_goroutines ", "process_resident_memory_bytes ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// Bounded labels: no path with ids, no tenant, key or token in any series.
	for _, secret := range []string{s.Tenant.ID, k.ID, s.Token, "no/such/page", testMetricsToken} {
		if strings.Contains(text, secret) {
			t.Errorf("/metrics shows %q", secret)
		}
	}
	t.Logf("metrics: %d lines after traffic", strings.Count(text, "\n"))
}

// TestMetricsNeverPublicWithoutToken: without a token /metrics is not a
// route on the public listener at all.
func TestMetricsNeverPublicWithoutToken(t *testing.T) {
	s := newMetricsStack(t, "")
	if code, _ := s.do(t, "GET", "/metrics", "", ""); code != http.StatusNotFound {
		t.Errorf("/metrics without a configured token = %d, want 404", code)
	}
	// The separate listener's handler serves without a token when none is set.
	rec := httptest.NewRecorder()
	s.Metrics.Handler("").ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "keyport_http_requests_total") {
		t.Errorf("metrics handler = %d", rec.Code)
	}
}

// TestKMSOutcomeLabels: a revoked key shows up as access_denied calls.
func TestKMSOutcomeLabels(t *testing.T) {
	s := newMetricsStack(t, testMetricsToken)
	k := s.Key(t, "revoked")
	s.Revoke(t, k, true)
	code, _ := s.do(t, "POST", "/api/v1/datakey", s.Token, `{"key_id":"`+k.ID+`"}`)
	if code != http.StatusFailedDependency {
		t.Fatalf("datakey on a revoked key = %d", code)
	}
	_, text := s.do(t, "GET", "/metrics", testMetricsToken, "")
	if !regexp.MustCompile(`keyport_kms_calls_total\{operation="[A-Za-z]+",outcome="access_denied",service="kms"\} [1-9]`).MatchString(text) {
		t.Errorf("no access_denied KMS call in:\n%s", grepLines(text, "keyport_kms_calls_total"))
	}
}

func grepLines(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
