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

// append writes ev and returns once it is committed (or failed).
func (b *auditBatcher) append(ctx context.Context, ev models.AuditInput) error {
	req := auditReq{ev: ev, done: make(chan error, 1)}
	select {
	case b.in <- req:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.done:
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
		batch := []auditReq{first}
	gather:
		for len(batch) < b.max {
			select {
			case r := <-b.in:
				batch = append(batch, r)
			default:
				break gather
			}
		}
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
