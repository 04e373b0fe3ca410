package main

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeFailsFastWithoutIdentityProvider: `keyport serve` whose
// identity provider cannot be reached at start (nothing listening, or a
// certificate keyport does not trust) exits at once with the cause instead
// of hanging with the port bound (issue 17 #14).
func TestServeFailsFastWithoutIdentityProvider(t *testing.T) {
	// Nothing listens on a port just closed.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "https://" + l.Addr().String()
	l.Close()
	// A local TLS server with a self-signed certificate.
	selfSigned := httptest.NewUnstartedServer(http.NotFoundHandler())
	selfSigned.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	selfSigned.StartTLS()
	defer selfSigned.Close()

	for _, tc := range []struct{ name, issuer, cause, hint string }{
		{"unreachable", closed, "connection refused", ""},
		{"untrusted certificate", selfSigned.URL, "certificate", "SSL_CERT_FILE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeKEK(t, filepath.Join(dir, "kek"))
			env := prodEnv()
			env["KEYPORT_ADDR"], env["KEYPORT_DATA_DIR"] = "127.0.0.1:0", dir
			env["KEYPORT_KEK_FILE"], env["KEYPORT_OIDC_ISSUER"] = filepath.Join(dir, "kek"), tc.issuer
			env["KEYPORT_LOG_LEVEL"] = "error"
			done := make(chan error, 1)
			go func() { done <- run(context.Background(), []string{"serve"}, envOf(env), io.Discard) }()
			var err error
			select {
			case err = <-done:
			case <-time.After(2 * time.Minute): // a guard against the hang, not a timing assertion
				t.Fatal("keyport serve hung with an unreachable identity provider")
			}
			if err == nil {
				t.Fatal("serve started without its identity provider")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "KEYPORT_OIDC_ISSUER: cannot reach the identity provider") ||
				!strings.Contains(msg, tc.cause) || !strings.Contains(msg, tc.hint) {
				t.Errorf("error = %q, want the variable, %q and %q", msg, tc.cause, tc.hint)
			}
		})
	}
}
