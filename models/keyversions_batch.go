package models

import (
	"context"
	"errors"
	"fmt"
	"strings"
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

// flush commits batches until none is waiting. A batch holds one write
// per key: a second write of a key waits for the next batch, where it
// compares against the first one's version as it would have after its
// commit.
func (b *versionBatcher) flush(ctx context.Context, db *DB) {
	for {
		b.mu.Lock()
		if len(b.pending) == 0 {
			b.running = false
			b.mu.Unlock()
			return
		}
		var batch, rest []*versionWrite
		seen := map[string]bool{}
		for _, w := range b.pending {
			if len(batch) < maxVersionBatch && !seen[w.keyID] {
				seen[w.keyID] = true
				batch = append(batch, w)
			} else {
				rest = append(rest, w)
			}
		}
		b.pending = rest
		b.mu.Unlock()
		db.addVersions(ctx, batch)
	}
}

// addVersions commits batch in one transaction of a fixed number of
// statements, whatever its size, and answers each write. If the
// transaction fails as a whole, each write is tried again on its own, so
// that one bad write cannot fail the others.
func (db *DB) addVersions(ctx context.Context, batch []*versionWrite) {
	if len(batch) == 1 && !db.isPostgres() {
		// PostgreSQL takes a batch of one as it takes any batch: in
		// fewer round trips under the locks than a change of its own.
		batch[0].done <- db.addDataKeyVersionAlone(ctx, batch[0])
		return
	}
	results := make([]error, len(batch))
	err := db.g.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		clear(results)
		if db.isPostgres() {
			return db.addVersionsPostgresTx(tx, batch, results)
		}
		rev, err := nextRevisionNotified(tx)
		if err != nil {
			return err
		}
		now := db.now()
		// Every key moves to its new version only if it is still on the
		// one before: one UPDATE, which reports the keys it moved.
		var cond strings.Builder
		args := []any{now, rev}
		for i, w := range batch {
			if i > 0 {
				cond.WriteString(" OR ")
			}
			cond.WriteString("(tenant_id = ? AND id = ? AND current_version = ?)")
			args = append(args, w.tenantID, w.keyID, w.v.Version-1)
		}
		var moved []string
		if err := tx.Raw("UPDATE keys SET current_version = current_version + 1, updated_at = ?, revision = ? WHERE "+cond.String()+
			" RETURNING id", args...).Scan(&moved).Error; err != nil {
			return err
		}
		ok := map[string]bool{}
		for _, id := range moved {
			ok[id] = true
		}
		var versions []DataKeyVersion
		var wraps []DataKeyWrap
		var audits []AuditInput
		for i, w := range batch {
			if !ok[w.keyID] {
				results[i] = lostWrite(tx, w)
				continue
			}
			w.v.KeyID, w.v.CreatedAt = w.keyID, now
			versions = append(versions, *w.v)
			for j := range w.wraps {
				w.wraps[j].KeyID, w.wraps[j].Version = w.keyID, w.v.Version
			}
			wraps = append(wraps, w.wraps...)
			audits = append(audits, w.audit)
		}
		if len(audits) == 0 {
			return nil
		}
		if err := tx.Table("data_key_versions").Create(&versions).Error; err != nil {
			return err
		}
		if err := tx.Table("data_key_wraps").Create(&wraps).Error; err != nil {
			return err
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

// nextRevisionNotified is nextRevision in one statement on PostgreSQL
// (the counter's update and the NOTIFY together): the counter stays locked
// from this statement to the commit, so every round trip after it is one
// that every other change waits for.
func nextRevisionNotified(tx *gorm.DB) (int64, error) {
	if tx.Dialector.Name() != dialectPostgres {
		return nextRevision(tx)
	}
	var row struct{ Revision int64 }
	err := tx.Raw(`WITH r AS (UPDATE change_counter SET revision = revision + 1 WHERE id = 1 RETURNING revision)
		SELECT revision, pg_notify(?, revision::text) FROM r`, changesChannel).Scan(&row).Error
	if err == nil && row.Revision == 0 {
		err = errors.New("change counter: no row")
	}
	return row.Revision, err
}

// addVersionsPostgresTx is the batch's transaction on PostgreSQL, in four
// round trips and the commit: every one of them after the change counter
// is taken is one that every other change of every replica waits for
// (the counter and the audit lock are held to the commit), so the
// counter, the keys' compare-and-set, the versions, their wraps, the
// notification and the audit lock are one statement; then the audit
// heads (read in a statement of their own, so that its snapshot postdates
// the lock), the events, and their webhooks.
//
// Locks are taken in the order every other change takes them: the
// counter (the keys' new revision reads it), then the keys' rows, then
// the audit lock, which the final SELECT takes only after the aggregate
// over moved has run the keys' UPDATE to its end. The versions and wraps
// are inserted only for the keys that moved (a key that lost its race
// gets none), and their foreign keys are checked at the statement's end.
func (db *DB) addVersionsPostgresTx(tx *gorm.DB, batch []*versionWrite, results []error) error {
	now := db.now()
	var q strings.Builder
	args := []any{now}
	q.WriteString(`WITH r AS (UPDATE change_counter SET revision = revision + 1 WHERE id = 1 RETURNING revision),
moved AS (UPDATE keys AS k SET current_version = k.current_version + 1, updated_at = ?, revision = (SELECT revision FROM r)
	FROM (VALUES `)
	for i, w := range batch {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(?::text, ?::text, ?::bigint)")
		args = append(args, w.tenantID, w.keyID, w.v.Version-1)
	}
	q.WriteString(`) AS c (tenant_id, id, version)
	WHERE k.tenant_id = c.tenant_id AND k.id = c.id AND k.current_version = c.version RETURNING k.id),
v AS (INSERT INTO data_key_versions (key_id, version, reason, created_by, created_at, messages_reserved, encrypts, decrypts,
	last_used_at, last_decrypt_at)
	SELECT x.* FROM (VALUES `)
	for i, w := range batch {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(?::text, ?::bigint, ?::text, ?::text, ?::timestamptz, ?::bigint, ?::bigint, ?::bigint, ?::timestamptz, ?::timestamptz)")
		args = append(args, w.keyID, w.v.Version, w.v.Reason, w.v.CreatedBy, now, w.v.MessagesReserved, w.v.Encrypts, w.v.Decrypts,
			tsPtr(w.v.LastUsedAt), tsPtr(w.v.LastDecryptAt))
	}
	q.WriteString(`) AS x (key_id, version, reason, created_by, created_at, messages_reserved, encrypts, decrypts, last_used_at, last_decrypt_at)
	WHERE x.key_id IN (SELECT id FROM moved)),
w AS (INSERT INTO data_key_wraps (key_id, version, region, kms_key_arn, ciphertext, no_context)
	SELECT x.* FROM (VALUES `)
	n := 0
	for _, w := range batch {
		for _, wr := range w.wraps {
			if n > 0 {
				q.WriteString(", ")
			}
			n++
			q.WriteString("(?::text, ?::bigint, ?::text, ?::text, ?::bytea, ?::boolean)")
			args = append(args, w.keyID, w.v.Version, wr.Region, wr.KMSKeyARN, wr.Ciphertext, wr.NoContext)
		}
	}
	q.WriteString(`) AS x (key_id, version, region, kms_key_arn, ciphertext, no_context)
	WHERE x.key_id IN (SELECT id FROM moved))
SELECT m.ids, r.revision, pg_notify(?, r.revision::text)::text AS notified,
	pg_advisory_xact_lock(hashtext(?), hashtext(current_schema()))::text AS locked
FROM r, (SELECT coalesce(string_agg(id, ','), '') AS ids FROM moved) AS m`)
	args = append(args, changesChannel, "keyport.audit")
	var row struct {
		IDs      string `gorm:"column:ids"`
		Revision int64
	}
	if err := tx.Raw(q.String(), args...).Scan(&row).Error; err != nil {
		return err
	}
	if row.Revision == 0 {
		return errors.New("change counter: no row")
	}
	ok := map[string]bool{}
	for id := range strings.SplitSeq(row.IDs, ",") {
		ok[id] = true
	}
	var audits []AuditInput
	for i, w := range batch {
		if !ok[w.keyID] {
			results[i] = lostWrite(tx, w)
			continue
		}
		w.v.KeyID, w.v.CreatedAt = w.keyID, now
		for j := range w.wraps {
			w.wraps[j].KeyID, w.wraps[j].Version = w.keyID, w.v.Version
		}
		audits = append(audits, w.audit)
	}
	if len(audits) == 0 {
		return nil
	}
	_, err := db.appendAuditEventsLockTx(tx, audits, true)
	return err
}

// lostWrite is the result of a write whose key did not move to its
// version: the key's own error when it cannot be read (gone, say), else
// ErrConflict (another rotation got there first).
func lostWrite(tx *gorm.DB, w *versionWrite) error {
	if _, err := getKeyTx(tx, w.tenantID, w.keyID); err != nil {
		return err
	}
	return ErrConflict
}
