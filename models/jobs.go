package models

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Job states.
const (
	JobPending   = "pending"
	JobRunning   = "running"
	JobDone      = "done"
	JobFailed    = "failed" // out of attempts; an operator looks at it
	JobCancelled = "cancelled"
)

// ErrLeaseLost is returned when a worker writes to a job whose lease it no
// longer holds: the lease expired and another worker claimed the job (its
// token moved on), or the job was cancelled. The write did not happen.
var ErrLeaseLost = errors.New("models: job lease lost")

// Job is one durable unit of background work.
type Job struct {
	ID             string
	Kind           string
	TenantID       string
	RunKey         string
	Payload        string // JSON, read by the job's kind
	State          string
	DueAt          time.Time
	Attempts       int
	MaxAttempts    int
	LeaseOwner     string
	LeaseExpiresAt *time.Time
	LeaseToken     int64
	LastError      string
	Result         string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	FinishedAt     *time.Time
}

func (j *Job) normalize() {
	j.DueAt, j.CreatedAt, j.UpdatedAt = j.DueAt.UTC(), j.CreatedAt.UTC(), j.UpdatedAt.UTC()
	j.LeaseExpiresAt, j.FinishedAt = tsPtr(j.LeaseExpiresAt), tsPtr(j.FinishedAt)
}

// Lease is a worker's claim on a job: the job id and the token the claim
// set. Every write the worker makes to the job names both.
type Lease struct {
	JobID string
	Token int64
}

// NewJob is a job to enqueue. MaxAttempts defaults to 10; a zero DueAt
// means now.
type NewJob struct {
	Kind        string
	TenantID    string
	RunKey      string
	Payload     string
	DueAt       time.Time
	MaxAttempts int
}

// EnqueueJob adds a job unless one with the same run key exists, and
// returns the job with that run key either way; created says which.
func (db *DB) EnqueueJob(ctx context.Context, nj NewJob) (job *Job, created bool, err error) {
	err = db.g.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		job, created, err = db.enqueueJobTx(tx, nj)
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("enqueue job: %w", mapErr(err))
	}
	return job, created, nil
}

// enqueueJobTx inserts the job inside the caller's transaction, so that a
// change and the work it causes commit together.
func (db *DB) enqueueJobTx(tx *gorm.DB, nj NewJob) (*Job, bool, error) {
	j, err := db.newJobRow(nj)
	if err != nil {
		return nil, false, err
	}
	res := tx.Table("jobs").Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "run_key"}}, DoNothing: true}).Create(j)
	if res.Error != nil {
		return nil, false, res.Error
	}
	if res.RowsAffected == 1 {
		return j, true, nil
	}
	var old Job
	if err := tx.Table("jobs").Where("run_key = ?", nj.RunKey).Take(&old).Error; err != nil {
		return nil, false, err
	}
	old.normalize()
	return &old, false, nil
}

// newJobRow is the row of a new pending job: nj with its defaults.
func (db *DB) newJobRow(nj NewJob) (*Job, error) {
	if nj.Kind == "" || nj.RunKey == "" {
		return nil, invalid("job", "kind and run key are required")
	}
	now := db.now()
	due := now
	if !nj.DueAt.IsZero() {
		due = ts(nj.DueAt)
	}
	if nj.MaxAttempts <= 0 {
		nj.MaxAttempts = 10
	}
	if nj.Payload == "" {
		nj.Payload = "{}"
	}
	return &Job{ID: NewID("job_"), Kind: nj.Kind, TenantID: nj.TenantID, RunKey: nj.RunKey, Payload: nj.Payload,
		State: JobPending, DueAt: due, MaxAttempts: nj.MaxAttempts, CreatedAt: now, UpdatedAt: now}, nil
}

