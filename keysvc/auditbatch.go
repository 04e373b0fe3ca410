package keysvc

import (
	"context"

	"keyport/models"
)

// auditBatcher group-commits audit events from concurrent callers: whoever
// arrives while a commit is running joins the next one. Each caller waits
// for the commit holding its event, so an operation that must be audited
// still fails closed when the write fails.
type auditBatcher struct {
	db  *models.DB
	in  chan auditReq
	max int
}

type auditReq struct {
	ev   models.AuditInput
	done chan error
}

func newAuditBatcher(db *models.DB) *auditBatcher {
	b := &auditBatcher{db: db, in: make(chan auditReq, 1024), max: 256}
	go b.loop()
	return b
}

// pendingAudit is an event handed to the batcher, not yet known committed.
type pendingAudit struct {
	done chan error
	err  error // set when the event never reached the batcher
}

// start hands ev to the batcher and returns at once, so the caller can do
// other work (a KMS call) while the event is committed; wait before
// relying on it.
func (b *auditBatcher) start(ctx context.Context, ev models.AuditInput) pendingAudit {
	req := auditReq{ev: ev, done: make(chan error, 1)}
	select {
	case b.in <- req:
		return pendingAudit{done: req.done}
	case <-ctx.Done():
		return pendingAudit{err: ctx.Err()}
	}
}

// wait returns once the event is committed (or failed).
func (p pendingAudit) wait(ctx context.Context) error {
	if p.err != nil {
		return p.err
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		// The event may still be committed; the caller gives up on the
		// operation either way, which errs on the safe side.
		return ctx.Err()
	}
}

// loop runs for the life of the process: the batcher is shared by every
// request of the service.
func (b *auditBatcher) loop() {
	for first := range b.in {
		batch := gather(first, b.in, b.max)
		evs := make([]models.AuditInput, len(batch))
		for i, r := range batch {
			evs[i] = r.ev
		}
		err := b.db.AppendAuditBatch(context.Background(), evs)
		for _, r := range batch {
			r.done <- err
		}
	}
}

// gather is first and whatever else already waits on in, up to max in all:
// the next batch of a group commit (or group read).
func gather[T any](first T, in <-chan T, max int) []T {
	batch := []T{first}
	for len(batch) < max {
		select {
		case r := <-in:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}
