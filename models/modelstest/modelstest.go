// Package modelstest chooses the database a test runs against: a fresh
// SQLite file per test by default, or, when KEYPORT_TEST_POSTGRES names a
// PostgreSQL server, a fresh schema on it per test, dropped at cleanup. The
// same store, jobs and end-to-end tests thus run on both backends.
//
// It imports no keyport package, so the models package's own tests can use
// it too.
package modelstest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, for schema setup
)

// EnvPostgres names the environment variable holding the PostgreSQL URL the
// tests use, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const EnvPostgres = "KEYPORT_TEST_POSTGRES"

// PostgresURL is the server the tests use, or "" for SQLite.
func PostgresURL() string { return os.Getenv(EnvPostgres) }

// Postgres reports whether tests run on PostgreSQL.
func Postgres() bool { return PostgresURL() != "" }

// Backend names the database tests run on, for log lines and METRIC lines.
func Backend() string {
	if Postgres() {
		return "postgres"
	}
	return "sqlite"
}

// SQLiteOnly skips a test that is about SQLite itself (pragmas, the file,
// the driver) when the tests run on PostgreSQL.
func SQLiteOnly(tb testing.TB) {
	tb.Helper()
	if Postgres() {
		tb.Skip("SQLite-specific; " + EnvPostgres + " is set")
	}
}

// PostgresOnly skips a test that needs PostgreSQL when it is not configured.
func PostgresOnly(tb testing.TB) {
	tb.Helper()
	if !Postgres() {
		tb.Skip(EnvPostgres + " is not set")
	}
}

// DSN returns a fresh, empty database for this test: a SQLite file in
// tb.TempDir(), or a postgres:// URL whose search_path is a new schema.
// Opening it twice gives two handles on one database, as two processes
// would have. A configured but unreachable PostgreSQL fails the test rather
// than skipping it, so a broken CI setup cannot pass silently.
func DSN(tb testing.TB) string {
	tb.Helper()
	if !Postgres() {
		return filepath.Join(tb.TempDir(), "keyport.db")
	}
	dsn, drop, err := NewSchema(context.Background(), PostgresURL())
	if err != nil {
		tb.Fatalf("modelstest: %v", err)
	}
	tb.Cleanup(func() {
		if err := drop(); err != nil {
			tb.Logf("modelstest: %v", err)
		}
	})
	return dsn
}

// NewSchema creates a uniquely named schema on the server at base and
// returns a URL that uses it, and a function that drops it (with
// everything in it). It is for programs and helper processes that have no
// testing.TB.
func NewSchema(ctx context.Context, base string) (dsn string, drop func() error, err error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", nil, fmt.Errorf("%s is not a URL", EnvPostgres)
	}
	admin, err := adminDB(base)
	if err != nil {
		return "", nil, err
	}
	var b [6]byte
	rand.Read(b[:])
	schema := "kt_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		return "", nil, fmt.Errorf("create schema on %s (is PostgreSQL running? see README): %w", u.Redacted(), err)
	}
	q := u.Query()
	q.Set("search_path", schema) // pgx sends unknown parameters as session settings
	u.RawQuery = q.Encode()
	drop = func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			return fmt.Errorf("drop schema %s: %w", schema, err)
		}
		return nil
	}
	return u.String(), drop, nil
}

// admins holds one small pool per server URL for creating and dropping
// schemas, shared by every test of the package.
var (
	adminsMu sync.Mutex
	admins   = map[string]*sql.DB{}
)

func adminDB(base string) (*sql.DB, error) {
	adminsMu.Lock()
	defer adminsMu.Unlock()
	if db, ok := admins[base]; ok {
		return db, nil
	}
	db, err := sql.Open("pgx", base)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", EnvPostgres, err)
	}
	db.SetMaxOpenConns(2)
	admins[base] = db
	return db, nil
}