// ClaimJobs leases up to limit jobs that are due, or whose previous
// worker's lease has expired, to owner for leaseFor, oldest due first. Each
// claim bumps the job's lease token and attempts. A taken-over job that has
// used all its attempts is marked failed instead of claimed.
//
// On SQLite the transaction holds the write lock from BEGIN (IMMEDIATE), so
// two workers cannot pick the same rows; on PostgreSQL the candidate rows
// are locked with FOR UPDATE SKIP LOCKED (gorm leaves the clause out on
// SQLite), so concurrent workers pass over each other's rows instead of
// waiting, and the conditional update on the old token is the final guard
// on both.
func (db *DB) ClaimJobs(ctx context.Context, owner string, limit int, leaseFor time.Duration, kinds ...string) ([]Job, error) {
	return db.claimJobs(ctx, owner, limit, leaseFor, true, kinds)
}

// claimJobs is ClaimJobs; without takeover it leaves expired leases alone.
func (db *DB) claimJobs(ctx context.Context, owner string, limit int, leaseFor time.Duration, takeover bool, kinds []string) ([]Job, error) {
	var out []Job
	err := db.g.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		now := db.now()
		// Two queries, each read in its index's order and stopping at
		// limit: jobs whose worker died (their lease ran out) first, then
		// pending jobs that are due, oldest first. One query with an OR
		// of the two would collect every due job and sort them all.
		var cands []Job
		for _, part := range []struct {
			where string
			args  []any
			order string
		}{
			{expiredLease, []any{JobRunning, now}, "lease_expires_at, id"},
			{"state = ? AND due_at <= ?", []any{JobPending, now}, "due_at, id"},
		} {
			if len(cands) >= limit || (part.where == expiredLease && !takeover) {
				continue
			}
			q := tx.Table("jobs").Where(part.where, part.args...).Order(part.order).Limit(limit - len(cands)).
				Clauses(clause.Locking{Strength: "UPDATE", Options: "SKIP LOCKED"})
			if len(kinds) > 0 {
				q = q.Where("kind IN ?", kinds)
			}
			var found []Job
			if err := q.Find(&found).Error; err != nil {
				return err
			}
			cands = append(cands, found...)
		}
		for i := range cands {
			c := &cands[i]
			if c.State == JobRunning && c.Attempts >= c.MaxAttempts {
				// Its worker died on the last attempt: do not run it again.
				if err := tx.Table("jobs").Where("id = ? AND lease_token = ?", c.ID, c.LeaseToken).Updates(map[string]any{
					"state": JobFailed, "lease_owner": "", "lease_expires_at": nil, "updated_at": now, "finished_at": now,
					"last_error": "worker stopped during the last attempt",
				}).Error; err != nil {
					return err
				}
				continue
			}
			claimed, err := claimTx(tx, c, owner, now, leaseFor)
			if err != nil {
				return err
			}
			if claimed {
				out = append(out, *c)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim jobs: %w", mapErr(err))
	}
	return out, nil
}

// expiredLease selects running jobs whose worker stopped renewing.
const expiredLease = "state = ? AND lease_expires_at <= ?"

// claimable selects the jobs a worker may claim at a time (given twice):
// pending and due, or running under an expired lease.
const claimable = "(state = ? AND due_at <= ?) OR (state = ? AND lease_expires_at <= ?)"

// ClaimJob leases one job by id if it is claimable now (pending and due, or
// running under an expired lease), for work a request wants done at once;
// ErrLeaseLost when it is not (done, or another worker holds it).
func (db *DB) ClaimJob(ctx context.Context, id, owner string, leaseFor time.Duration) (*Job, error) {
	var j Job
	err := db.g.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		now := db.now()
		// Locked (on PostgreSQL) so that the row claimTx returns is the
		// row as written.
		err := tx.Table("jobs").Clauses(clause.Locking{Strength: "UPDATE"}).
			Where("id = ?", id).Where(claimable, JobPending, now, JobRunning, now).Take(&j).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return ErrLeaseLost
		}
		if err != nil {
			return err
		}
		claimed, err := claimTx(tx, &j, owner, now, leaseFor)
		if err == nil && !claimed {
			err = ErrLeaseLost
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim job: %w", mapErr(err))
	}
	return &j, nil
}

