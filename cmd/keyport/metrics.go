package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"

	"keyport/keysvc"
	"keyport/keysvc/awskms"
	"keyport/keysvc/jobs"
	"keyport/keysvc/mailer"
	"keyport/models"
	"keyport/web"
)

// newMetrics returns the Prometheus registry when metrics are wanted (a
// metrics listener or a metrics token is configured), else nil.
func newMetrics(cfg *config) *web.Metrics {
	if cfg.MetricsAddr == "" && cfg.MetricsToken == "" {
		return nil
	}
	return web.NewMetrics()
}

// observers is what hears of AWS calls, job runs and email deliveries;
// web's Metrics is all three.
type observers interface {
	awskms.Observer
	jobs.Observer
	mailer.Observer
}

// observer is m as observers: a nil interface, not a typed nil, when
// metrics are off.
func observer(m *web.Metrics) observers {
	if m == nil {
		return nil
	}
	return m
}

// watchStore adds the scrape-time collectors over the key service and the
// store.
func watchStore(m *web.Metrics, keys *keysvc.Service, db *models.DB, log *slog.Logger) {
	if m == nil {
		return
	}
	m.WatchCache(keys.CacheStats)
	m.WatchKeys(db.CountKeysByHealth, log)
}

// publicMetricsToken is the token /metrics is served with on the public
// listener: only when there is a token and no separate listener, so the
// metrics are never public without one.
func publicMetricsToken(cfg *config) string {
	if cfg.MetricsAddr != "" {
		return ""
	}
	return cfg.MetricsToken
}

// serveMetrics starts the separate metrics listener when one is
// configured and returns its address and a function that stops it. The
// token, when set, is required there too.
func serveMetrics(cfg *config, m *web.Metrics, log *slog.Logger) (string, func(context.Context), error) {
	if m == nil || cfg.MetricsAddr == "" {
		return "", func(context.Context) {}, nil
	}
	ln, err := net.Listen("tcp", cfg.MetricsAddr)
	if err != nil {
		return "", nil, &configError{"KEYPORT_METRICS_ADDR", "cannot listen on " + cfg.MetricsAddr + " (is another program using it?)"}
	}
	if cfg.MetricsToken == "" {
		if host, _, _ := net.SplitHostPort(cfg.MetricsAddr); !isLoopback(host) {
			log.Warn("the metrics listener has no token: keep it on a private network, or set KEYPORT_METRICS_TOKEN", "addr", ln.Addr().String())
		}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler(cfg.MetricsToken))
	srv := web.NewHTTPServer(cfg.MetricsAddr, mux)
	srv.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener stopped", "err", err)
		}
	}()
	log.Info("metrics listener running", "addr", ln.Addr().String(), "token", cfg.MetricsToken != "")
	return ln.Addr().String(), func(ctx context.Context) { _ = srv.Shutdown(ctx) }, nil
}

// isLoopback reports whether host is a loopback address or localhost.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
