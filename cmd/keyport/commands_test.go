package main

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/mattn/go-sqlite3" // raw access to tamper with a row, as an attacker with the file would

	"keyport/models"
)

// openDevStore opens the store of a development configuration as the
// one-shot commands do; the caller closes it.
func openDevStore(t *testing.T, getenv func(string) string) *models.DB {
	t.Helper()
	cfg, err := loadConfig(getenv, true)
	if err != nil {
		t.Fatal(err)
	}
	db, err := openStore(context.Background(), cfg, newLogger(cfg, io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestAuditVerifyCommand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	env := envOf(map[string]string{"KEYPORT_DEV": "true", "KEYPORT_DATA_DIR": dir})

	var out bytes.Buffer
	if err := run(ctx, []string{"migrate"}, env, &out); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	db := openDevStore(t, env)
	for _, action := range []string{"tenant.created", "auth.sign_in", "auth.sign_out"} {
		if _, err := db.AppendAudit(ctx, models.AuditInput{Actor: "usr_test", Action: action}); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	out.Reset()
	if err := run(ctx, []string{"audit", "verify"}, env, &out); err != nil || !strings.HasPrefix(out.String(), "audit chain OK: 3 rows") {
		t.Fatalf("intact chain: %v, %q", err, out.String())
	}

	raw, err := sql.Open("sqlite3", filepath.Join(dir, "keyport.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`UPDATE audit_events SET action = 'auth.nothing_happened' WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	out.Reset()
	err = run(ctx, []string{"audit", "verify"}, env, &out)
	if err == nil || !strings.Contains(out.String(), "BROKEN at seq 2") {
		t.Errorf("edited chain: %v, %q", err, out.String())
	}
}

func TestRunRefusesBadInput(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"frobnicate"}, nil, `unknown command "frobnicate"`},
		{[]string{"audit"}, nil, "usage: keyport audit verify"},
		{[]string{"serve"}, nil, "KEYPORT_BASE_URL: is required"},
		{[]string{"dev"}, map[string]string{"KEYPORT_LOG_LEVEL": "chatty"}, "KEYPORT_LOG_LEVEL: must be one of"},
	}
	for _, tt := range tests {
		err := run(ctx, tt.args, envOf(tt.env), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("run %v: err = %v, want %q", tt.args, err, tt.want)
		}
	}
}

func TestDatabaseFileIsPrivate(t *testing.T) {
	dir := t.TempDir()
	env := envOf(map[string]string{"KEYPORT_DEV": "true", "KEYPORT_DATA_DIR": dir})
	if err := run(context.Background(), []string{"migrate"}, env, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"keyport.db", "kek.key"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode = %v, want 0600", name, fi.Mode().Perm())
		}
	}
}

func TestTokenCommand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	env := envOf(map[string]string{"KEYPORT_DEV": "true", "KEYPORT_DATA_DIR": dir})
	db := openDevStore(t, env)
	u, _, _ := db.UpsertOIDCUser(ctx, "https://idp", "s", "a@b.test", "")
	tenant, err := db.CreateTenantWithOwner(ctx, "b.test", u.ID, models.AuditInput{Actor: u.ID, Action: "tenant.created"})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	var out bytes.Buffer
	if err := run(ctx, []string{"token", "create", "--tenant", tenant.ID, "--name", "billing"}, env, &out); err != nil {
		t.Fatalf("token create: %v", err)
	}
	tok, _, _ := strings.Cut(out.String(), "\n")
	if !strings.HasPrefix(tok, "kpt_tok_") || !strings.Contains(out.String(), "cannot show it again") {
		t.Fatalf("output = %q", out.String())
	}
	for _, bad := range [][]string{
		{"token", "create", "--name", "x"},
		{"token", "create", "--tenant", tenant.ID},
		{"token", "create", "--tenant", tenant.ID, "--provider-wide", "--name", "x"},
		{"token", "create", "--tenant", "tnt_nosuch", "--name", "x"},
	} {
		if err := run(ctx, bad, env, io.Discard); err == nil {
			t.Errorf("%v: accepted", bad)
		}
	}
	out.Reset()
	if err := run(ctx, []string{"token", "create", "--provider-wide", "--name", "platform"}, env, &out); err != nil {
		t.Fatal(err)
	}
	parts := strings.SplitN(strings.TrimPrefix(tok, "kpt_"), "_", 3)
	if err := run(ctx, []string{"token", "revoke", parts[0] + "_" + parts[1]}, env, io.Discard); err != nil {
		t.Errorf("token revoke: %v", err)
	}
}

// TestMigrateFileURI: KEYPORT_DATABASE_URL may be a SQLite file: URI
// outside development too; the directory that must exist is the file's.
func TestMigrateFileURI(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	vars := prodEnv()
	vars["KEYPORT_KEK_FILE"] = filepath.Join(dir, "kek.key")
	writeKEK(t, vars["KEYPORT_KEK_FILE"])
	vars["KEYPORT_DATABASE_URL"] = "file:" + filepath.Join(dir, "keyport.db") + "?_busy_timeout=5000"
	if err := run(ctx, []string{"migrate"}, envOf(vars), io.Discard); err != nil {
		t.Fatalf("migrate on a file: URI: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "keyport.db")); err != nil {
		t.Errorf("no database file: %v", err)
	}
	missing := filepath.Join(dir, "missing")
	vars["KEYPORT_DATABASE_URL"] = "file:" + filepath.Join(missing, "keyport.db")
	if err := run(ctx, []string{"migrate"}, envOf(vars), io.Discard); err == nil || !strings.Contains(err.Error(), "directory "+missing+" does not exist") {
		t.Errorf("migrate into a missing directory: %v", err)
	}
}
