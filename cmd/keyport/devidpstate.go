package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"

	"keyport/models"
	"keyport/web/devidp"
)

// devIdPState is what `keyport dev` keeps of its identity provider in the
// data directory (devidp.json, mode 0600): the address and the signing
// key. Users are keyed by (issuer, subject) and the issuer holds the port,
// so without it every restart would make the same email a new user with
// a new, empty tenant (issue 14 #8).
type devIdPState struct {
	Addr       string `json:"addr"`
	SigningKey string `json:"signing_key"` // PKCS #8 PEM; a stand-in IdP's key, never a production secret
}

const devIdPFile = "devidp.json"

// startDevIdP starts the development identity provider with the issuer of
// the last run of this data directory. Its address comes from
// KEYPORT_DEV_IDP_ADDR, else the saved one, else a free loopback port.
// When the saved port is taken by another program: if nobody has signed
// in through the old issuer yet, nothing is lost and a new port is taken
// and saved; otherwise keyport stops and names the port and the variable,
// because a new issuer would turn every existing user into a stranger.
func startDevIdP(ctx context.Context, cfg *config, db *models.DB, log *slog.Logger) (*devidp.IdP, error) {
	path := filepath.Join(cfg.DataDir, devIdPFile)
	st, key, err := loadDevIdPState(path)
	if err != nil {
		return nil, err
	}
	if key == nil {
		if key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			return nil, fmt.Errorf("development identity provider: generate signing key: %w", err)
		}
	}
	addr := st.Addr
	if cfg.DevIdPAddr != "" {
		if addr != "" && addr != cfg.DevIdPAddr {
			log.Warn("development identity provider moves: users who signed in at the old address are new users at this one",
				"saved", addr, "KEYPORT_DEV_IDP_ADDR", cfg.DevIdPAddr)
		}
		addr = cfg.DevIdPAddr
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	idp, err := devidp.StartWith(ctx, addr, devidp.Options{SigningKey: key})
	if errors.Is(err, syscall.EADDRINUSE) && cfg.DevIdPAddr == "" {
		n, cerr := db.CountUsers(ctx, "http://"+addr+"/oidc")
		if cerr != nil {
			return nil, cerr
		}
		if n > 0 {
			return nil, &configError{"KEYPORT_DEV_IDP_ADDR", fmt.Sprintf(
				"the development identity provider's port %s is used by another program; it is saved in %s so that its issuer stays the same for the %s who signed in through it. Stop that program, or set KEYPORT_DEV_IDP_ADDR=127.0.0.1:PORT to move it (everyone who signed in so far then signs in as a new user)",
				addr, path, plural(n, "user"))}
		}
		log.Warn("development identity provider: saved port taken, no user yet, taking a new one", "saved", addr)
		idp, err = devidp.StartWith(ctx, "127.0.0.1:0", devidp.Options{SigningKey: key})
	}
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, &configError{"KEYPORT_DEV_IDP_ADDR", "cannot listen on " + addr + " (is another program using it?)"}
		}
		return nil, fmt.Errorf("start development identity provider: %w", err)
	}
	if err := saveDevIdPState(path, devIdPState{Addr: idp.Addr()}, key); err != nil {
		idp.Close()
		return nil, err
	}
	return idp, nil
}

// loadDevIdPState reads the saved state; a missing file is a first run.
func loadDevIdPState(path string) (devIdPState, *rsa.PrivateKey, error) {
	var st devIdPState
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil, nil
	}
	bad := func(problem string) (devIdPState, *rsa.PrivateKey, error) {
		return st, nil, &configError{"KEYPORT_DATA_DIR", path + " " + problem + "; delete it to start the development identity provider afresh (users who signed in before become new users)"}
	}
	if err != nil {
		return bad("cannot be read: " + describeFileError(err))
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return bad("is not valid JSON")
	}
	block, _ := pem.Decode([]byte(st.SigningKey))
	if block == nil || block.Type != "PRIVATE KEY" {
		return bad("holds no PEM private key")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	rk, ok := k.(*rsa.PrivateKey)
	if err != nil || !ok {
		return bad("holds no RSA private key")
	}
	return st, rk, nil
}

// saveDevIdPState writes the state readable by the owner only, replacing
// the file in one rename so a crash never leaves half of it.
func saveDevIdPState(path string, st devIdPState, key *rsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("development identity provider: encode signing key: %w", err)
	}
	st.SigningKey = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".devidp-*.json")
	if err != nil {
		return &configError{"KEYPORT_DATA_DIR", "cannot write in " + filepath.Dir(path) + ": " + describeFileError(err)}
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("save %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	return nil
}

// plural is "1 user", "2 users".
func plural(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
