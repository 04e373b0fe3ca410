package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"keyport/keysvc/mailer"
	"keyport/keysvc/seal"
	"keyport/models"
)

// writeKEK writes a random KEK file with mode 0600 and returns its bytes.
func writeKEK(t *testing.T, path string) []byte {
	t.Helper()
	k := make([]byte, 32)
	rand.Read(k)
	if err := os.WriteFile(path, k, 0o600); err != nil {
		t.Fatal(err)
	}
	return k
}

// TestKEKRotateCommand follows the documented procedure: the new KEK as
// KEYPORT_KEK_FILE with the old one as KEYPORT_KEK_PREVIOUS_FILE, `keyport
// kek rotate`, then the previous KEK removed, and everything still opens.
func TestKEKRotateCommand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	oldPath, newPath := filepath.Join(dir, "kek-old.key"), filepath.Join(dir, "kek-new.key")
	oldKEK := writeKEK(t, oldPath)
	vars := map[string]string{"KEYPORT_DEV": "true", "KEYPORT_DATA_DIR": dir, "KEYPORT_KEK_FILE": oldPath}
	if err := run(ctx, []string{"migrate"}, envOf(vars), io.Discard); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	// A mail body sealed under the old KEK, as the outbox writes it.
	db := openDevStore(t, envOf(vars))
	old, _ := seal.NewSealer(oldKEK)
	m, err := mailer.NewOutbox(db, old, nil, "").Compose("", "test", "", mailer.Message{To: []string{"a@b.test"}, Subject: "s", Text: "invite link"})
	if err == nil {
		err = db.EnqueueMail(ctx, m)
	}
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	newKEK := writeKEK(t, newPath)
	vars["KEYPORT_KEK_FILE"] = newPath
	if err := run(ctx, []string{"audit", "verify"}, envOf(vars), io.Discard); err == nil || !strings.Contains(err.Error(), "another key-encryption key") {
		t.Fatalf("new KEK alone before the rotation: err = %v, want a wrong-KEK error", err)
	}
	vars["KEYPORT_KEK_PREVIOUS_FILE"] = oldPath
	var out bytes.Buffer
	if err := run(ctx, []string{"kek", "rotate"}, envOf(vars), &out); err != nil {
		t.Fatalf("kek rotate: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "done: 2 re-sealed") || !strings.Contains(out.String(), "remove KEYPORT_KEK_PREVIOUS_FILE") {
		t.Errorf("kek rotate said:\n%s", out.String())
	}
	if bytes.Contains(out.Bytes(), oldKEK) || bytes.Contains(out.Bytes(), newKEK) {
		t.Error("kek rotate printed key bytes")
	}
	out.Reset()
	if err := run(ctx, []string{"kek", "rotate"}, envOf(vars), &out); err != nil || !strings.Contains(out.String(), "done: 0 re-sealed, 2 already") {
		t.Errorf("second run: %v\n%s", err, out.String())
	}

	// The old KEK is gone: the audit key and the mail open with the new one alone.
	delete(vars, "KEYPORT_KEK_PREVIOUS_FILE")
	if err := os.Remove(oldPath); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(ctx, []string{"audit", "verify"}, envOf(vars), &out); err != nil {
		t.Fatalf("audit verify with the new KEK alone: %v", err)
	}
	db = openDevStore(t, envOf(vars))
	defer db.Close()
	events, _ := db.ListAudit(ctx, "", 10)
	found := false
	for _, e := range events {
		found = found || e.Action == "kek.rotated"
	}
	if !found {
		t.Error("no kek.rotated audit event")
	}
	stored, _ := db.GetOutboxMessage(ctx, m.ID)
	s, _ := seal.NewSealer(newKEK)
	defer s.Close()
	if !s.IsCurrent(stored.BodySealed) {
		t.Error("the mail body is not under the new KEK")
	}
}

