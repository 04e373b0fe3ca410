package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// readRepoFile reads a file from the repository root.
func readRepoFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDockerfile checks what Docker cannot be run here to check: the image
// builds this command with cgo, runs as a non-root user with the data
// directory as a volume, and checks its health through /healthz.
func TestDockerfile(t *testing.T) {
	df := readRepoFile(t, "Dockerfile")
	for _, re := range []string{
		`(?m)^FROM golang:1\.\d+\S* AS build$`,
		`CGO_ENABLED=1 go build .* \./cmd/keyport\b`,
		`(?m)^FROM gcr\.io/distroless/base-debian12:nonroot$`,
		`(?m)^USER 65532:65532$`,
		`(?m)^VOLUME \["/var/lib/keyport"\]$`,
		`KEYPORT_DATA_DIR=/var/lib/keyport`,
		`(?m)^HEALTHCHECK .*\n\s+CMD \["/usr/local/bin/keyport", "healthcheck"\]`,
		`(?m)^ENTRYPOINT \["/usr/local/bin/keyport"\]$`,
	} {
		if !regexp.MustCompile(re).MatchString(df) {
			t.Errorf("Dockerfile does not match %s", re)
		}
	}
	if regexp.MustCompile(`(?mi)^USER\s+(root|0)\b`).MatchString(df) {
		t.Error("Dockerfile switches to root")
	}
	ignore := readRepoFile(t, ".dockerignore")
	for _, must := range []string{"data", "*.key", "*.db", ".git"} {
		if !strings.Contains(ignore, must+"\n") {
			t.Errorf(".dockerignore does not keep %s out of the build context", must)
		}
	}
}

func TestSystemdUnit(t *testing.T) {
	unit := readRepoFile(t, "deploy/keyport.service")
	for _, line := range []string{"User=keyport", "ProtectSystem=strict", "NoNewPrivileges=true", "ReadWritePaths=/var/lib/keyport",
		"EnvironmentFile=/etc/keyport/keyport.env", "ExecStart=/usr/local/bin/keyport serve", "CapabilityBoundingSet=",
		"Environment=KEYPORT_KEK_FILE=%d/kek"} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(line) + `$`).MatchString(unit) {
			t.Errorf("keyport.service lacks %q", line)
		}
	}
	docs := readRepoFile(t, "docs/operations.md")
	for _, must := range []string{"keyport kek rotate", "KEYPORT_KEK_PREVIOUS_FILE", "keyport backup", "pg_dump", "/readyz", "/healthz",
		"sticky", "per replica", "KEYPORT_METRICS_TOKEN", "keyport_kms_calls_total"} {
		if !strings.Contains(docs, must) {
			t.Errorf("docs/operations.md does not mention %s", must)
		}
	}
}

func TestHealthcheckCommand(t *testing.T) {
	status := http.StatusOK
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	defer ts.Close()
	env := envOf(map[string]string{"KEYPORT_ADDR": strings.TrimPrefix(ts.URL, "http://")})
	if err := healthcheck(context.Background(), env, io.Discard); err != nil {
		t.Errorf("healthy server: %v", err)
	}
	status = http.StatusServiceUnavailable
	if err := run(context.Background(), []string{"healthcheck"}, env, io.Discard); err == nil {
		t.Error("unhealthy server passed the health check")
	}
	if err := run(context.Background(), []string{"healthcheck"}, envOf(map[string]string{"KEYPORT_ADDR": "nonsense"}), io.Discard); err == nil ||
		!strings.Contains(err.Error(), "KEYPORT_ADDR") {
		t.Errorf("bad address: %v", err)
	}
}
