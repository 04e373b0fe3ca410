package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"keyport/handlers"
	"keyport/handlers/dataapi"
	"keyport/keysvc"
	"keyport/keysvc/keysvctest"
	"keyport/web"
	"keyport/web/benchbase"
)

// serverInfo is what the server tells the load generator, on one line.
type serverInfo struct {
	URL         string // keyport
	BaselineURL string // the bare echo handlers
	NoCountURL  string // keyport over a key service that does not count use
	Token       string
	KeyID       string
	Ciphertext  string // base64 of a ciphertext of size bytes, for decrypt
}

func parseInfo(line string) (serverInfo, error) {
	f := strings.Fields(line)
	if len(f) != 7 || f[0] != "READY" {
		return serverInfo{}, fmt.Errorf("unexpected server line %q", line)
	}
	return serverInfo{URL: f[1], BaselineURL: f[2], NoCountURL: f[3], Token: f[4], KeyID: f[5], Ciphertext: f[6]}, nil
}

// serve runs the real data API (token authentication, the key service, the
// cache, use counting) in front of a kmslocal AWS account, configured as
// cmd/keyport serves it (metrics, rate limits, an access log written to a
// file), and on a second port the bare echo baseline, until SIGTERM.
func serve(args []string) error {
	size := 256
	if len(args) > 0 {
		size, _ = strconv.Atoi(args[0])
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if path := os.Getenv("KPBENCH_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	env, cleanup, err := benchEnv("kpbench-")
	if err != nil {
		return err
	}
	defer cleanup()
	go env.Service.Run(ctx)
	k, err := env.NewKey(ctx, "bench")
	if err != nil {
		return err
	}
	token, _, err := env.Service.NewServiceToken(ctx, env.Tenant.ID, "kpbench", env.Owner.ID)
	if err != nil {
		return err
	}
	enc, err := env.Service.Encrypt(ctx, env.Tenant.ID, k.ID, make([]byte, size), map[string]string{"field": "bench"})
	if err != nil {
		return err
	}
	noCount := env.NewService(keysvc.Config{DisableUsageCounts: true})

	// Logs are formatted as in production (JSON) and written to a file
	// (the null device): keyport pays for every access-log line.
	sink, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer sink.Close()
	log := slog.New(slog.NewJSONHandler(sink, nil))
	// The access log over a BufferedWriter, as cmd/keyport writes it.
	alogw := web.NewBufferedWriter(sink, 100*time.Millisecond)
	defer alogw.Close()
	alog := web.NewAccessLogger(alogw, true, slog.LevelInfo)
	// keyport's whole server (web.New) with cmd/keyport's protections: rate
	// limits set high enough never to refuse the bench (but paid for), and
	// the same server over a key service that does not count use.
	deps := func(svc *keysvc.Service) web.Deps {
		return web.Deps{Handlers: handlers.New(handlers.Deps{DB: env.DB, Logger: log}), API: dataapi.New(svc, env.Managed(svc), log), Logger: log, AccessLog: alog,
			Metrics: web.NewMetrics(), APIRate: web.RateLimit{Rate: 1e6, Burst: 2e6}, APIAuthFailRate: web.RateLimit{Rate: 1, Burst: 60},
			LoginRate: web.RateLimit{Rate: 1, Burst: 10}}
	}
	// Each server on a port of its own, as cmd/keyport serves web.New:
	// nothing (no mux) in front of keyport that the baseline does not pay.
	bl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	base := web.NewHTTPServer(bl.Addr().String(), benchbase.Handler(66+len(k.ID), k.ID)) // header and tag of a real ciphertext
	go base.Serve(bl)
	defer base.Close()
	nl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	nocount := web.NewHTTPServer(nl.Addr().String(), web.New(deps(noCount)))
	go nocount.Serve(nl)
	defer nocount.Close()
	return serveUntilDone(ctx, web.New(deps(env.Service)), func(url string) string {
		return fmt.Sprintf("READY %s http://%s http://%s %s %s %s", url, bl.Addr(), nl.Addr(), token, k.ID, b64(enc.Ciphertext))
	})
}

// benchEnv builds a keysvctest.Env (kmslocal, a tenant, a key service) in
// a fresh temporary directory; cleanup closes it and removes the directory.
func benchEnv(prefix string) (env *keysvctest.Env, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return nil, nil, err
	}
	if env, err = keysvctest.Build(dir, keysvc.Config{}); err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return env, func() { env.Close(); os.RemoveAll(dir) }, nil
}

// serveUntilDone serves e on a loopback port, prints the line ready makes
// of its URL (the load generator waits for it), and shuts down when ctx
// ends.
func serveUntilDone(ctx context.Context, h http.Handler, ready func(url string) string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := web.NewHTTPServer(ln.Addr().String(), h)
	go srv.Serve(ln)
	fmt.Println(ready("http://" + ln.Addr().String()))
	<-ctx.Done()
	return srv.Shutdown(context.Background())
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
