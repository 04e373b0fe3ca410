package jobs

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"keyport/models"
)

// JobFunc runs one claimed job. On success it must complete the job itself,
// through a store call that takes the lease, so that the job's effects and
// its completion commit in one fenced transaction. An error schedules a
// retry with backoff (or fails the job at once when it is Permanent).
type JobFunc func(ctx context.Context, j *models.Job, l models.Lease) error

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying: the job fails at once.
func Permanent(err error) error { return &permanentError{err} }

// IsPermanent reports whether err, or an error it wraps, was made by
// Permanent: the job failed for good and is not retried.
func IsPermanent(err error) bool {
	var pe *permanentError
	return errors.As(err, &pe)
}

// WorkerConfig tunes a worker; zero values take the defaults.
type WorkerConfig struct {
	Owner       string        // lease owner name (default host:pid:random)
	LeaseFor    time.Duration // lease length, renewed at a third of it while a job runs (default 1m)
	Poll        time.Duration // how often Run looks for due jobs (default 1s)
	Concurrency int           // jobs run at once (default 4; keyport serve: KEYPORT_JOB_WORKERS)
	BackoffBase time.Duration // first retry delay (default 10s), doubled per attempt
	BackoffMax  time.Duration // retry delay cap (default 1h)
	TickEvery   time.Duration // how often Run calls the tick functions (default 1m)
}

// Worker claims due jobs from the database and runs them. Any number of
// workers, in any number of processes, may share one database: leases and
// fencing tokens make each job's effects happen once.
type Worker struct {
	db    *models.DB
	log   *slog.Logger
	cfg   WorkerConfig
	rand  io.Reader
	kinds map[string]JobFunc
	ticks []func(context.Context)
	wake  chan struct{}
	mu    sync.Mutex
	obs   Observer // nil: none (see SetObserver)
}

// NewWorker builds a worker; register job kinds with Handle before Run.
func NewWorker(db *models.DB, log *slog.Logger, cfg WorkerConfig) *Worker {
	if log == nil {
		log = slog.Default()
	}
	if cfg.Owner == "" {
		host, _ := os.Hostname()
		var b [4]byte
		_, _ = rand.Read(b[:])
		cfg.Owner = fmt.Sprintf("%s:%d:%x", host, os.Getpid(), b)
	}
	if cfg.LeaseFor <= 0 {
		cfg.LeaseFor = time.Minute
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = 10 * time.Second
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = time.Hour
	}
	if cfg.TickEvery <= 0 {
		cfg.TickEvery = time.Minute
	}
	return &Worker{db: db, log: log, cfg: cfg, rand: rand.Reader, kinds: map[string]JobFunc{}, wake: make(chan struct{}, 1)}
}

// Handle registers the function that runs jobs of kind.
func (w *Worker) Handle(kind string, f JobFunc) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.kinds[kind] = f
}

// OnTick registers a function Run calls every TickEvery (the scheduler's
// planning pass). It must be idempotent: every replica runs it.
func (w *Worker) OnTick(f func(context.Context)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ticks = append(w.ticks, f)
}

// Wake makes Run look for jobs now instead of at its next poll.
func (w *Worker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *Worker) handled() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]string, 0, len(w.kinds))
	for k := range w.kinds {
		out = append(out, k)
	}
	return out
}

// Run ticks and runs due jobs until ctx ends.
func (w *Worker) Run(ctx context.Context) {
	var lastTick time.Time
	for ctx.Err() == nil {
		if time.Since(lastTick) >= w.cfg.TickEvery {
			lastTick = time.Now()
			w.Tick(ctx)
		}
		if _, err := w.RunDue(ctx); err != nil && ctx.Err() == nil {
			w.log.Warn("run jobs", "err", err)
		}
		t := time.NewTimer(w.cfg.Poll)
		select {
		case <-ctx.Done():
		case <-t.C:
		case <-w.wake:
		}
		t.Stop()
	}
}

// Tick runs the registered tick functions once.
func (w *Worker) Tick(ctx context.Context) {
	w.mu.Lock()
	ticks := append([]func(context.Context){}, w.ticks...)
	w.mu.Unlock()
	for _, f := range ticks {
		f(ctx)
	}
}

