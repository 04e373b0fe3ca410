package models

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Job kinds of the rotation schedule.
const (
	JobKindRotate = "key.rotate"
	JobKindNotice = "notice.send"
)

// RotateRunKey names the rotation that replaces data-key version from: a
// scheduled run, a double click and an API call asking for it are one job.
func RotateRunKey(keyID string, from int64) string {
	return "rotate:" + keyID + ":from:" + strconv.FormatInt(from, 10)
}

// noticeRunKey names the job that sends one planned notice.
func noticeRunKey(dedupe string) string { return "notice:" + dedupe }

// RotationPolicy is a key's rotation schedule and its current cycle.
type RotationPolicy struct {
	KeyID             string
	TenantID          string
	PeriodDays        int
	NoticeDays        string // lead times in days, "30,7,1"
	Automatic         bool   // false: an admin confirms each rotation
	WindowStartHour   int    // preferred window, UTC
	WindowHours       int
	KMSRotateOnDemand bool `gorm:"column:kms_rotate_on_demand"`
	NextRotationAt    time.Time
	FromVersion       int64 // the data-key version the next rotation replaces
	PostponedDays     int   // postponement used in this cycle
	HealthNotified    Health
	LastRotatedAt     *time.Time
	UpdatedBy         string
	UpdatedAt         time.Time
}

func (p *RotationPolicy) normalize() {
	p.NextRotationAt, p.UpdatedAt, p.LastRotatedAt = p.NextRotationAt.UTC(), p.UpdatedAt.UTC(), tsPtr(p.LastRotatedAt)
}

// RotationDefaults is a tenant's default policy for new keys.
type RotationDefaults struct {
	TenantID        string
	PeriodDays      int
	NoticeDays      string
	Automatic       bool
	WindowStartHour int
	WindowHours     int
	UpdatedBy       string
	UpdatedAt       time.Time
}

// RotationPlan is a policy with its current cycle: the notices to send
// before the rotation and, for automatic policies, the rotation job.
type RotationPlan struct {
	Policy    RotationPolicy
	Notices   []Notice // planned; each gets a notice.send job due at its DueAt
	RotateJob *NewJob  // nil when an admin confirms rotations
}

// PlanWrite is what commits together with a plan.
type PlanWrite struct {
	Lease *Lease      // the job that computed the plan; completed in the same transaction
	Audit *AuditInput // an audit event, when Action is set
	Sent  []Notice    // notices already decided (after a rotation), recorded as sent
	Mail  []NewMail   // their emails
	// Replace is true when the plan starts a new cycle or moves its date:
	// planned notices and the scheduled rotation job not in the plan are
	// cancelled.
	Replace bool
}

// SaveRotationPlan writes a key's policy and cycle, with everything in w,
// in one transaction.
func (db *DB) SaveRotationPlan(ctx context.Context, plan RotationPlan, w PlanWrite) error {
	err := db.g.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return db.saveRotationPlanTx(tx, plan, w)
	})
	if err != nil {
		return fmt.Errorf("save rotation plan: %w", mapErr(err))
	}
	return nil
}

// scheduledRotateJobs selects by run key the scheduled rotation jobs a
// key can have: one per version it rotates from (RotateRunKey), and it
// has no version past current. Naming them lets the run key's unique
// index find them; a LIKE on the run key's prefix read every job in the
// table, for every rotation, as rotations of 10,000 keys filled it with
// their next cycles. Past a thousand versions the prefix does it.
func scheduledRotateJobs(keyID string, current int64) clause.Expression {
	if current > 1000 {
		return clause.Expr{SQL: "run_key LIKE ?", Vars: []any{"rotate:" + keyID + ":from:%"}}
	}
	runKeys := make([]string, 0, current+1)
	for v := int64(0); v <= current; v++ {
		runKeys = append(runKeys, RotateRunKey(keyID, v))
	}
	return clause.IN{Column: clause.Column{Name: "run_key"}, Values: anySlice(runKeys)}
}

func anySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func (db *DB) saveRotationPlanTx(tx *gorm.DB, plan RotationPlan, w PlanWrite) error {
	now := db.now()
	p := plan.Policy
	p.NextRotationAt, p.UpdatedAt, p.LastRotatedAt = ts(p.NextRotationAt), now, tsPtr(p.LastRotatedAt)
	k, err := getKeyTx(tx, p.TenantID, p.KeyID)
	if err != nil {
		return err
	}
	if w.Lease != nil {
		if err := db.completeJobTx(tx, *w.Lease, "planned "+p.NextRotationAt.Format(time.RFC3339)); err != nil {
			return err
		}
	}
	if err := tx.Table("rotation_policies").Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "key_id"}}, UpdateAll: true}).
		Create(&p).Error; err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, n := range plan.Notices {
		keep[n.DedupeKey] = true
	}
	if w.Replace {
		var planned []Notice
		if err := tx.Table("notices").Where("key_id = ? AND state = ?", p.KeyID, NoticePlanned).Find(&planned).Error; err != nil {
			return err
		}
		var cancel []string
		for _, n := range planned {
			if !keep[n.DedupeKey] {
				cancel = append(cancel, n.DedupeKey)
			}
		}
		if len(cancel) > 0 {
			if err := tx.Table("notices").Where("dedupe_key IN ?", cancel).Update("state", NoticeCancelled).Error; err != nil {
				return err
			}
			runKeys := make([]string, len(cancel))
			for i, d := range cancel {
				runKeys[i] = noticeRunKey(d)
			}
			if err := cancelJobsTx(tx, now, runKeys); err != nil {
				return err
			}
		}
		// A scheduled rotation job is due in the future; one due now was
		// asked for by someone (Rotate now) and stays.
		q := tx.Table("jobs").Where("kind = ? AND tenant_id = ? AND state = ? AND due_at > ?", JobKindRotate, p.TenantID, JobPending, now).
			Where(scheduledRotateJobs(p.KeyID, k.CurrentVersion))
		if plan.RotateJob != nil {
			q = q.Where("run_key <> ?", plan.RotateJob.RunKey)
		}
		if err := q.Updates(map[string]any{"state": JobCancelled, "updated_at": now, "finished_at": now}).Error; err != nil {
			return err
		}
	}
	if err := db.writeCycleTx(tx, plan.Notices, plan.RotateJob, w.Sent, now); err != nil {
		return err
	}
	if err := db.enqueueMailTx(tx, w.Mail); err != nil {
		return err
	}
	if w.Audit == nil {
		return nil
	}
	a := *w.Audit
	a.TenantID, a.TargetType, a.TargetID = p.TenantID, "key", p.KeyID
	return db.appendOptionalAuditTx(tx, &a)
}

// writeCycleTx records a cycle's planned notices with their jobs, its
// rotation job (nil: none) and the notices already sent (recorded as sent
// at now unless they exist), as planNoticeTx, upsertJobTx and
// insertSentNoticeTx would one by one. In the usual case, a new cycle of
// which nothing exists yet, that is two statements for all of them: one
// insert of the notices, one of the jobs (every rotation plans the next
// cycle, so with thousands of keys rotating at once these statements add
// up). Anything that exists already (a retry, a revived date) is then
// taken one by one, as before.
func (db *DB) writeCycleTx(tx *gorm.DB, planned []Notice, rotate *NewJob, sent []Notice, now time.Time) error {
	notices := make([]Notice, 0, len(planned)+len(sent))
	for _, n := range planned {
		n.ID, n.State, n.CreatedAt, n.DueAt, n.RotationAt = NewID("ntc_"), NoticePlanned, now, ts(n.DueAt), tsPtr(n.RotationAt)
		notices = append(notices, n)
	}
	for _, n := range sent {
		n.ID, n.State, n.CreatedAt, n.SentAt, n.DueAt = NewID("ntc_"), NoticeSent, now, &now, now
		notices = append(notices, n)
	}
	mine := map[string]bool{} // the planned notices this call inserted
	if len(notices) > 0 {
		res := tx.Table("notices").Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "dedupe_key"}}, DoNothing: true}).Create(&notices)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == int64(len(notices)) {
			for _, n := range notices[:len(planned)] {
				mine[n.ID] = true
			}
		} else if len(planned) > 0 {
			ids := make([]string, len(planned))
			for i, n := range notices[:len(planned)] {
				ids[i] = n.ID
			}
			var found []string
			if err := tx.Table("notices").Where("id IN ?", ids).Pluck("id", &found).Error; err != nil {
				return err
			}
			for _, id := range found {
				mine[id] = true
			}
		}
	}
	var want []NewJob
	for i, n := range notices[:len(planned)] {
		if !mine[n.ID] {
			// It exists (planned, sent, or cancelled by a postponement
			// whose date came back): planNoticeTx decides.
			if err := db.planNoticeTx(tx, planned[i], now); err != nil {
				return err
			}
			continue
		}
		payload, _ := json.Marshal(NoticePayload{NoticeID: n.ID})
		want = append(want, NewJob{Kind: JobKindNotice, TenantID: n.TenantID, RunKey: noticeRunKey(n.DedupeKey), Payload: string(payload), DueAt: n.DueAt})
	}
	if rotate != nil {
		want = append(want, *rotate)
	}
	if len(want) == 0 {
		return nil
	}
	jobs := make([]Job, len(want))
	for i, nj := range want {
		j, err := db.newJobRow(nj)
		if err != nil {
			return err
		}
		jobs[i] = *j
	}
	res := tx.Table("jobs").Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "run_key"}}, DoNothing: true}).Create(&jobs)
	if res.Error != nil || res.RowsAffected == int64(len(jobs)) {
		return res.Error
	}
	// Some job existed already (a retried rotation's next job, a notice's
	// cancelled job): bring each back as upsertJobTx does; for the ones
	// just inserted it changes nothing.
	for _, nj := range want {
		if _, err := db.upsertJobTx(tx, nj, false); err != nil {
			return err
		}
	}
	return nil
}

