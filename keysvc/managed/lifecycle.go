package managed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"

	"keyport/keysvc/awskms"
	"keyport/keysvc/jobs"
	"keyport/models"
)

// lifecycle is the per-service state of the key lifecycle (modes 2 and 3):
// wrapping preferences, the operation worker, test hooks. Service.lifecycle
// makes it on first use.
type lifecycle struct {
	once   sync.Once
	worker *jobs.Worker // runs operation jobs for requests; the scheduler's once attached
	// hook, when set (tests), runs after each step's side effect and
	// before the next step is recorded: the worst moment to crash.
	hook func(op *models.KeyOperation, step string) error
	// beforeRun, when set (tests), runs before an operation's steps.
	beforeRun func(op *models.KeyOperation)
	// closureHook, when set (tests), runs after each step of a tenant's
	// closure, before the next is recorded.
	closureHook func(step string) error
	// wrapSpecs are the wrapping key specs and algorithms to ask KMS for,
	// in order of preference.
	wrapSpecs []wrapSpec

	mu             sync.Mutex
	lastDriftSweep time.Time // guarded by mu
}

type wrapSpec struct{ KeySpec, Algorithm string }

// defaultWrapSpecs prefer RSA_4096 with RSAES_OAEP_SHA_256 and fall back
// where a KMS does not offer it.
var defaultWrapSpecs = []wrapSpec{
	{"RSA_4096", WrapOAEPSHA256}, {"RSA_4096", WrapRSAAESKWP256}, {"RSA_3072", WrapOAEPSHA256}, {"RSA_2048", WrapOAEPSHA256},
}

// lifecycle returns the service's lifecycle state, made on first use.
func (s *Service) lifecycle() *lifecycle {
	lc := &s.lc
	lc.once.Do(func() {
		lc.wrapSpecs = defaultWrapSpecs
		lc.worker = jobs.NewWorker(s.db, s.log, jobs.WorkerConfig{Concurrency: 1})
		lc.worker.Handle(models.JobKindLifecycle, s.runLifecycleJob)
		lc.worker.Handle(models.JobKindTenantClose, s.runClosureJob)
	})
	return lc
}

// AttachWorker plugs the key lifecycle into the process's job worker:
// operation jobs that a crashed process left behind are resumed once their
// lease expires, and the background passes (deletion windows, expiring
// material, drift) run on its ticks. Renewal, the rotation of
// keyport-generated and tenant-imported keys, is RotateFrom.
func (s *Service) AttachWorker(w *jobs.Worker) {
	lc := s.lifecycle()
	w.Handle(models.JobKindLifecycle, s.runLifecycleJob)
	w.Handle(jobKindReupload, s.runReuploadJob)
	w.Handle(models.JobKindTenantClose, s.runClosureJob)
	w.OnTick(s.lifecycleTick)
	lc.worker = w
}

// RotateFrom renews the key if its current version is from: the rotation
// of keys whose material keyport holds (a new KMS key with new material,
// the alias moved). It makes the Service a rotation.Rotator, which the
// caller gives the rotation scheduler.
func (s *Service) RotateFrom(ctx context.Context, tenantID, keyID string, from int64, actor, reason string) (int64, error) {
	return s.renewFrom(ctx, tenantID, keyID, from, actor, reason)
}

// OperationResult is what a lifecycle request came to.
type OperationResult struct {
	Op  *models.KeyOperation
	Key *models.Key
	// Error is the last attempt's error when the operation is still
	// running (it is retried) or failed.
	Error string
}

// Done reports whether the operation finished successfully.
func (r *OperationResult) Done() bool { return r.Op != nil && r.Op.State == models.OpDone }

// drive runs a just-recorded operation's job now, under its lease, and
// reports where it got. A failed attempt leaves the job to be retried by
// the scheduler's worker (or ResumeOperations).
func (s *Service) drive(ctx context.Context, op *models.KeyOperation) (*OperationResult, error) {
	lc := s.lifecycle()
	j, err := lc.worker.RunJob(ctx, op.JobID)
	if err != nil && !errors.Is(err, models.ErrLeaseLost) {
		return nil, err
	}
	cur, err := s.db.GetKeyOperation(ctx, op.TenantID, op.ID)
	if err != nil {
		return nil, err
	}
	res := &OperationResult{Op: cur}
	if cur.State == models.OpFailed {
		res.Error = cur.Detail
	} else if j != nil && cur.State == models.OpRunning {
		res.Error = j.LastError
	}
	res.Key, err = s.db.GetKey(ctx, cur.TenantID, cur.KeyID)
	if err != nil {
		return nil, err
	}
	s.keys.ApplyKey(res.Key)
	return res, nil
}