// RunDue claims and runs due jobs, keeping up to Concurrency of them
// running, until none is due, and returns how many it ran. A slot that
// frees is refilled at once (one slow job does not hold up the others, as
// waiting for a whole batch would), and every claim asks for all the free
// slots at once, so a busy worker claims in batches.
func (w *Worker) RunDue(ctx context.Context) (int, error) {
	slots := make(chan struct{}, w.cfg.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	kinds := w.handled()
	ran := 0
	var lastFull time.Time
	for ctx.Err() == nil {
		select { // a free slot, or the end
		case slots <- struct{}{}:
		case <-ctx.Done():
			return ran, ctx.Err()
		}
		free := 1
	more:
		for free < w.cfg.Concurrency {
			select {
			case slots <- struct{}{}:
				free++
			default:
				break more
			}
		}
		claim := w.db.ClaimDueJobs
		if time.Since(lastFull) >= w.cfg.Poll {
			// Now and then (and first) also take over jobs whose worker
			// died; in between, the one-statement claim of due jobs.
			claim, lastFull = w.db.ClaimJobs, time.Now()
		}
		jobs, err := claim(ctx, w.cfg.Owner, free, w.cfg.LeaseFor, kinds...)
		for range free - len(jobs) {
			<-slots
		}
		if err != nil {
			return ran, err
		}
		for i := range jobs {
			wg.Add(1)
			go func(j *models.Job) {
				defer func() { <-slots; wg.Done() }()
				w.run(ctx, j)
			}(&jobs[i])
		}
		ran += len(jobs)
		if len(jobs) < free {
			// Nothing more is due now: let the running jobs finish.
			// They may enqueue due work (mail, the next step), which
			// Run's next poll, or their Wake, picks up.
			wg.Wait()
			if len(jobs) == 0 {
				return ran, nil
			}
		}
	}
	return ran, ctx.Err()
}

// RunJob claims one job by id and runs it now, for a request that wants
// its result; models.ErrLeaseLost means it is not claimable (done, or
// another worker has it). It returns the job as it is afterwards.
func (w *Worker) RunJob(ctx context.Context, id string) (*models.Job, error) {
	j, err := w.db.ClaimJob(ctx, id, w.cfg.Owner, w.cfg.LeaseFor)
	if err != nil {
		return nil, err
	}
	w.run(ctx, j)
	return w.db.GetJob(ctx, id)
}

// run executes one claimed job, renewing its lease while it works. A lost
// lease cancels the job's context: its later writes would fail anyway.
func (w *Worker) run(ctx context.Context, j *models.Job) {
	w.mu.Lock()
	f := w.kinds[j.Kind]
	w.mu.Unlock()
	l := models.Lease{JobID: j.ID, Token: j.LeaseToken}
	if f == nil {
		w.retry(ctx, j, l, Permanent(fmt.Errorf("jobs: no handler for job kind %q", j.Kind)))
		return
	}
	jctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		t := time.NewTicker(w.cfg.LeaseFor / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if err := w.db.RenewLease(ctx, l, w.cfg.LeaseFor); errors.Is(err, models.ErrLeaseLost) {
					w.log.Warn("job lease lost", "job_id", j.ID, "kind", j.Kind)
					cancel()
					return
				}
			}
		}
	}()
	claimed := time.Now()
	err := runSafely(jctx, f, j, l)
	w.observeJob(j, claimed, err)
	if err == nil {
		return
	}
	if errors.Is(err, models.ErrLeaseLost) {
		w.log.Warn("job lease lost; its new holder finishes it", "job_id", j.ID, "kind", j.Kind)
		return
	}
	w.retry(ctx, j, l, err)
}

func runSafely(ctx context.Context, f JobFunc, j *models.Job, l models.Lease) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("jobs: job panicked: %v", r)
		}
	}()
	return f(ctx, j, l)
}

// retry schedules the next attempt after an exponential, jittered delay,
// or fails the job when the error is permanent or attempts are used up.
func (w *Worker) retry(ctx context.Context, j *models.Job, l models.Lease, cause error) {
	var pe *permanentError
	failed, err := w.db.RetryJob(ctx, l, w.Backoff(j.Attempts), cause.Error(), errors.As(cause, &pe))
	if err != nil {
		w.log.Warn("record job failure", "job_id", j.ID, "kind", j.Kind, "err", err)
		return
	}
	w.log.Warn("job attempt failed", "job_id", j.ID, "kind", j.Kind, "attempt", j.Attempts, "failed", failed, "err", cause)
}

// Backoff is the delay before the attempt after attempt n (1-based):
// BackoffBase doubled per attempt, capped at BackoffMax, with full jitter
// in its upper half so that jobs failing together do not retry together.
func (w *Worker) Backoff(n int) time.Duration {
	d := w.cfg.BackoffBase
	for i := 1; i < n && d < w.cfg.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, w.cfg.BackoffMax)
	var b [8]byte
	_, _ = io.ReadFull(w.rand, b[:])
	half := d / 2
	return half + time.Duration(binary.LittleEndian.Uint64(b[:])%uint64(half+1))
}

// Observer receives every job run. web's Metrics turns it into Prometheus
// series. Label values are bounded: job kinds and fixed outcome words.
type Observer interface {
	// JobDone is one job run: its kind, outcome ("ok", "retry", "failed",
	// "lease_lost"), how late it was claimed after it fell due, and how
	// long it ran.
	JobDone(kind, outcome string, lag, took time.Duration)
}

// SetObserver makes the worker report every job run to obs.
func (w *Worker) SetObserver(obs Observer) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.obs = obs
}

// observeJob reports one job run; outcome is decided from its error.
func (w *Worker) observeJob(j *models.Job, claimed time.Time, err error) {
	w.mu.Lock()
	obs := w.obs
	w.mu.Unlock()
	if obs == nil {
		return
	}
	outcome := "ok"
	switch {
	case err == nil:
	case errors.Is(err, models.ErrLeaseLost):
		outcome = "lease_lost"
	case IsPermanent(err) || j.Attempts >= j.MaxAttempts:
		outcome = "failed"
	default:
		outcome = "retry"
	}
	lag := max(claimed.Sub(j.DueAt), 0)
	obs.JobDone(j.Kind, outcome, lag, time.Since(claimed))
}
