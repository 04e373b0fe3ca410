// Package models is keyport's store: the gorm models, the typed key states
// (KeyState, Health, Mode), the one ordered migration list (migrate.go) and
// the queries over them, one file per entity. Every method on a tenant's data
// takes the tenant id and filters on it; the few that work across tenants by
// design (job runner, outbox, sweeps, the operator's views) say so. Audited
// writes go through one helper (change.go): the change, its revision and its
// audit event commit together.
//
// It is the only package that talks SQL. It imports gorm, its SQLite and
// PostgreSQL drivers, and its own sub-package pglisten (LISTEN/NOTIFY over
// pgx); nothing else of keyport: it knows nothing of HTTP, pages or KMS, and it never sees secret plaintext
// (sealed secrets are opaque blobs sealed by keysvc).
package models

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
)

// DB is keyport's store.
type DB struct {
	g      *gorm.DB
	rd     *gorm.DB // reads outside transactions: a read-only pool beside SQLite's one writer; g itself on PostgreSQL
	logger *slog.Logger

	verifyPage int // rows per page in VerifyAudit; tests lower it to cross pages cheaply

	mu       sync.RWMutex // guards nowFn and auditKey, which tests and startup set late
	nowFn    func() time.Time
	auditKey []byte

	versions versionBatcher // commits concurrent AddDataKeyVersion calls together
}

// sqliteParams are forced on every SQLite connection. WAL lets readers run
// beside the writer; _txlock=immediate makes every transaction take the write
// lock at BEGIN, so a read-then-write transaction (audit append, migrations)
// cannot fail half way with SQLITE_BUSY on lock upgrade.
var sqliteParams = map[string]string{
	"_journal_mode": "WAL",
	"_foreign_keys": "on",
	"_busy_timeout": "5000",
	"_synchronous":  "NORMAL",
	"_txlock":       "immediate",
}

// sqliteReaderParams are forced on the read-only pool's connections: WAL
// (set by the writer, kept in the file) lets them read the last committed
// state while the writer writes; query_only refuses any write, and their
// transactions, if any, take no write lock.
var sqliteReaderParams = map[string]string{
	"_busy_timeout": "5000",
	"_query_only":   "true",
	"_txlock":       "deferred",
}

// sqliteReaders is how many connections the read-only pool keeps: the
// portal's pages read in parallel while writes keep the single writer.
const sqliteReaders = 4

// Open opens the database and checks that it answers: a PostgreSQL server
// when dsn is a postgres:// (or postgresql://) URL, otherwise the SQLite
// database at dsn, a file path or a "file:" URI, created if needed. Call
// Migrate before use.
func Open(ctx context.Context, dsn string, logger *slog.Logger) (*DB, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var dialector, readDialector gorm.Dialector
	if IsPostgresURL(dsn) {
		d, err := postgresDialector(dsn)
		if err != nil {
			return nil, err
		}
		dialector = d
	} else {
		full, err := sqliteDSN(dsn, sqliteParams)
		if err != nil {
			return nil, err
		}
		dialector = sqlite.Open(full)
		if !sqliteInMemory(dsn) {
			ro, err := sqliteDSN(dsn, sqliteReaderParams)
			if err != nil {
				return nil, err
			}
			readDialector = sqlite.Open(ro)
		}
	}
	db := &DB{logger: logger, nowFn: time.Now, verifyPage: verifyPageSize}
	config := func() *gorm.Config {
		return &gorm.Config{
			Logger:                 newGormLogger(logger),
			TranslateError:         true,
			SkipDefaultTransaction: true, // single statements need no wrapping transaction
			NowFunc:                db.now,
		}
	}
	g, err := gorm.Open(dialector, config())
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	sqlDB, err := g.DB()
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	db.g, db.rd = g, g
	if db.isPostgres() {
		configurePostgresPool(sqlDB)
	} else {
		// One connection = one writer. SQLite serializes writers anyway;
		// doing it in the pool avoids busy waits and keeps ":memory:"
		// databases on one handle.
		sqlDB.SetMaxOpenConns(1)
		sqlDB.SetMaxIdleConns(1)
		sqlDB.SetConnMaxLifetime(0)
		sqlDB.SetConnMaxIdleTime(0)
	}
	if err := db.Ping(ctx); err != nil {
		_ = sqlDB.Close()
		return nil, err
	}
	if readDialector != nil {
		// Opened after the writer has put the file in WAL mode.
		r, err := gorm.Open(readDialector, config())
		if err == nil {
			err = pingReader(ctx, r)
		}
		if err != nil {
			_ = sqlDB.Close()
			return nil, fmt.Errorf("open database readers: %w", err)
		}
		db.rd = r
	}
	return db, nil
}

