package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"

	"keyport/handlers"
	"keyport/handlers/dataapi"
	"keyport/keysvc"
	"keyport/keysvc/keysvctest"
	"keyport/web"
)

// serverInfo is what the server tells the load generator, on one line.
type serverInfo struct {
	URL        string
	Token      string
	KeyID      string
	Ciphertext string // base64 of a ciphertext of size bytes, for decrypt
}

func parseInfo(line string) (serverInfo, error) {
	f := strings.Fields(line)
	if len(f) != 5 || f[0] != "READY" {
		return serverInfo{}, fmt.Errorf("unexpected server line %q", line)
	}
	return serverInfo{URL: f[1], Token: f[2], KeyID: f[3], Ciphertext: f[4]}, nil
}

// serve runs the real data API (token authentication, the key service, the
// cache, use counting) in front of a kmslocal AWS account, plus a baseline
// handler of the same JSON shape without crypto, until SIGTERM.
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

	// Logs are formatted as in production and then dropped: both sides of
	// every comparison pay for them.
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	// keyport's whole server (web.New), the same server over a key service
	// that does not count use, and the baseline beside them.
	mux := http.NewServeMux()
	mux.Handle("/", web.New(web.Deps{Handlers: handlers.New(handlers.Deps{DB: env.DB, Logger: log}), API: dataapi.New(env.Service, env.Managed(env.Service), log), Logger: log}))
	mux.Handle("/nocount/", http.StripPrefix("/nocount", web.New(web.Deps{Handlers: handlers.New(handlers.Deps{DB: env.DB, Logger: log}),
		API: dataapi.New(noCount, env.Managed(noCount), log), Logger: log})))
	overhead := 66 + len(k.ID) // header and tag of a real ciphertext
	mux.Handle("POST /baseline/encrypt", baselineEncrypt(overhead))
	mux.Handle("POST /baseline/decrypt", baselineDecrypt(overhead))
	return serveUntilDone(ctx, mux, func(url string) string {
		return fmt.Sprintf("READY %s %s %s %s", url, token, k.ID, b64(enc.Ciphertext))
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

// The baseline handlers decode and encode the same JSON as the data API and
// return answers of the same size, with no token check, no crypto and no
// middleware: what a service would run without keyport in front of it.
func baselineEncrypt(overhead int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in dataapi.EncryptItem
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad json"})
			return
		}
		ct := make([]byte, len(in.Plaintext)+overhead)
		copy(ct, in.Plaintext)
		writeJSON(w, http.StatusOK, dataapi.EncryptResult{Ciphertext: ct, KeyID: in.KeyID, KeyVersion: 1})
	}
}

func baselineDecrypt(overhead int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in dataapi.DecryptItem
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad json"})
			return
		}
		pt := in.Ciphertext[:max(0, len(in.Ciphertext)-overhead)]
		writeJSON(w, http.StatusOK, dataapi.DecryptResult{Plaintext: pt, KeyID: "key_baseline", KeyVersion: 1})
	}
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
