package web

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"keyport/keysvc/awskms"
	"keyport/keysvc/envelope"
	"keyport/models"
)

// Metrics is keyport's Prometheus registry: HTTP requests, KMS and STS
// calls, jobs, emails (it is the awskms.Observer), the data-key cache and
// keys by health. Labels are route patterns, operation names and fixed
// words, never paths, tenant ids or anything secret, so their number stays
// bounded. Everything but the keys gauge is per replica.
type Metrics struct {
	reg *prometheus.Registry

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	kmsCalls     *prometheus.CounterVec
	kmsDuration  *prometheus.HistogramVec
	jobs         *prometheus.CounterVec
	jobLag       *prometheus.HistogramVec
	jobDuration  *prometheus.HistogramVec
	emails       *prometheus.CounterVec

	routes sync.Map // routeKey -> *routeMetric
}

// NewMetrics builds the registry with the Go runtime and process
// collectors (memory, goroutines, file descriptors) and keyport's own.
func NewMetrics() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keyport_http_requests_total", Help: "HTTP requests by method, route pattern and status.",
	}, []string{"method", "route", "status"})
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "keyport_http_request_duration_seconds", Help: "HTTP request latency by method and route pattern.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"method", "route"})
	m.kmsCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keyport_kms_calls_total", Help: "AWS KMS and STS calls (retries included) by service, operation and outcome.",
	}, []string{"service", "operation", "outcome"})
	m.kmsDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "keyport_kms_call_duration_seconds", Help: "AWS KMS and STS call latency, retries included.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"service", "operation"})
	m.jobs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keyport_jobs_total", Help: "Job runs by kind and outcome (ok, retry, failed, lease_lost).",
	}, []string{"kind", "outcome"})
	m.jobLag = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "keyport_job_lag_seconds", Help: "How long after falling due a job was claimed.",
		Buckets: []float64{.1, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600},
	}, []string{"kind"})
	m.jobDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "keyport_job_duration_seconds", Help: "How long a job run took.",
		Buckets: []float64{.01, .05, .1, .5, 1, 5, 10, 30, 60, 300},
	}, []string{"kind"})
	m.emails = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keyport_emails_total", Help: "Outbox delivery attempts by outcome (sent, retry, failed, skipped).",
	}, []string{"outcome"})
	m.reg.MustRegister(m.httpRequests, m.httpDuration, m.kmsCalls, m.kmsDuration, m.jobs, m.jobLag, m.jobDuration, m.emails,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is the registry behind the metrics, for tests and extra
// collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// AWSCall implements awskms.Observer.
func (m *Metrics) AWSCall(service, operation, outcome string, took time.Duration) {
	m.kmsCalls.WithLabelValues(service, operation, outcome).Inc()
	m.kmsDuration.WithLabelValues(service, operation).Observe(took.Seconds())
}

// JobDone implements awskms.Observer.
func (m *Metrics) JobDone(kind, outcome string, lag, took time.Duration) {
	m.jobs.WithLabelValues(kind, outcome).Inc()
	m.jobLag.WithLabelValues(kind).Observe(lag.Seconds())
	m.jobDuration.WithLabelValues(kind).Observe(took.Seconds())
}

// EmailDelivery implements awskms.Observer.
func (m *Metrics) EmailDelivery(outcome string) { m.emails.WithLabelValues(outcome).Inc() }

var _ awskms.Observer = (*Metrics)(nil)

// WatchCache exports the data-key cache's counters (keysvc
// Service.CacheStats), read at scrape time.
func (m *Metrics) WatchCache(stats func() envelope.CacheStats) {
	counter := func(name, help string, f func(envelope.CacheStats) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(f(stats())) })
	}
	m.reg.MustRegister(
		counter("keyport_cache_hits_total", "Data-key cache hits.", func(s envelope.CacheStats) int64 { return s.Hits }),
		counter("keyport_cache_misses_total", "Data-key cache misses (each one a KMS fetch or a wait for one).", func(s envelope.CacheStats) int64 { return s.Misses }),
		counter("keyport_cache_purges_total", "Data keys dropped from the cache by a purge.", func(s envelope.CacheStats) int64 { return s.Purged }),
		counter("keyport_cache_evictions_total", "Data keys dropped from the cache by expiry or the size bound.", func(s envelope.CacheStats) int64 { return s.Evictions }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "keyport_cache_entries", Help: "Data keys in the cache now."},
			func() float64 { return float64(stats().Entries) }),
	)
}

