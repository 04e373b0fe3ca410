package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
)

// ErrBackupExists is returned by BackupSQLite when the target path exists:
// a backup never overwrites anything, least of all an earlier backup.
var ErrBackupExists = errors.New("models: backup target already exists")

// BackupSQLite writes a consistent snapshot of the SQLite database to path
// with VACUUM INTO: one read transaction, so writers carry on meanwhile
// and the copy holds exactly the commits before it started. The file is
// created first with mode 0600 (it holds sealed secrets and session
// hashes), and an existing path is refused.
func (db *DB) BackupSQLite(ctx context.Context, path string) error {
	if db.g.Dialector.Name() != dialectSQLite {
		return errors.New("models: backup works on SQLite only; back up PostgreSQL with pg_dump")
	}
	if path == "" {
		return invalid("path", "is empty")
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%w: %s", ErrBackupExists, path)
	}
	if err != nil {
		return fmt.Errorf("create backup file: %w", err)
	}
	f.Close()
	// VACUUM INTO accepts an existing empty file and keeps its mode.
	if err := db.g.WithContext(ctx).Exec("VACUUM INTO ?", path).Error; err != nil {
		os.Remove(path)
		return fmt.Errorf("back up database: %w", err)
	}
	return nil
}

// CheckSQLiteFile opens the SQLite file at path read-only and runs PRAGMA
// integrity_check, returning its answer ("ok" for a sound file) and the
// number of tables. It checks a backup without changing a byte of it.
func CheckSQLiteFile(ctx context.Context, path string) (string, int, error) {
	if _, err := os.Stat(path); err != nil {
		return "", 0, fmt.Errorf("check database file: %w", err)
	}
	// A file: URI, so that mode=ro applies; SQLite percent-decodes its path.
	uri := "file:" + strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path) + "?mode=ro"
	conn, err := sql.Open("sqlite3", uri)
	if err != nil {
		return "", 0, fmt.Errorf("open database file: %w", err)
	}
	defer conn.Close()
	var result string
	if err := conn.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&result); err != nil {
		return "", 0, fmt.Errorf("check database file: %w", err)
	}
	var tables int
	if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'").Scan(&tables); err != nil {
		return "", 0, fmt.Errorf("count tables: %w", err)
	}
	return result, tables, nil
}
