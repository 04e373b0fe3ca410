package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"keyport/models"
)

const backupUsage = "usage: keyport backup PATH   (a new file; an existing one is never overwritten)"

// backupCommand runs "keyport backup PATH": a consistent snapshot of the
// SQLite database, taken while keyport keeps serving, checked with
// PRAGMA integrity_check. It needs the database only, not the KEK: the
// snapshot holds the secrets sealed, as the database does.
func backupCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) != 1 || args[0] == "" || args[0][0] == '-' {
		return badUsage("backup", backupUsage)
	}
	cfg, err := loadCommandConfig(getenv)
	if err != nil {
		return err
	}
	if models.IsPostgresURL(cfg.DatabaseURL) {
		fmt.Fprintln(stdout, "KEYPORT_DATABASE_URL is PostgreSQL: back it up with pg_dump (pg_dump --format=custom --file=keyport.dump \"$KEYPORT_DATABASE_URL\"); see docs/operations.md")
		return errors.New("keyport backup works on SQLite only")
	}
	target, err := filepath.Abs(args[0])
	if err != nil {
		return fmt.Errorf("backup path: %w", err)
	}
	if _, err := os.Lstat(target); err == nil {
		return fmt.Errorf("%s already exists: a backup never overwrites a file; choose a new name", target)
	}
	if _, err := os.Stat(cfg.DatabaseURL); err != nil {
		return &configError{"KEYPORT_DATABASE_URL", "no database at " + cfg.DatabaseURL + ": " + describeFileError(err)}
	}
	db, err := models.Open(ctx, cfg.DatabaseURL, newLogger(cfg, io.Discard))
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer db.Close()
	if err := db.BackupSQLite(ctx, target); err != nil {
		return err
	}
	result, tables, err := models.CheckSQLiteFile(ctx, target)
	if err != nil {
		return err
	}
	if result != "ok" {
		return fmt.Errorf("the backup at %s failed its integrity check: %s", target, result)
	}
	fi, err := os.Stat(target)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	_, err = fmt.Fprintf(stdout, "backup written to %s (%d bytes, %d tables, integrity ok)\n", target, fi.Size(), tables)
	return err
}