// planNoticeTx records a planned notice (or revives it if a postponement
// cancelled it and the date came back) with its job.
func (db *DB) planNoticeTx(tx *gorm.DB, n Notice, now time.Time) error {
	n.ID, n.State, n.CreatedAt, n.DueAt, n.RotationAt = NewID("ntc_"), NoticePlanned, now, ts(n.DueAt), tsPtr(n.RotationAt)
	res := tx.Table("notices").Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "dedupe_key"}}, DoNothing: true}).Create(&n)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		var old Notice
		if err := tx.Table("notices").Where("dedupe_key = ?", n.DedupeKey).Take(&old).Error; err != nil {
			return err
		}
		if old.State != NoticeCancelled {
			return nil // planned already, or sent: never twice
		}
		if err := tx.Table("notices").Where("id = ?", old.ID).Update("state", NoticePlanned).Error; err != nil {
			return err
		}
		n.ID = old.ID
	}
	payload, _ := json.Marshal(NoticePayload{NoticeID: n.ID})
	_, err := db.upsertJobTx(tx, NewJob{Kind: JobKindNotice, TenantID: n.TenantID, RunKey: noticeRunKey(n.DedupeKey),
		Payload: string(payload), DueAt: n.DueAt}, false)
	return err
}

// NoticePayload is the payload of a notice.send job.
type NoticePayload struct {
	NoticeID string `json:"notice_id"`
}

// upsertJobTx enqueues nj, or brings back the job with its run key: a
// pending one gets nj's due time (expedite: only if earlier, with nj's
// payload; otherwise only if it is not due yet), a cancelled or failed one
// becomes pending again with fresh attempts. Running and done jobs are
// left alone.
func (db *DB) upsertJobTx(tx *gorm.DB, nj NewJob, expedite bool) (*Job, error) {
	j, created, err := db.enqueueJobTx(tx, nj)
	if err != nil || created {
		return j, err
	}
	now := db.now()
	due := ts(nj.DueAt)
	if nj.DueAt.IsZero() {
		due = now
	}
	set := map[string]any{"updated_at": now}
	switch j.State {
	case JobPending:
		switch {
		case expedite && !due.Before(j.DueAt):
			return j, nil
		case expedite:
			// The request is why it runs now: its payload (reason, actor) wins.
			set["due_at"], set["payload"] = due, nj.Payload
		case !j.DueAt.After(now):
			return j, nil // due already (asked for, or retrying): a new plan does not push it back
		default:
			set["due_at"] = due
		}
	case JobCancelled, JobFailed:
		set["state"], set["due_at"], set["attempts"], set["finished_at"], set["last_error"] = JobPending, due, 0, nil, ""
		if nj.Payload != "" {
			set["payload"] = nj.Payload
		}
	default:
		return j, nil
	}
	res := tx.Table("jobs").Where("id = ? AND state = ? AND lease_token = ?", j.ID, j.State, j.LeaseToken).Updates(set)
	if res.Error != nil {
		return nil, res.Error
	}
	var out Job
	if err := tx.Table("jobs").Where("id = ?", j.ID).Take(&out).Error; err != nil {
		return nil, err
	}
	out.normalize()
	return &out, nil
}