func TestKEKRotateRefusesBadInput(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	kek := filepath.Join(dir, "kek.key")
	writeKEK(t, kek)
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"kek"}, nil, "usage: keyport kek rotate"},
		{[]string{"kek", "rotate"}, map[string]string{"KEYPORT_KEK_FILE": kek, "KEYPORT_KEK_PREVIOUS_FILE": kek}, "KEYPORT_KEK_PREVIOUS_FILE: names the same file"},
		{[]string{"kek", "rotate"}, map[string]string{"KEYPORT_KEK_FILE": kek, "KEYPORT_KEK_PREVIOUS_FILE": filepath.Join(dir, "none")}, "KEYPORT_KEK_PREVIOUS_FILE: seal: kek file"},
	} {
		env := map[string]string{"KEYPORT_DEV": "true", "KEYPORT_DATA_DIR": dir}
		for k, v := range tc.env {
			env[k] = v
		}
		err := run(ctx, tc.args, envOf(env), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.args, err, tc.want)
		}
	}
}

// TestBackupCommand: the backup is a SQLite file that opens, passes
// integrity_check and holds the data; it is private, and nothing is ever
// overwritten.
func TestBackupCommand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	env := envOf(map[string]string{"KEYPORT_DEV": "true", "KEYPORT_DATA_DIR": dir})
	if err := run(ctx, []string{"migrate"}, env, io.Discard); err != nil {
		t.Fatal(err)
	}
	db := openDevStore(t, env)
	for range 50 {
		if _, err := db.AppendAudit(ctx, models.AuditInput{Actor: "usr_backup", Action: "test.event"}); err != nil {
			t.Fatal(err)
		}
	}
	// keyport keeps running (and holding the database open) during a backup.
	defer db.Close()

	target := filepath.Join(t.TempDir(), "keyport-backup.db")
	var out bytes.Buffer
	if err := run(ctx, []string{"backup", target}, env, &out); err != nil {
		t.Fatalf("backup: %v", err)
	}
	if !strings.Contains(out.String(), "integrity ok") {
		t.Errorf("backup said %q", out.String())
	}
	fi, err := os.Stat(target)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v, mode %v", err, fi.Mode())
	}
	raw, err := sql.Open("sqlite3", "file:"+target+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	var check string
	var events int
	if err := raw.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity_check = %q, %v", check, err)
	}
	if err := raw.QueryRow("SELECT COUNT(*) FROM audit_events WHERE action = 'test.event'").Scan(&events); err != nil || events != 50 {
		t.Errorf("backup holds %d events, %v; want 50", events, err)
	}
	raw.Close()

	// Restore = put the file in place of the database: the restored copy
	// verifies as a whole chain under the same KEK.
	restoreDir := t.TempDir()
	if b, err := os.ReadFile(target); err != nil || os.WriteFile(filepath.Join(restoreDir, "keyport.db"), b, 0o600) != nil {
		t.Fatal(err)
	}
	kek, _ := os.ReadFile(filepath.Join(dir, "kek.key"))
	if err := os.WriteFile(filepath.Join(restoreDir, "kek.key"), kek, 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(ctx, []string{"audit", "verify"}, envOf(map[string]string{"KEYPORT_DEV": "true", "KEYPORT_DATA_DIR": restoreDir}), &out); err != nil ||
		!strings.Contains(out.String(), "audit chain OK") {
		t.Errorf("restored copy: %v %q", err, out.String())
	}

	before, _ := os.ReadFile(target)
	if err := run(ctx, []string{"backup", target}, env, io.Discard); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("second backup to the same path: %v, want a refusal", err)
	}
	if after, _ := os.ReadFile(target); !bytes.Equal(before, after) {
		t.Error("the refused backup changed the existing file")
	}
	for _, args := range [][]string{{"backup"}, {"backup", "--force", target}} {
		if err := run(ctx, args, env, io.Discard); err == nil || !strings.Contains(err.Error(), "usage: keyport backup") {
			t.Errorf("%v: %v", args, err)
		}
	}
	pg := envOf(map[string]string{"KEYPORT_DEV": "true", "KEYPORT_DATA_DIR": dir, "KEYPORT_DATABASE_URL": "postgres://keyport@db.example/keyport"})
	out.Reset()
	if err := run(ctx, []string{"backup", filepath.Join(t.TempDir(), "x")}, pg, &out); err == nil || !strings.Contains(out.String(), "pg_dump") {
		t.Errorf("backup on PostgreSQL: %v %q, want a pointer to pg_dump", err, out.String())
	}
}
