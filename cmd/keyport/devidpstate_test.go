package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDevIdPKeepsItsIssuer: the development identity provider's address
// and signing key are saved in the data directory and reused; when the
// saved port is taken, a new one is taken only while nobody has signed in
// through the old issuer, and otherwise keyport stops naming the port and
// the variable that moves it.
func TestDevIdPKeepsItsIssuer(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	env := envOf(map[string]string{"KEYPORT_DEV": "true", "KEYPORT_DATA_DIR": dir})
	cfg, err := loadConfig(env, true)
	if err != nil {
		t.Fatal(err)
	}
	db := openDevStore(t, env)
	defer db.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	idp, err := startDevIdP(ctx, cfg, db, log)
	if err != nil {
		t.Fatal(err)
	}
	issuer, addr := idp.Issuer(), idp.Addr()
	idp.Close()
	path := filepath.Join(dir, devIdPFile)
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v, %v; want mode 0600", path, fi.Mode(), err)
	}
	_, key1, err := loadDevIdPState(path)
	if err != nil || key1 == nil {
		t.Fatalf("saved state: %v", err)
	}

	idp, err = startDevIdP(ctx, cfg, db, log)
	if err != nil {
		t.Fatal(err)
	}
	if idp.Issuer() != issuer {
		t.Errorf("issuer after a restart = %s, want %s", idp.Issuer(), issuer)
	}
	idp.Close()
	if _, key2, _ := loadDevIdPState(path); !key1.Equal(key2) {
		t.Error("the signing key changed across a restart")
	}

	// Another program takes the port while nobody has signed in: a new
	// port is taken and saved.
	squat, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	idp, err = startDevIdP(ctx, cfg, db, log)
	if err != nil {
		t.Fatalf("saved port taken, no users: %v", err)
	}
	moved := idp.Addr()
	idp.Close()
	squat.Close()
	if moved == addr {
		t.Fatal("the taken port was reused")
	}
	if st, _, _ := loadDevIdPState(path); st.Addr != moved {
		t.Errorf("saved address = %s, want the new %s", st.Addr, moved)
	}

	// Once someone has signed in, a taken port stops keyport instead.
	if _, _, err := db.UpsertOIDCUser(ctx, "http://"+moved+"/oidc", "dev-x", "x@acme.test", "X"); err != nil {
		t.Fatal(err)
	}
	squat, err = net.Listen("tcp", moved)
	if err != nil {
		t.Fatal(err)
	}
	defer squat.Close()
	_, err = startDevIdP(ctx, cfg, db, log)
	if err == nil || !strings.HasPrefix(err.Error(), "KEYPORT_DEV_IDP_ADDR: ") || !strings.Contains(err.Error(), moved) ||
		!strings.Contains(err.Error(), "for the 1 user who") {
		t.Errorf("saved port taken with users: %v", err)
	}

	// A damaged file is named, with what deleting it costs.
	if err := os.WriteFile(path, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := startDevIdP(ctx, cfg, db, log); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("damaged state: %v", err)
	}
}
