package models

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"gorm.io/gorm"
)

// maxVersionBatch bounds how many new data-key versions commit in one
// transaction.
const maxVersionBatch = 64

// versionWrite is one AddDataKeyVersion call waiting for its commit.
type versionWrite struct {
	tenantID, keyID string
	v               *DataKeyVersion
	wraps           []DataKeyWrap
	audit           AuditInput
	done            chan error
}

// versionBatcher commits the new data-key versions of concurrent
// rotations in one transaction, as a database's group commit does for its
// log. A new version takes the provider-wide change counter and the audit
// chain's lock, both held until commit, so one version per transaction
// makes every rotation of every replica wait in one line for a handful of
// round trips and a log flush each; many scheduled rotations at once
// (10,000 keys due the same day) then run at that line's pace whatever the
// number of workers. A batch holds the locks once for all of its versions.
// Each key's version is still compared and set on its own: a write that
// lost its race gets ErrConflict and the rest of its batch commits.
type versionBatcher struct {
	mu      sync.Mutex
	pending []*versionWrite
	running bool // a flush goroutine is at work
}

// add queues w and waits for the transaction that commits it. The first
// write that finds no flush running starts one; writes that arrive while a
// transaction is open ride in the next.
func (b *versionBatcher) add(ctx context.Context, db *DB, w *versionWrite) error {
	w.done = make(chan error, 1)
	b.mu.Lock()
	b.pending = append(b.pending, w)
	start := !b.running
	b.running = true
	b.mu.Unlock()
	if start {
		// Not the caller's context: the batch carries other callers' writes.
		go b.flush(context.WithoutCancel(ctx), db)
	}
	return <-w.done
}

// flush commits batches until none is waiting.
func (b *versionBatcher) flush(ctx context.Context, db *DB) {
	for {
		b.mu.Lock()
		n := min(len(b.pending), maxVersionBatch)
		if n == 0 {
			b.running = false
			b.mu.Unlock()
			return
		}
		batch := b.pending[:n:n]
		b.pending = b.pending[n:]
		b.mu.Unlock()
		db.addVersions(ctx, batch)
	}
}

// addVersions commits batch in one transaction and answers each write. If
// the transaction fails as a whole, each write is tried again on its own,
// so that one bad write cannot fail the others.
func (db *DB) addVersions(ctx context.Context, batch []*versionWrite) {
	if len(batch) == 1 {
		batch[0].done <- db.addDataKeyVersionAlone(ctx, batch[0])
		return
	}
	results := make([]error, len(batch))
	err := db.g.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		clear(results)
		rev, err := nextRevision(tx)
		if err != nil {
			return err
		}
		now := db.now()
		var audits []AuditInput
		for i, w := range batch {
			// One write per key per batch: a second write of the same key
			// compares against the first's version, as it would have
			// after its commit.
			err := addVersionTx(tx, w, rev, now)
			switch {
			case errors.Is(err, ErrConflict), errors.Is(err, gorm.ErrRecordNotFound):
				results[i] = err
			case err != nil:
				return err
			default:
				audits = append(audits, w.audit)
			}
		}
		if len(audits) == 0 {
			return nil
		}
		_, err = db.appendAuditEventsTx(tx, audits)
		return err
	})
	if err != nil {
		for _, w := range batch {
			w.done <- db.addDataKeyVersionAlone(ctx, w)
		}
		return
	}
	for i, w := range batch {
		if results[i] != nil {
			results[i] = fmt.Errorf("add data key version: %w", mapErr(results[i]))
		}
		w.done <- results[i]
	}
}
