package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"keyport/models"
)

// TestServeSweepsLoginFlows: sign-ins started and never finished are
// deleted by the running server, not only by a function nobody calls
// (issue 17 #7). The first sweep runs before keyport says it is running.
func TestServeSweepsLoginFlows(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"KEYPORT_DATA_DIR": dir}
	db := openDevStore(t, envOf(env))
	now := time.Now()
	flow := func(expires time.Time) string {
		h := sha256.Sum256([]byte(expires.String()))
		f := &models.LoginFlow{SecretHash: h[:], State: "state", Nonce: "nonce", CreatedAt: expires.Add(-10 * time.Minute), ExpiresAt: expires}
		if err := db.CreateLoginFlow(context.Background(), f); err != nil {
			t.Fatal(err)
		}
		return f.ID
	}
	abandoned, live := flow(now.Add(-time.Minute)), flow(now.Add(time.Hour))
	db.Close()

	startDev(t, env)

	raw, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "keyport.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for id, want := range map[string]int{abandoned: 0, live: 1} {
		var n int
		if err := raw.QueryRow(`SELECT count(*) FROM login_flows WHERE id = ?`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Errorf("login flow expiring %v: %d rows after start, want %d", map[bool]string{true: "in the past", false: "in an hour"}[want == 0], n, want)
		}
	}
}