// claimTx leases j, read and locked in tx, to owner for leaseFor: its
// token and attempts move on, fenced on the token it was read with. It
// reports false when the token had moved on already (another worker
// claimed it); otherwise j is updated to the row as written, which saves
// reading it back.
func claimTx(tx *gorm.DB, j *Job, owner string, now time.Time, leaseFor time.Duration) (bool, error) {
	until := ts(now.Add(leaseFor))
	res := tx.Table("jobs").Where("id = ? AND lease_token = ?", j.ID, j.LeaseToken).Updates(map[string]any{
		"state": JobRunning, "lease_owner": owner, "lease_expires_at": until,
		"lease_token": j.LeaseToken + 1, "attempts": j.Attempts + 1, "updated_at": now,
	})
	if res.Error != nil || res.RowsAffected != 1 {
		return false, res.Error
	}
	j.State, j.LeaseOwner, j.LeaseExpiresAt = JobRunning, owner, &until
	j.LeaseToken, j.Attempts, j.UpdatedAt = j.LeaseToken+1, j.Attempts+1, now
	j.normalize()
	return true, nil
}

// fenced runs an update on the job held by l; ErrLeaseLost when the lease
// is no longer l's.
func fenced(tx *gorm.DB, l Lease, set map[string]any) error {
	res := tx.Table("jobs").Where("id = ? AND lease_token = ? AND state = ?", l.JobID, l.Token, JobRunning).Updates(set)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected != 1 {
		return ErrLeaseLost
	}
	return nil
}

// RenewLease extends the lease of a running job to now+leaseFor.
func (db *DB) RenewLease(ctx context.Context, l Lease, leaseFor time.Duration) error {
	now := db.now()
	err := fenced(db.g.WithContext(ctx), l, map[string]any{"lease_expires_at": ts(now.Add(leaseFor)), "updated_at": now})
	if err != nil {
		return fmt.Errorf("renew lease: %w", mapErr(err))
	}
	return nil
}

// completeJobTx marks the job done inside the caller's transaction; the
// caller's other writes commit only if the lease still holds.
func (db *DB) completeJobTx(tx *gorm.DB, l Lease, result string) error {
	now := db.now()
	return fenced(tx, l, map[string]any{"state": JobDone, "result": result, "lease_owner": "",
		"lease_expires_at": nil, "updated_at": now, "finished_at": now, "last_error": ""})
}

// CompleteJob marks a job done. With audit set (Action not empty) the audit
// event commits in the same transaction, so a job's recorded effect and its
// completion happen exactly once together.
func (db *DB) CompleteJob(ctx context.Context, l Lease, result string, audit *AuditInput) error {
	return db.change(ctx, "complete job", func(tx *gorm.DB) (*AuditInput, error) {
		if err := db.completeJobTx(tx, l, result); err != nil {
			return nil, err
		}
		return optional(audit), nil
	})
}

// RetryJob records a failed attempt: the job becomes pending again after
// delay (on the store's clock), or failed when it has used all its attempts
// or final is set (retrying cannot help).
func (db *DB) RetryJob(ctx context.Context, l Lease, delay time.Duration, lastError string, final bool) (failed bool, err error) {
	err = db.g.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var j Job
		if err := tx.Table("jobs").Where("id = ?", l.JobID).Take(&j).Error; err != nil {
			return err
		}
		now := db.now()
		set := map[string]any{"lease_owner": "", "lease_expires_at": nil, "updated_at": now, "last_error": truncate(lastError, 2000)}
		if final || j.Attempts >= j.MaxAttempts {
			failed = true
			set["state"], set["finished_at"] = JobFailed, now
		} else {
			set["state"], set["due_at"] = JobPending, ts(now.Add(delay))
		}
		return fenced(tx, l, set)
	})
	if err != nil {
		return false, fmt.Errorf("retry job: %w", mapErr(err))
	}
	return failed, nil
}

// GetJob returns a job by id (jobs are the system's, not a tenant's: callers
// that show one to a tenant check its TenantID).
func (db *DB) GetJob(ctx context.Context, id string) (*Job, error) {
	var j Job
	if err := db.g.WithContext(ctx).Table("jobs").Where("id = ?", id).Take(&j).Error; err != nil {
		return nil, fmt.Errorf("get job: %w", mapErr(err))
	}
	j.normalize()
	return &j, nil
}