// WatchKeys exports keyport_keys{state,health} from count, a store query
// run at scrape time (at most every 15 seconds: several scrapers then cost
// one query).
func (m *Metrics) WatchKeys(count func(context.Context) ([]models.KeyStateCount, error), log *slog.Logger) {
	m.reg.MustRegister(&keyCollector{count: count, log: log,
		desc: prometheus.NewDesc("keyport_keys", "Keys (not deleted) by state and health, across tenants.", []string{"state", "health"}, nil)})
}

// keyCollector is a scrape-time collector over the keys table.
type keyCollector struct {
	count func(context.Context) ([]models.KeyStateCount, error)
	log   *slog.Logger
	desc  *prometheus.Desc

	mu   sync.Mutex
	at   time.Time
	last []models.KeyStateCount
}

// Describe implements prometheus.Collector.
func (k *keyCollector) Describe(ch chan<- *prometheus.Desc) { ch <- k.desc }

// Collect implements prometheus.Collector.
func (k *keyCollector) Collect(ch chan<- prometheus.Metric) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if time.Since(k.at) > 15*time.Second {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		rows, err := k.count(ctx)
		cancel()
		if err != nil {
			if k.log != nil {
				k.log.Warn("metrics: count keys", "err", err)
			}
		} else {
			k.at, k.last = time.Now(), rows
		}
	}
	for _, r := range k.last {
		ch <- prometheus.MustNewConstMetric(k.desc, prometheus.GaugeValue, float64(r.Count), string(r.State), string(r.Health))
	}
}

// Handler serves the metrics in the Prometheus text format. With a token,
// a request must carry it as "Authorization: Bearer TOKEN" or gets 401.
func (m *Metrics) Handler(token string) http.Handler {
	h := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	if token == "" {
		return h
	}
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
		// Compared as hashes, in constant time: the length of the token
		// leaks nothing either.
		if subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="keyport-metrics"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// knownMethods keeps the method label bounded: anything else is OTHER.
var knownMethods = map[string]bool{http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true}

// routeKey names one request counter; the labels are bounded (route
// patterns, known methods, statuses), and so is the cache of them.
type routeKey struct {
	method, route string
	status        int
}

type routeMetric struct {
	count    prometheus.Counter
	duration prometheus.Observer
}

// routeMetrics is the counter and histogram of a request, looked up once
// per label set: a request then neither formats its status nor hashes
// its labels.
func (m *Metrics) routeMetrics(method, route string, status int) *routeMetric {
	k := routeKey{method, route, status}
	if rm, ok := m.routes.Load(k); ok {
		return rm.(*routeMetric)
	}
	rm := &routeMetric{m.httpRequests.WithLabelValues(method, route, strconv.Itoa(status)), m.httpDuration.WithLabelValues(method, route)}
	m.routes.Store(k, rm)
	return rm
}

// observe counts and times a request by route pattern, once its response
// is decided (the access log middleware calls it).
func (m *Metrics) observe(c echo.Context, took time.Duration) {
	method := c.Request().Method
	if !knownMethods[method] {
		method = "OTHER"
	}
	route := c.Path() // the pattern, e.g. /keys/:key_id; "/*" for no route
	if route == "" {
		route = "none"
	}
	rm := m.routeMetrics(method, route, c.Response().Status)
	rm.count.Inc()
	rm.duration.Observe(took.Seconds())
}
