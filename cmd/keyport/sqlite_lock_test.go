package main

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"keyport/models"
)

const (
	kill9DBEnv = "KEYPORT_TEST_KILL9_DB" // set in the writer process only
	soakEnv    = "KEYPORT_SOAK"          // make soak: the long variants
)

// kill9AuditKey is the audit key the writer processes share.
var kill9AuditKey = []byte("kill9-test-audit-key-32-bytes!!!")

func TestSQLiteLockRefusesSecondServer(t *testing.T) {
	dir := t.TempDir()
	startDev(t, map[string]string{"KEYPORT_DATA_DIR": dir})
	// A second server on the same data directory stops at once, naming the
	// file and the process holding it (this one: the lock is per open file,
	// so it holds within one process too).
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	vars := map[string]string{"KEYPORT_ADDR": "127.0.0.1:0", "KEYPORT_DATA_DIR": dir, "KEYPORT_LOG_LEVEL": "warn"}
	err := run(ctx, []string{"dev"}, envOf(vars), &strings.Builder{})
	db := filepath.Join(dir, "keyport.db")
	if err == nil {
		t.Fatal("a second keyport dev on the same database started")
	}
	for _, want := range []string{"KEYPORT_DATABASE_URL", db, fmt.Sprintf("pid %d", os.Getpid()), db + ".lock", "PostgreSQL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	// One-shot commands still work beside the server.
	var out strings.Builder
	if err := run(ctx, []string{"migrate"}, envOf(map[string]string{"KEYPORT_DEV": "true", "KEYPORT_DATA_DIR": dir}), &out); err != nil {
		t.Errorf("keyport migrate beside the server: %v", err)
	}
}

func TestSQLiteFileOfDSN(t *testing.T) {
	for _, tc := range []struct {
		dsn, want string
		ok        bool
	}{
		{"/var/lib/keyport/keyport.db", "/var/lib/keyport/keyport.db", true},
		{"file:/data/k.db?_busy_timeout=1", "/data/k.db", true},
		{"file:k.db", "k.db", true},
		{"file::memory:?cache=shared", "", false},
		{"file:k.db?mode=memory", "", false},
		{":memory:", "", false},
		{"postgres://u@db/keyport", "", false},
		{"", "", false},
	} {
		got, ok := sqliteFile(tc.dsn)
		if got != tc.want || ok != tc.ok {
			t.Errorf("sqliteFile(%q) = %q, %v; want %q, %v", tc.dsn, got, ok, tc.want, tc.ok)
		}
	}
}

// TestHelperSQLiteWriter is not a test: it is the writer process that
// TestSQLiteKill9 starts and kills. It takes the server's lock, then
// appends audit events as fast as it can and prints "ack SEQ" after each
// commit returns: a printed seq is an acknowledged commit.
func TestHelperSQLiteWriter(t *testing.T) {
	path := os.Getenv(kill9DBEnv)
	if path == "" {
		t.Skip("helper process for TestSQLiteKill9")
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "writer:", err)
		os.Exit(2)
	}
	unlock, err := lockSQLite(path, false)
	if err != nil {
		fail(err)
	}
	defer unlock()
	ctx := context.Background()
	db, err := models.Open(ctx, path, nil)
	if err != nil {
		fail(err)
	}
	if err := db.Migrate(ctx); err != nil {
		fail(err)
	}
	db.SetAuditKey(kill9AuditKey)
	fmt.Println("ready")
	// Rows of a few KiB fill the WAL quickly, so kills also land during
	// checkpoints (every 1000 pages), not only during commits.
	pad := strings.Repeat("x", 1000+rand.IntN(3000))
	for i := 0; ; i++ {
		ev, err := db.AppendAudit(ctx, models.AuditInput{Action: "test.kill9_write", TargetID: strconv.Itoa(i),
			Details: map[string]string{"pad": pad}})
		if err != nil {
			fail(err)
		}
		fmt.Printf("ack %d\n", ev.Seq) // os.Stdout is unbuffered: printed = sent
	}
}

// TestSQLiteKill9 kills a writing keyport process with SIGKILL at random
// moments (20 times; 200 with KEYPORT_SOAK=1, as make soak sets), then
// checks that the database is intact and holds every commit a writer
// acknowledged. Each new writer must also get the lock the killed one held.
func TestSQLiteKill9(t *testing.T) {
	if os.Getenv(kill9DBEnv) != "" {
		t.Skip("inside a helper process")
	}
	kills := 20
	if os.Getenv(soakEnv) != "" {
		kills = 200
	}
	path := filepath.Join(t.TempDir(), "keyport.db")
	acked := map[int64]bool{}
	start := time.Now()
	for k := range kills {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperSQLiteWriter$", "-test.count=1")
		cmd.Env = append(os.Environ(), kill9DBEnv+"="+path)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ready := make(chan struct{})
		lines := make(chan []int64, 1)
		go func() {
			var seqs []int64
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if sc.Text() == "ready" {
					close(ready)
				} else if s, ok := strings.CutPrefix(sc.Text(), "ack "); ok {
					n, _ := strconv.ParseInt(s, 10, 64)
					seqs = append(seqs, n)
				}
			}
			lines <- seqs
		}()
		select {
		case <-ready:
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("writer %d did not start: %s", k, stderr.String())
		}
		if k == 0 {
			// The server lock: held by the writer, so refused here, naming it.
			if _, err := lockSQLite(path, false); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", cmd.Process.Pid)) {
				t.Errorf("lock while a writer runs: %v; want a refusal naming pid %d", err, cmd.Process.Pid)
			}
		}
		time.Sleep(time.Duration(1+rand.IntN(80)) * time.Millisecond)
		if err := cmd.Process.Kill(); err != nil { // SIGKILL
			t.Fatal(err)
		}
		werr := cmd.Wait()
		seqs := <-lines
		if len(seqs) == 0 && stderr.Len() > 0 {
			t.Fatalf("writer %d failed: %v\n%s", k, werr, stderr.String())
		}
		for _, s := range seqs {
			acked[s] = true
		}
	}

	// Read the file around the store first: the pragma must see it as the
	// last writer left it.
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var integrity string
	if err := raw.QueryRow("PRAGMA integrity_check").Scan(&integrity); err != nil {
		t.Fatal(err)
	}
	present := map[int64]bool{}
	rows, err := raw.Query("SELECT seq FROM audit_events")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s int64
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		present[s] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	lost := 0
	for s := range acked {
		if !present[s] {
			lost++
		}
	}
	fmt.Printf("METRIC sqlite_kill9 kills=%d integrity=%s lost_acknowledged=%d acknowledged=%d rows=%d seconds=%.1f\n",
		kills, integrity, lost, len(acked), len(present), time.Since(start).Seconds())
	if integrity != "ok" || lost != 0 || len(acked) == 0 {
		t.Errorf("integrity_check = %q, %d of %d acknowledged commits lost", integrity, lost, len(acked))
	}
	db, err := models.Open(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetAuditKey(kill9AuditKey)
	if v, err := db.VerifyAudit(context.Background()); err != nil || !v.OK {
		t.Errorf("audit chain after %d kills: %+v, %v", kills, v, err)
	}
}
