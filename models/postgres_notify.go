package models

import (
	"context"
	"fmt"
	"keyport/models/pglisten"
	"strconv"

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
	pglisten.Watch(ctx, sqlDB, changesChannel, wake, func(err error) {
		db.logger.WarnContext(ctx, "listen for changes: connection lost, polling only until it is back", "err", err)
	})
	return nil
}