// RequestJob enqueues nj to run now, or expedites the job with its run key
// (see upsertJobTx), with an optional audit event, and returns the job.
func (db *DB) RequestJob(ctx context.Context, nj NewJob, audit *AuditInput) (*Job, error) {
	var j *Job
	err := db.change(ctx, "request job", func(tx *gorm.DB) (*AuditInput, error) {
		var err error
		if j, err = db.upsertJobTx(tx, nj, true); err != nil {
			return nil, err
		}
		return optional(audit), nil
	})
	if err != nil {
		return nil, err
	}
	return j, nil
}

// GetRotationPolicy returns a tenant's key's policy, or ErrNotFound.
func (db *DB) GetRotationPolicy(ctx context.Context, tenantID, keyID string) (*RotationPolicy, error) {
	var p RotationPolicy
	if err := db.g.WithContext(ctx).Table("rotation_policies").Where("tenant_id = ? AND key_id = ?", tenantID, keyID).Take(&p).Error; err != nil {
		return nil, fmt.Errorf("get rotation policy: %w", mapErr(err))
	}
	p.normalize()
	return &p, nil
}

// GetRotationDefaults returns a tenant's default policy, or ErrNotFound
// when the tenant never set one.
func (db *DB) GetRotationDefaults(ctx context.Context, tenantID string) (*RotationDefaults, error) {
	var d RotationDefaults
	if err := db.g.WithContext(ctx).Table("rotation_defaults").Where("tenant_id = ?", tenantID).Take(&d).Error; err != nil {
		return nil, fmt.Errorf("get rotation defaults: %w", mapErr(err))
	}
	d.UpdatedAt = d.UpdatedAt.UTC()
	return &d, nil
}

// SetRotationDefaults stores a tenant's default policy with an audit event.
func (db *DB) SetRotationDefaults(ctx context.Context, d RotationDefaults, audit AuditInput) error {
	d.UpdatedAt = db.now()
	return db.change(ctx, "set rotation defaults", func(tx *gorm.DB) (*AuditInput, error) {
		err := tx.Table("rotation_defaults").Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "tenant_id"}}, UpdateAll: true}).
			Create(&d).Error
		if err != nil {
			return nil, err
		}
		audit.TenantID, audit.TargetType, audit.TargetID = d.TenantID, "tenant", d.TenantID
		return &audit, nil
	})
}

// KeysWithoutPolicy returns up to limit enabled keys (any tenant) that have
// no rotation policy yet, oldest first.
func (db *DB) KeysWithoutPolicy(ctx context.Context, limit int) ([]Key, error) {
	var ks []Key
	err := db.g.WithContext(ctx).Table("keys AS k").Select("k.*").
		Where("k.state = ? AND NOT EXISTS (SELECT 1 FROM rotation_policies p WHERE p.key_id = k.id)", StateEnabled).
		Order("k.created_at, k.id").Limit(max(limit, 1)).Find(&ks).Error
	if err != nil {
		return nil, fmt.Errorf("keys without policy: %w", mapErr(err))
	}
	for i := range ks {
		fixKeyTimes(&ks[i])
	}
	return ks, nil
}

// UpcomingRotation is one row of the upcoming-rotations page.
type UpcomingRotation struct {
	RotationPolicy
	TenantName string
	KeyName    string
	KeyState   KeyState
	KeyHealth  Health
}

// UpcomingRotations lists policies by next rotation date: one tenant's, or
// every tenant's when tenantID is "" (the operator's view; callers decide
// who may ask for that).
func (db *DB) UpcomingRotations(ctx context.Context, tenantID string, limit int) ([]UpcomingRotation, error) {
	q := db.g.WithContext(ctx).Order("p.next_rotation_at, p.key_id").Limit(max(limit, 1))
	if tenantID != "" {
		q = q.Where("p.tenant_id = ?", tenantID)
	}
	rows, err := policyRows(q)
	if err != nil {
		return nil, fmt.Errorf("upcoming rotations: %w", mapErr(err))
	}
	return rows, nil
}

// policyRows reads the rotation policies of keys that are not deleted,
// with their key and tenant, narrowed and ordered by q.
func policyRows(q *gorm.DB) ([]UpcomingRotation, error) {
	var rows []UpcomingRotation
	err := q.Table("rotation_policies AS p").
		Select("p.*, t.name AS tenant_name, k.name AS key_name, k.state AS key_state, k.health AS key_health").
		Joins("JOIN keys AS k ON k.id = p.key_id").Joins("JOIN tenants AS t ON t.id = p.tenant_id").
		Where("k.state <> ?", StateDeleted).Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	for i := range rows {
		rows[i].normalize()
	}
	return rows, nil
}
