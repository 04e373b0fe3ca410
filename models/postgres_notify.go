package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/gorm"
)

// changesChannel is the PostgreSQL NOTIFY channel on which every commit that
// bumps the change counter is announced (payload: the new revision).
const changesChannel = "keyport_changes"

// notifyChange asks PostgreSQL to announce rev to every listener when tx
// commits; a rolled-back change announces nothing. SQLite has no other
// replicas to tell.
func notifyChange(tx *gorm.DB, rev int64) error {
	if tx.Dialector.Name() != dialectPostgres {
		return nil
	}
	return tx.Exec("SELECT pg_notify(?, ?)", changesChannel, strconv.FormatInt(rev, 10)).Error
}

// WatchChanges calls wake each time any process commits a change that
// replicas follow (keys, connections, service tokens: everything that bumps
// the change counter), until ctx ends. It is a hint, not a feed: callers
// still read what changed with KeysChangedSince and friends, and must keep
// polling, because a notification is lost while the listening connection
// is down (wake is called after every reconnect for that reason). On SQLite
// it returns at once: there is only one keyport process.
func (db *DB) WatchChanges(ctx context.Context, wake func()) error {
	if !db.isPostgres() {
		return nil
	}
	sqlDB, err := db.g.DB()
	if err != nil {
		return fmt.Errorf("watch changes: %w", err)
	}
	backoff := 100 * time.Millisecond
	for {
		err := listen(ctx, sqlDB, wake)
		if ctx.Err() != nil {
			return nil
		}
		db.logger.WarnContext(ctx, "listen for changes: connection lost, polling only until it is back", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// listen holds one pooled connection in LISTEN until it fails or ctx ends.
func listen(ctx context.Context, sqlDB *sql.DB, wake func()) error {
	c, err := sqlDB.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Raw(func(driverConn any) error {
		sc, ok := driverConn.(*stdlib.Conn)
		if !ok {
			return errors.New("listen: not a pgx connection")
		}
		pc := sc.Conn()
		if _, err := pc.Exec(ctx, "LISTEN "+changesChannel); err != nil {
			return err
		}
		wake() // changes made while nobody listened
		for {
			if _, err := pc.WaitForNotification(ctx); err != nil {
				// The connection may be mid-protocol; make sure the pool
				// never hands it out again.
				_ = pc.Close(context.Background())
				return err
			}
			wake()
		}
	})
}
