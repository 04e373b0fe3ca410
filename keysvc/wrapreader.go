package keysvc

import (
	"context"
	"sync"
	"time"

	"keyport/models"
)

// wrapReader reads the wrapped data keys of cache misses. After a restart
// many requests miss at once; with SQLite's single connection their reads
// would queue one behind another before any KMS call could start. Instead,
// whoever asks while a read is running joins the next one, which fetches
// every waiting version in a single query (as auditBatcher does for writes).
//
// A restarted replica also reads ahead: Warm preloads the wraps of every
// key's current data-key version, so the misses of the first requests make
// no database read at all. Each preloaded entry is used once and dropped
// (the data key is cached from then on), and whatever the first minutes of
// traffic did not ask for is dropped with it (dropStale), so the read-ahead
// costs memory only while a restart's first requests come in.
type wrapReader struct {
	db  *models.DB
	now func() time.Time
	in  chan wrapReq
	max int

	mu         sync.Mutex
	ahead      map[models.WrapRef][]models.DataKeyWrap
	aheadUntil time.Time
}

// readAheadFor is how long read-ahead wraps are kept for the first misses.
const readAheadFor = 10 * time.Minute

type wrapReq struct {
	ref  models.WrapRef
	done chan wrapResult
}

type wrapResult struct {
	wraps []models.DataKeyWrap
	err   error
}

func newWrapReader(db *models.DB, now func() time.Time) *wrapReader {
	r := &wrapReader{db: db, now: now, in: make(chan wrapReq, 1024), max: 256}
	go r.loop()
	return r
}

// read returns the wraps of one data-key version, primary region first;
// models.ErrNotFound when the tenant's key has no such version.
func (r *wrapReader) read(ctx context.Context, ref models.WrapRef) ([]models.DataKeyWrap, error) {
	r.mu.Lock()
	r.dropStaleLocked()
	ws, ok := r.ahead[ref]
	if ok {
		delete(r.ahead, ref)
	}
	r.mu.Unlock()
	if ok {
		return ws, nil
	}
	req := wrapReq{ref: ref, done: make(chan wrapResult, 1)}
	select {
	case r.in <- req:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case res := <-req.done:
		return res.wraps, res.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// readAhead preloads the wraps of refs (at most limit of them), in
// chunks of one query each.
func (r *wrapReader) readAhead(ctx context.Context, refs []models.WrapRef, limit int) error {
	refs = refs[:min(len(refs), limit)]
	const chunk = 500
	for len(refs) > 0 {
		n := min(len(refs), chunk)
		found, err := r.db.DataKeyWrapsMany(ctx, refs[:n])
		if err != nil {
			return err
		}
		r.mu.Lock()
		if r.ahead == nil {
			r.ahead = make(map[models.WrapRef][]models.DataKeyWrap, len(found))
		}
		r.aheadUntil = r.now().Add(readAheadFor)
		for ref, ws := range found {
			r.ahead[ref] = ws
		}
		r.mu.Unlock()
		refs = refs[n:]
	}
	return nil
}

// primaryRef names a read-ahead data-key version and the region of its
// primary wrap.
type primaryRef struct {
	TenantID, KeyID, Region string
}

// aheadPrimaries lists the read-ahead versions with their primary region.
func (r *wrapReader) aheadPrimaries() []primaryRef {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]primaryRef, 0, len(r.ahead))
	for ref, ws := range r.ahead {
		if len(ws) > 0 {
			out = append(out, primaryRef{ref.TenantID, ref.KeyID, ws[0].Region})
		}
	}
	return out
}

// dropStale drops the read-ahead wraps once their time is over.
func (r *wrapReader) dropStale() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dropStaleLocked()
}

func (r *wrapReader) dropStaleLocked() {
	if r.ahead != nil && !r.now().Before(r.aheadUntil) {
		r.ahead = nil
	}
}

// loop runs for the life of the process, like the audit batcher.
func (r *wrapReader) loop() {
	for first := range r.in {
		batch := gather(first, r.in, r.max)
		refs := make([]models.WrapRef, len(batch))
		for i, q := range batch {
			refs[i] = q.ref
		}
		found, err := r.db.DataKeyWrapsMany(context.Background(), refs)
		for _, q := range batch {
			switch ws, ok := found[q.ref]; {
			case err != nil:
				q.done <- wrapResult{err: err}
			case !ok:
				q.done <- wrapResult{err: models.ErrNotFound}
			default:
				q.done <- wrapResult{wraps: ws}
			}
		}
	}
}
