package models

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
)

// Dialect names as gorm reports them.
const (
	dialectSQLite   = "sqlite"
	dialectPostgres = "postgres"
)

// IsPostgresURL reports whether dsn names a PostgreSQL server
// (postgres:// or postgresql://) rather than a SQLite file.
func IsPostgresURL(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// postgresDialector checks a postgres:// URL and adds the session settings
// keyport relies on. Timestamps are stored as timestamptz and compared as
// instants, so the session zone only matters for text output; UTC keeps
// logs and psql sessions readable the same way on every replica. The
// driver reads timestamptz back in UTC, as SQLite does, instead of in the
// process's local zone, so no query has to remember to convert.
func postgresDialector(dsn string) (gorm.Dialector, error) {
	u, err := url.Parse(dsn)
	if err != nil || u.Host == "" && u.Query().Get("host") == "" {
		// url.Parse errors quote the whole URL, password included.
		return nil, &ValidationError{Field: "dsn", Message: "is not a valid postgres:// URL (postgres://user:password@host:5432/database?sslmode=...)"}
	}
	q := u.Query()
	if q.Get("application_name") == "" {
		q.Set("application_name", "keyport")
	}
	if q.Get("timezone") == "" {
		q.Set("timezone", "UTC")
	}
	// Tenants differ in size by orders of magnitude (ten keys beside ten
	// thousand), so a cached statement's generic plan, costed for the
	// average tenant, is wrong for the big one: the keys list's filter
	// choices sorted every key of a 10,000-key tenant instead of reading
	// 101 off the name index. Every execution is planned for its own
	// tenant id instead; planning these statements takes well under a
	// millisecond.
	if q.Get("plan_cache_mode") == "" {
		q.Set("plan_cache_mode", "force_custom_plan")
	}
	u.RawQuery = q.Encode()
	cfg, err := pgx.ParseConfig(u.String()) // its errors redact the password
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	pool := stdlib.OpenDB(*cfg, stdlib.OptionAfterConnect(func(_ context.Context, c *pgx.Conn) error {
		c.TypeMap().RegisterType(&pgtype.Type{Name: "timestamptz", OID: pgtype.TimestamptzOID,
			Codec: &pgtype.TimestamptzCodec{ScanLocation: time.UTC}})
		return nil
	}))
	return postgres.New(postgres.Config{Conn: pool}), nil
}

// configurePostgresPool sizes the pool for a server that, unlike SQLite,
// runs transactions side by side. Connections are recycled now and then so
// a replica follows a failover or a pgbouncer restart without a restart of
// its own. Idle connections are kept up to the pool's size: with fewer,
// a busy replica (its job workers and requests together above the idle
// bound) closed a connection after nearly every statement and opened a
// new one for the next, and PostgreSQL forks a backend for each;
// ConnMaxIdleTime still returns them when the load goes.
func configurePostgresPool(sqlDB *sql.DB) {
	sqlDB.SetMaxOpenConns(20)
	sqlDB.SetMaxIdleConns(20)
	sqlDB.SetConnMaxLifetime(30 * time.Minute)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
}

// isPostgres reports whether the store runs on PostgreSQL.
func (db *DB) isPostgres() bool {
	return db.g.Dialector.Name() == dialectPostgres
}

// xactLock serializes, on PostgreSQL, every transaction that takes the lock
// called name until it commits or rolls back. SQLite needs nothing: its
// transactions take the database write lock at BEGIN (_txlock=immediate).
// The lock is keyed by the current schema as well, so databases that share
// a server in separate schemas (the tests do) do not wait for each other.
func (db *DB) xactLock(tx *gorm.DB, name string) error {
	if !db.isPostgres() {
		return nil
	}
	return tx.Exec("SELECT pg_advisory_xact_lock(hashtext(?), hashtext(current_schema()))", "keyport."+name).Error
}
