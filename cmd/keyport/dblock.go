package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"keyport/models"
)

// lockSQLite makes sure only one keyport server uses a SQLite database: it
// holds an exclusive flock on DATABASE.lock, next to the database, for the
// life of the process. SQLite itself would let a second server open the
// file, and the two would then each trust their own in-memory key and token
// tables and run the same jobs; several replicas need PostgreSQL. The
// kernel drops the lock when the process ends, however it ends (kill -9
// included), so a crash never leaves a stale lock behind. The pid written
// into the file only serves the error message.
//
// One-shot commands (migrate, audit verify, token, backup) do not take the
// lock: they are meant to run beside the server.
func lockSQLite(dsn string, createDir bool) (release func(), err error) {
	path, ok := sqliteFile(dsn)
	if !ok {
		return func() {}, nil
	}
	if createDir {
		// keyport dev creates its data directory; the lock comes first.
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, &configError{"KEYPORT_DATA_DIR", "cannot create " + filepath.Dir(path) + ": " + describeFileError(err)}
		}
	}
	lockPath := path + ".lock"
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, &configError{"KEYPORT_DATABASE_URL", "cannot create lock file " + lockPath + ": " + describeFileError(err)}
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		other := "another keyport process"
		if b, rerr := io.ReadAll(io.LimitReader(f, 32)); rerr == nil {
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil && pid > 0 {
				other = fmt.Sprintf("another keyport process (pid %d)", pid)
			}
		}
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &configError{"KEYPORT_DATABASE_URL", fmt.Sprintf(
				"the SQLite database %s is in use by %s, which holds %s; one SQLite database serves one keyport process: stop the other one, or use PostgreSQL (postgres://...) to run several replicas",
				path, other, lockPath)}
		}
		return nil, &configError{"KEYPORT_DATABASE_URL", "cannot lock " + lockPath + ": " + err.Error()}
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() {
		// Closing the descriptor releases the lock; the file stays, so a
		// starting process never races another one's unlink.
		_ = f.Close()
	}, nil
}

// sqliteFile is the file behind a SQLite DSN (a path or a file: URI), or
// false for PostgreSQL and in-memory databases, which need no lock file.
func sqliteFile(dsn string) (string, bool) {
	if dsn == "" || models.IsPostgresURL(dsn) {
		return "", false
	}
	path, query, _ := strings.Cut(dsn, "?")
	if rest, ok := strings.CutPrefix(path, "file:"); ok {
		path = strings.TrimPrefix(rest, "//")
		if strings.Contains(query, "mode=memory") {
			return "", false
		}
	}
	if path == "" || path == ":memory:" {
		return "", false
	}
	return path, true
}