// JobByRunKey returns the job with a run key, of any tenant (run keys are
// unique across the system).
func (db *DB) JobByRunKey(ctx context.Context, runKey string) (*Job, error) {
	var j Job
	if err := db.g.WithContext(ctx).Table("jobs").Where("run_key = ?", runKey).Take(&j).Error; err != nil {
		return nil, fmt.Errorf("job by run key: %w", mapErr(err))
	}
	j.normalize()
	return &j, nil
}

// JobCounts counts every tenant's jobs by state, optionally of some kinds
// only (the operator's view and metrics).
func (db *DB) JobCounts(ctx context.Context, kinds ...string) (map[string]int64, error) {
	var rows []struct {
		State string
		N     int64
	}
	q := db.g.WithContext(ctx).Table("jobs").Select("state, COUNT(*) AS n").Group("state")
	if len(kinds) > 0 {
		q = q.Where("kind IN ?", kinds)
	}
	if err := q.Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("count jobs: %w", mapErr(err))
	}
	out := map[string]int64{}
	for _, r := range rows {
		out[r.State] = r.N
	}
	return out, nil
}

// NextJobDue is the due time of the earliest pending job, or nil.
func (db *DB) NextJobDue(ctx context.Context) (*time.Time, error) {
	var j Job
	err := db.g.WithContext(ctx).Table("jobs").Select("due_at").Where("state = ?", JobPending).Order("due_at").Limit(1).Take(&j).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("next job due: %w", err)
	}
	t := j.DueAt.UTC()
	return &t, nil
}

// cancelJobsTx cancels the pending jobs whose run keys are given (a
// rescheduled rotation's old notices). A running job finishes; its own
// transaction re-checks that its work is still wanted.
func cancelJobsTx(tx *gorm.DB, now time.Time, runKeys []string) error {
	if len(runKeys) == 0 {
		return nil
	}
	return tx.Table("jobs").Where("run_key IN ? AND state = ?", runKeys, JobPending).
		Updates(map[string]any{"state": JobCancelled, "updated_at": now, "finished_at": now}).Error
}

// truncate cuts s to at most n bytes, at a character boundary: PostgreSQL
// refuses text that is not valid UTF-8 (SQLite would store it), and a
// refused write would lose the failure it records.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// ClaimDueJobs leases up to limit pending jobs that are due, of the given
// kinds, oldest first: ClaimJobs without the takeover of expired leases,
// which a worker does now and then (ClaimJobs) rather than on every claim.
// On PostgreSQL it is one statement (the lease and fencing token move on
// in the UPDATE that picks the rows, SKIP LOCKED), where ClaimJobs takes a
// transaction of several: a busy worker claims a job for nearly every job
// that ends. SQLite, with one writer, claims as ClaimJobs does.
func (db *DB) ClaimDueJobs(ctx context.Context, owner string, limit int, leaseFor time.Duration, kinds ...string) ([]Job, error) {
	if !db.isPostgres() || len(kinds) == 0 {
		return db.claimJobs(ctx, owner, limit, leaseFor, false, kinds)
	}
	now := db.now()
	until := ts(now.Add(leaseFor))
	var out []Job
	err := db.g.WithContext(ctx).Raw(`UPDATE jobs SET state = ?, lease_owner = ?, lease_expires_at = ?, lease_token = lease_token + 1,
		attempts = attempts + 1, updated_at = ?
		WHERE id IN (SELECT id FROM jobs WHERE state = ? AND due_at <= ? AND kind IN ? ORDER BY due_at, id LIMIT ? FOR UPDATE SKIP LOCKED)
		RETURNING *`, JobRunning, owner, until, now, JobPending, now, kinds, limit).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("claim due jobs: %w", mapErr(err))
	}
	for i := range out {
		out[i].normalize()
	}
	slices.SortFunc(out, func(a, b Job) int { return cmp.Or(a.DueAt.Compare(b.DueAt), strings.Compare(a.ID, b.ID)) })
	return out, nil
}