// ResumeOperations runs every due lifecycle job now (the same work the
// scheduler's worker does in the background): a restarted process uses it
// to finish what its predecessor left half done.
func (s *Service) ResumeOperations(ctx context.Context) (int, error) {
	return s.lifecycle().worker.RunDue(ctx)
}

type lifecyclePayload struct {
	OpID string `json:"op_id"`
}

// runLifecycleJob drives one operation to its end: done, or failed and
// rolled back. A transient failure (KMS throttling or unreachable, a
// crash) returns the error so the job is retried from the recorded step.
func (s *Service) runLifecycleJob(ctx context.Context, j *models.Job, l models.Lease) error {
	var p lifecyclePayload
	if err := json.Unmarshal([]byte(j.Payload), &p); err != nil {
		return jobs.Permanent(fmt.Errorf("keysvc: lifecycle job payload: %w", err))
	}
	op, err := s.db.GetKeyOperation(ctx, j.TenantID, p.OpID)
	if errors.Is(err, models.ErrNotFound) {
		return s.db.CompleteJob(ctx, l, "operation gone", nil)
	}
	if err != nil {
		return err
	}
	fence := func() error { return s.db.RenewLease(ctx, l, time.Minute) }
	if op.State == models.OpRunning {
		if f := s.lifecycle().beforeRun; f != nil {
			f(op)
		}
		err = s.runOp(ctx, op, fence)
		// A transient failure is retried, but not for ever: on the last
		// attempt the operation is rolled back instead of left running,
		// which would block every later change of the key.
		if err != nil && (!transient(err) || (j.Attempts >= j.MaxAttempts && !errors.Is(err, models.ErrLeaseLost))) {
			err = s.rollback(ctx, op, err)
		}
		if err != nil {
			return err
		}
	}
	return s.db.CompleteJob(ctx, l, "operation "+op.ID, nil)
}

// transient reports whether an operation failed for a reason that a later
// attempt may not meet: KMS throttling or unavailable, a lost lease, a
// crash injected by a test, a cancelled request.
func transient(err error) bool {
	return errors.Is(err, awskms.ErrThrottled) || errors.Is(err, awskms.ErrUnavailable) || errors.Is(err, models.ErrLeaseLost) ||
		errors.Is(err, errCrash) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// errCrash is what a test's hook returns to stand for a process that died
// between a step's side effect and the record of the next.
var errCrash = errors.New("keysvc: injected crash")

// afterStep calls the test hook, if any.
func (s *Service) afterStep(op *models.KeyOperation, step string) error {
	if h := s.lifecycle().hook; h != nil {
		return h(op, step)
	}
	return nil
}

// opContext is what the steps of an operation need: the key, its store's
// connection and region, and a KMS client acting as the tenant.
type opContext struct {
	op      *models.KeyOperation
	key     *models.Key
	managed *models.ManagedKey
	store   *models.KeyStore
	conn    awskms.Connection
	client  *kms.Client
	fence   func() error
	// customer marks a registered customer-managed key: its operations
	// (a deactivation) touch only keyport, and managed is an empty record.
	customer bool
}

func (s *Service) loadOpContext(ctx context.Context, op *models.KeyOperation, fence func() error) (*opContext, error) {
	k, err := s.db.GetKey(ctx, op.TenantID, op.KeyID)
	if err != nil {
		return nil, err
	}
	mk, err := s.db.GetManagedKey(ctx, op.TenantID, op.KeyID)
	if errors.Is(err, models.ErrNotFound) && k.Mode == models.ModeCMK {
		return &opContext{op: op, key: k, managed: &models.ManagedKey{KeyID: k.ID, TenantID: k.TenantID}, fence: fence, customer: true}, nil
	}
	if err != nil {
		return nil, err
	}
	st, err := s.db.GetKeyStore(ctx, op.TenantID, mk.StoreID)
	if err != nil {
		return nil, err
	}
	conn, client, err := s.storeKMS(ctx, op.TenantID, st)
	if err != nil {
		return nil, err
	}
	return &opContext{op: op, key: k, managed: mk, store: st, conn: conn, client: client, fence: fence}, nil
}

// PreferWrappingKeySpec makes imports ask KMS for an RSA wrapping key of
// spec (RSA_2048, RSA_3072, RSA_4096) first. keyport asks for RSA_4096 by
// default; development mode and tests against kmslocal, where generating
// that key dominates every import, may prefer a smaller one.
func (s *Service) PreferWrappingKeySpec(spec string) {
	lc := s.lifecycle()
	lc.wrapSpecs = append([]wrapSpec{{spec, WrapOAEPSHA256}}, defaultWrapSpecs...)
}
