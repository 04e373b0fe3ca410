// Package pglisten keeps a PostgreSQL LISTEN open on one connection of a
// database/sql pool (the pgx driver) and calls back on every notification,
// reconnecting with backoff when the connection is lost. It is the store's
// way of hearing other replicas' commits; it knows nothing of keyport's
// tables.
//
// It imports only pgx.
package pglisten

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
)

// Watch listens on channel until ctx ends, calling wake on every
// notification and after every (re)connect, since notifications sent while
// nobody listened are lost. lost hears each connection failure before the
// next attempt; attempts back off from 100 ms to 5 s.
func Watch(ctx context.Context, db *sql.DB, channel string, wake func(), lost func(error)) {
	backoff := 100 * time.Millisecond
	for {
		err := listen(ctx, db, channel, wake)
		if ctx.Err() != nil {
			return
		}
		lost(err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// listen holds one pooled connection in LISTEN until it fails or ctx ends.
func listen(ctx context.Context, db *sql.DB, channel string, wake func()) error {
	c, err := db.Conn(ctx)
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
		if _, err := pc.Exec(ctx, "LISTEN "+channel); err != nil {
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