// pingReader sizes the read-only pool and checks that it answers.
func pingReader(ctx context.Context, r *gorm.DB) error {
	rdb, err := r.DB()
	if err != nil {
		return err
	}
	rdb.SetMaxOpenConns(sqliteReaders)
	rdb.SetMaxIdleConns(sqliteReaders)
	rdb.SetConnMaxLifetime(0)
	rdb.SetConnMaxIdleTime(0)
	if err := rdb.PingContext(ctx); err != nil {
		_ = rdb.Close()
		return err
	}
	return nil
}

// resetReaders closes the read-only pool's idle connections, so the next
// reads open fresh ones. A SQLite connection that loaded the schema before
// a migration changed a table expands "SELECT *" with the old columns on
// its next statement (the driver reads the names before the statement
// notices the change); Migrate calls this when it is done.
func (db *DB) resetReaders() {
	if db.rd == db.g {
		return
	}
	if rdb, err := db.rd.DB(); err == nil {
		rdb.SetMaxIdleConns(0) // closes the idle connections
		rdb.SetMaxIdleConns(sqliteReaders)
	}
}

// sqliteInMemory reports whether a SQLite dsn names an in-memory
// database, which a second pool could not see (each connection would get
// its own): such a store reads through its one writer connection.
func sqliteInMemory(dsn string) bool {
	base, query, _ := strings.Cut(dsn, "?")
	if base == ":memory:" || base == "" || strings.HasPrefix(base, "file::memory:") || base == "file::memory" {
		return true
	}
	q, _ := url.ParseQuery(query)
	return q.Get("mode") == "memory"
}

// reader is the handle for reads of committed data outside a
// transaction: on SQLite a pool of read-only connections that run beside
// the single writer (WAL), so pages do not queue behind each other or
// behind writes. A read that must see a transaction's own writes uses
// that transaction instead.
func (db *DB) reader(ctx context.Context) *gorm.DB {
	return db.rd.WithContext(ctx)
}

// sqliteDSN adds sqliteParams to a path or "file:" URI, overriding any value
// the caller gave for them.
func sqliteDSN(dsn string, params map[string]string) (string, error) {
	if dsn == "" {
		return "", &ValidationError{Field: "dsn", Message: "is empty"}
	}
	if strings.Contains(dsn, "://") && !strings.HasPrefix(dsn, "file:") {
		// A mysql:// URL would otherwise become a strangely named SQLite file.
		return "", &ValidationError{Field: "dsn", Message: "give a SQLite file path, a file: URI or a postgres:// URL"}
	}
	base, rawQuery, hasQuery := strings.Cut(dsn, "?")
	if hasQuery && !strings.HasPrefix(dsn, "file:") {
		// The driver would silently drop everything after '?' from a plain path.
		return "", &ValidationError{Field: "dsn", Message: "a plain path cannot contain '?'; use a file: URI for options"}
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", &ValidationError{Field: "dsn", Message: "has an invalid query string"}
	}
	for k, v := range params {
		q.Set(k, v)
	}
	return base + "?" + q.Encode(), nil
}

// Close closes the database.
func (db *DB) Close() error {
	sqlDB, err := db.g.DB()
	if err != nil {
		return fmt.Errorf("close database: %w", err)
	}
	err = sqlDB.Close()
	if db.rd != db.g {
		if rdb, rerr := db.rd.DB(); rerr == nil {
			err = errors.Join(err, rdb.Close())
		}
	}
	if err != nil {
		return fmt.Errorf("close database: %w", err)
	}
	return nil
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	sqlDB, err := db.g.DB()
	if err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// SetNow replaces the clock the store uses for timestamps and expiry checks.
// Tests inject a fixed clock; nil restores time.Now.
func (db *DB) SetNow(now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	db.nowFn = now
}

// now is the store's clock, in UTC and truncated to microseconds: PostgreSQL
// keeps microseconds only, and audit hashes cover timestamps, so a value must
// read back exactly as it was hashed on every backend.
func (db *DB) now() time.Time {
	db.mu.RLock()
	fn := db.nowFn
	db.mu.RUnlock()
	return ts(fn())
}

// ts normalizes a time for storage. SQLite compares timestamps as text, which is
// only correct when every stored value has the same zone.
func ts(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

// tsPtr is ts for optional times.
func tsPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := ts(*t)
	return &v
}

// mapErr turns driver errors into the store's sentinel errors.
func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gorm.ErrRecordNotFound):
		return ErrNotFound
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return ErrConflict
	default:
		return err
	}
}

// oneRow checks a statement meant to touch one row: its error, or
// ErrNotFound when it touched none (a missing row or another tenant's).
func oneRow(res *gorm.DB) error {
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}
