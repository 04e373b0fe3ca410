package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
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

// TestEnvExampleSourcesInBash: the example environment file works when a
// shell reads it (`set -a; . keyport.env`), as operators do to run the
// one-shot commands, and what the shell reads is a configuration keyport
// accepts, with the mail sender intact (issue 17 #20).
func TestEnvExampleSourcesInBash(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash here")
	}
	file, err := filepath.Abs(filepath.Join("..", "..", "deploy", "keyport.env.example"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bash, "--norc", "--noprofile", "-c", `set -a; . "$1"; set +a; env -0`, "bash", file)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	cmd.Dir = t.TempDir() // a redirection would create a file here
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("sourcing the example: %v\n%s", err, stderr.String())
	}
	env := map[string]string{}
	for _, kv := range strings.Split(string(out), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "KEYPORT_") {
			env[k] = v
		}
	}
	if env["KEYPORT_MAIL_FROM"] != "keyport <keyport@example.com>" {
		t.Errorf("KEYPORT_MAIL_FROM after sourcing = %q", env["KEYPORT_MAIL_FROM"])
	}
	// The secrets come from files (and the KEK from systemd); point them
	// at real ones.
	dir := t.TempDir()
	for _, name := range []string{"KEYPORT_OIDC_CLIENT_SECRET_FILE", "KEYPORT_METRICS_TOKEN_FILE"} {
		if env[name] != "" {
			env[name] = filepath.Join(dir, name)
			if err := os.WriteFile(env[name], []byte("a-secret-long-enough-0123456789"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	env["KEYPORT_KEK_FILE"] = filepath.Join(dir, "kek")
	if _, err := loadConfig(envOf(env), false); err != nil {
		t.Errorf("the sourced example is refused: %v", err)
	}
	// Read literally (docker --env-file keeps quotes), the error says why.
	env["KEYPORT_MAIL_FROM"] = `"keyport <keyport@example.com>"`
	if _, err := loadConfig(envOf(env), false); err == nil || !strings.Contains(err.Error(), "docker --env-file") {
		t.Errorf("quoted mail sender read literally: %v", err)
	}
}
