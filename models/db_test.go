package models

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"keyport/models/modelstest"
)

// testAuditKey is a fixed audit key for tests.
var testAuditKey = []byte("0123456789abcdef0123456789abcdef")

// testClock is an injectable clock that only moves when told to.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// openTestDB opens a fresh migrated database (SQLite, or PostgreSQL when
// KEYPORT_TEST_POSTGRES is set; see modelstest), with the audit key set and
// the clock fixed.
func openTestDB(tb testing.TB) (*DB, *testClock) {
	tb.Helper()
	db := openTestDBAt(tb, modelstest.DSN(tb))
	clock := newTestClock()
	db.SetNow(clock.Now)
	return db, clock
}

// openTestDBAt opens and migrates the database at dsn, with the audit key
// set. Opening one dsn twice gives two handles, as two processes would have.
func openTestDBAt(tb testing.TB, dsn string) *DB {
	tb.Helper()
	db, err := Open(context.Background(), dsn, nil)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	if err := db.Migrate(context.Background()); err != nil {
		tb.Fatalf("Migrate: %v", err)
	}
	db.SetAuditKey(testAuditKey)
	return db
}

// mustUser creates a user with the given subject.
func mustUser(tb testing.TB, db *DB, subject string) *User {
	tb.Helper()
	u, _, err := db.UpsertOIDCUser(context.Background(), "https://idp.example", subject, subject+"@example.com", "User "+subject)
	if err != nil {
		tb.Fatalf("UpsertOIDCUser(%s): %v", subject, err)
	}
	return u
}

// mustTenant creates a tenant owned by owner.
func mustTenant(tb testing.TB, db *DB, name string, owner *User) *Tenant {
	tb.Helper()
	t, err := db.CreateTenantWithOwner(context.Background(), name, owner.ID, AuditInput{Actor: owner.ID})
	if err != nil {
		tb.Fatalf("CreateTenantWithOwner(%s): %v", name, err)
	}
	return t
}

func TestOpenAppliesPragmas(t *testing.T) {
	modelstest.SQLiteOnly(t)
	db, _ := openTestDB(t)
	for _, tc := range []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"busy_timeout", "5000"},
		{"synchronous", "1"}, // NORMAL
	} {
		t.Run(tc.pragma, func(t *testing.T) {
			var got string
			if err := db.g.Raw("PRAGMA " + tc.pragma).Row().Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("PRAGMA %s = %q, want %q", tc.pragma, got, tc.want)
			}
		})
	}
}

func TestSQLiteDSN(t *testing.T) {
	for _, tc := range []struct {
		name, dsn string
		wantErr   bool
		wantBase  string
	}{
		{"path", "/var/lib/keyport/keyport.db", false, "/var/lib/keyport/keyport.db?"},
		{"uri", "file:keyport.db?mode=rwc", false, "file:keyport.db?"},
		{"uri overrides caller", "file:keyport.db?_txlock=deferred", false, "file:keyport.db?"},
		{"empty", "", true, ""},
		{"path with query", "/tmp/k.db?_txlock=deferred", true, ""},
		{"postgres url", "postgres://keyport@db/keyport", true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sqliteDSN(tc.dsn, sqliteParams)
			if tc.wantErr {
				var ve *ValidationError
				if !errors.As(err, &ve) {
					t.Fatalf("sqliteDSN(%q) error = %v, want *ValidationError", tc.dsn, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(got, tc.wantBase) {
				t.Errorf("sqliteDSN(%q) = %q, want prefix %q", tc.dsn, got, tc.wantBase)
			}
			for _, p := range []string{"_txlock=immediate", "_journal_mode=WAL", "_foreign_keys=on", "_busy_timeout=5000", "_synchronous=NORMAL"} {
				if !strings.Contains(got, p) {
					t.Errorf("sqliteDSN(%q) = %q, missing %s", tc.dsn, got, p)
				}
			}
			if strings.Contains(got, "deferred") {
				t.Errorf("sqliteDSN(%q) = %q kept the caller's _txlock", tc.dsn, got)
			}
		})
	}
}

func TestMigrateIdempotentAndRecorded(t *testing.T) {
	db, _ := openTestDB(t) // already migrated once
	ctx := context.Background()
	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	got, err := db.AppliedMigrations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(migrations) {
		t.Fatalf("applied %v, want %d migrations", got, len(migrations))
	}
	for i, m := range migrations {
		if got[i] != m.version {
			t.Errorf("applied[%d] = %d, want %d", i, got[i], m.version)
		}
	}
	var rows []schemaMigration
	if err := db.g.Table("schema_migrations").Order("version").Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		if r.Name != migrations[i].name || r.AppliedAt.IsZero() {
			t.Errorf("row %d = %+v, want name %q and applied_at set", i, r, migrations[i].name)
		}
	}
	for _, table := range []string{"tenants", "users", "memberships", "sessions", "login_flows", "audit_events", "sealed_secrets"} {
		if !db.g.Migrator().HasTable(table) {
			t.Errorf("table %s missing", table)
		}
	}
}

func TestMigrationsAreOrdered(t *testing.T) {
	// Migrate applies the list as written, so versions must be unique and
	// strictly increasing. (A gap is allowed while a numbered migration is
	// still being written.)
	for i, m := range migrations {
		if i > 0 && m.version <= migrations[i-1].version {
			t.Errorf("migration version %d follows %d: versions must strictly increase", m.version, migrations[i-1].version)
		}
		if m.version < 1 {
			t.Errorf("migration version %d must be positive", m.version)
		}
		if m.name == "" || len(m.stmts) == 0 {
			t.Errorf("migration %d has no name or no statements", m.version)
		}
	}
}

func TestMigrateRefusesUnknownHistory(t *testing.T) {
	for _, tc := range []struct {
		name string
		sql  string
	}{
		{"newer version", "INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', '2026-01-01 00:00:00+00:00')"},
		{"renamed migration", "UPDATE schema_migrations SET name = 'something else' WHERE version = 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, _ := openTestDB(t)
			if err := db.g.Exec(tc.sql).Error; err != nil {
				t.Fatal(err)
			}
			if err := db.Migrate(context.Background()); err == nil {
				t.Fatal("Migrate succeeded on a database with unknown history")
			}
		})
	}
}

func TestPing(t *testing.T) {
	db, _ := openTestDB(t)
	if err := db.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := NewID(PrefixSession)
		rest, ok := strings.CutPrefix(id, PrefixSession)
		if !ok || len(rest) < 20 {
			t.Fatalf("NewID = %q, want %s + 20 or more characters", id, PrefixSession)
		}
		if strings.Trim(rest, "abcdefghijklmnopqrstuvwxyz234567") != "" {
			t.Fatalf("NewID = %q has characters outside lowercase base32", id)
		}
		if seen[id] {
			t.Fatalf("NewID repeated %q", id)
		}
		seen[id] = true
	}
}

func TestValidationErrorMessage(t *testing.T) {
	err := error(&ValidationError{Field: "name", Message: "is required"})
	if got, want := err.Error(), "models: name: is required"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestRoleValid(t *testing.T) {
	for _, tc := range []struct {
		role Role
		want bool
	}{
		{RoleOwner, true}, {RoleAdmin, true}, {RoleAuditor, true},
		{"operator", false}, {"", false}, {"Owner", false},
	} {
		if got := tc.role.Valid(); got != tc.want {
			t.Errorf("Role(%q).Valid() = %v, want %v", tc.role, got, tc.want)
		}
	}
}
