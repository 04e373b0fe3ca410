package rotation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"keyport/keysvc"
	"keyport/keysvc/jobs"
	"keyport/keysvc/mailer"
	"keyport/models"
)

// Rotation policy bounds and defaults (DESIGN.md: 365 days, notices 30, 7
// and 1 days before).
const (
	MinRotationDays     = 1
	MaxRotationDays     = 2560
	DefaultRotationDays = 365
	// DefaultMaxPostponeDays bounds the postponement of one rotation when
	// the operator set no other bound (provider setting
	// rotation_max_postpone_days).
	DefaultMaxPostponeDays = 30
	settingMaxPostpone     = "rotation_max_postpone_days"
)

// DefaultNoticeDays are the default notice lead times.
var DefaultNoticeDays = []int{30, 7, 1}

// Rotator makes a key's next version for one key mode and returns it. It
// rotates only if the key's current version is from, so a job that lost
// its lease (or a retry) never makes two: keysvc.Service rotates the data
// key of customer-managed keys; keys whose material keyport holds renew.
type Rotator interface {
	RotateFrom(ctx context.Context, tenantID, keyID string, from int64, actor, reason string) (int64, error)
}

// RotatorFunc is a function as a Rotator.
type RotatorFunc func(ctx context.Context, tenantID, keyID string, from int64, actor, reason string) (int64, error)

// RotateFrom calls f.
func (f RotatorFunc) RotateFrom(ctx context.Context, tenantID, keyID string, from int64, actor, reason string) (int64, error) {
	return f(ctx, tenantID, keyID, from, actor, reason)
}

// SchedulerDeps are the scheduler's collaborators.
type SchedulerDeps struct {
	DB   *models.DB
	Keys *keysvc.Service // rotates the data key of customer-managed keys
	// Renewals rotates keys whose material keyport holds (generated and
	// imported keys); nil leaves them without scheduled rotation.
	Renewals Rotator
	Outbox   *mailer.Outbox
	Worker   *jobs.Worker
	Render   Renderer // email bodies (views, through handlers); required for notices
	Logger   *slog.Logger
	Now      func() time.Time // the same clock as the store's
	// SweepEvery runs the validation sweep as a job this often (0: never).
	SweepEvery time.Duration
}

// Scheduler plans rotations and their notices per key, runs them from
// durable jobs, and tells the tenant's owners and admins by email.
type Scheduler struct {
	SchedulerDeps
	rotators map[models.Mode]Rotator
}

// NewScheduler builds the scheduler and registers its job kinds (and the
// outbox's) on the worker.
func NewScheduler(d SchedulerDeps) *Scheduler {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	s := &Scheduler{SchedulerDeps: d, rotators: map[models.Mode]Rotator{models.ModeCMK: d.Keys}}
	if d.Renewals != nil {
		s.rotators[models.ModeGenerated] = d.Renewals
		s.rotators[models.ModeImported] = d.Renewals
	}
	d.Worker.Handle(models.JobKindRotate, s.runRotate)
	d.Worker.Handle(models.JobKindNotice, s.runNotice)
	d.Worker.Handle(jobKindSweep, s.runSweep)
	d.Outbox.Register(d.Worker)
	d.Worker.OnTick(s.Tick)
	return s
}

// SetRotator plugs in the rotation of a key mode.
func (s *Scheduler) SetRotator(mode models.Mode, r Rotator) { s.rotators[mode] = r }

// PolicyInput is the policy form as typed.
type PolicyInput struct {
	PeriodDays        string
	NoticeDays        string // "30, 7, 1"
	Automatic         bool
	WindowStartHour   string // "" or 0-23 (UTC)
	WindowHours       string // "" or 1-24
	KMSRotateOnDemand bool
}

// parsedPolicy is a validated PolicyInput.
type parsedPolicy struct {
	period, start, hours int
	notices              []int
	auto, onDemand       bool
}

func parsePolicy(in PolicyInput) (parsedPolicy, error) {
	p := parsedPolicy{auto: in.Automatic, onDemand: in.KMSRotateOnDemand, hours: 24}
	var err error
	if p.period, err = strconv.Atoi(strings.TrimSpace(in.PeriodDays)); err != nil || p.period < MinRotationDays || p.period > MaxRotationDays {
		return p, &keysvc.ValidationError{Field: "period_days", Message: fmt.Sprintf("must be a whole number of days from %d to %d", MinRotationDays, MaxRotationDays)}
	}
	for _, f := range splitList(in.NoticeDays) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n >= p.period {
			return p, &keysvc.ValidationError{Field: "notice_days", Message: "must be days before the rotation, each at least 1 and less than the period"}
		}
		if !slices.Contains(p.notices, n) {
			p.notices = append(p.notices, n)
		}
	}
	if len(p.notices) > 5 {
		return p, &keysvc.ValidationError{Field: "notice_days", Message: "may list at most 5 lead times"}
	}
	slices.SortFunc(p.notices, func(a, b int) int { return b - a })
	if v := strings.TrimSpace(in.WindowStartHour); v != "" {
		if p.start, err = strconv.Atoi(v); err != nil || p.start < 0 || p.start > 23 {
			return p, &keysvc.ValidationError{Field: "window_start_hour", Message: "must be an hour from 0 to 23 (UTC)"}
		}
	}
	if v := strings.TrimSpace(in.WindowHours); v != "" {
		if p.hours, err = strconv.Atoi(v); err != nil || p.hours < 1 || p.hours > 24 {
			return p, &keysvc.ValidationError{Field: "window_hours", Message: "must be from 1 to 24 hours"}
		}
	}
	return p, nil
}

// NoticeList renders lead times as stored ("30,7,1").
func NoticeList(days []int) string {
	parts := make([]string, len(days))
	for i, d := range days {
		parts[i] = strconv.Itoa(d)
	}
	return strings.Join(parts, ",")
}

// ParseNoticeList reads stored lead times, largest first.
func ParseNoticeList(s string) []int {
	var out []int
	for _, f := range splitList(s) {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	slices.SortFunc(out, func(a, b int) int { return b - a })
	return out
}

// windowStart is the start of the preferred window on t's day (UTC).
func windowStart(t time.Time, hour int) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), hour, 0, 0, 0, time.UTC)
}

// nextRotation is the window start on the day period days after base, or
// the first window start at or after notBefore if that is later.
func nextRotation(base time.Time, period, hour int, notBefore time.Time) time.Time {
	r := windowStart(base.AddDate(0, 0, period), hour)
	if r.Before(notBefore) {
		r = windowStart(notBefore, hour)
		if r.Before(notBefore) {
			r = r.AddDate(0, 0, 1)
		}
	}
	return r
}

// rotatePayload is the payload of a key.rotate job.
type rotatePayload struct {
	KeyID       string `json:"key_id"`
	FromVersion int64  `json:"from_version"`
	Reason      string `json:"reason"` // "scheduled" or "manual"
	Actor       string `json:"actor"`
}

// plan builds the cycle of p: notices at each lead time still ahead, and
// the rotation job (automatic) or the confirmation notice (manual).
func (s *Scheduler) plan(p models.RotationPolicy) models.RotationPlan {
	now := s.Now()
	r := p.NextRotationAt
	plan := models.RotationPlan{Policy: p}
	stamp := strconv.FormatInt(r.Unix(), 10)
	for _, lead := range ParseNoticeList(p.NoticeDays) {
		due := r.AddDate(0, 0, -lead)
		if due.Before(now) {
			continue // planned too late for this lead time
		}
		plan.Notices = append(plan.Notices, models.Notice{TenantID: p.TenantID, KeyID: p.KeyID, Kind: models.NoticeBeforeRotation,
			DedupeKey: "before:" + p.KeyID + ":" + stamp + ":" + strconv.Itoa(lead), RotationAt: &r, LeadDays: lead, DueAt: due})
	}
	if !p.Automatic {
		plan.Notices = append(plan.Notices, models.Notice{TenantID: p.TenantID, KeyID: p.KeyID, Kind: models.NoticeConfirm,
			DedupeKey: "confirm:" + p.KeyID + ":" + stamp, RotationAt: &r, DueAt: r})
		return plan
	}
	payload, _ := json.Marshal(rotatePayload{KeyID: p.KeyID, FromVersion: p.FromVersion, Reason: "scheduled", Actor: "system"})
	plan.RotateJob = &models.NewJob{Kind: models.JobKindRotate, TenantID: p.TenantID, RunKey: models.RotateRunKey(p.KeyID, p.FromVersion),
		Payload: string(payload), DueAt: r, MaxAttempts: 10}
	return plan
}

// defaultsFor returns a tenant's default policy, or the built-in one.
func (s *Scheduler) defaultsFor(ctx context.Context, tenantID string) (models.RotationDefaults, error) {
	d, err := s.DB.GetRotationDefaults(ctx, tenantID)
	if errors.Is(err, models.ErrNotFound) {
		return models.RotationDefaults{TenantID: tenantID, PeriodDays: DefaultRotationDays, NoticeDays: NoticeList(DefaultNoticeDays),
			Automatic: true, WindowHours: 24}, nil
	}
	if err != nil {
		return models.RotationDefaults{}, err
	}
	return *d, nil
}

// lastRotation is when the key's current version was made.
func (s *Scheduler) lastRotation(ctx context.Context, k *models.Key) time.Time {
	return s.versionTime(ctx, k, k.CurrentVersion, k.CreatedAt)
}

// versionTime is when a data-key version was made (fallback if unknown).
func (s *Scheduler) versionTime(ctx context.Context, k *models.Key, v int64, fallback time.Time) time.Time {
	at, _ := s.versionInfo(ctx, k, v, fallback)
	return at
}

// versionInfo is when a data-key version was made (fallback if unknown)
// and why ("renewal", "manual", ...; "" if unknown).
func (s *Scheduler) versionInfo(ctx context.Context, k *models.Key, v int64, fallback time.Time) (time.Time, string) {
	vs, err := s.DB.DataKeyVersions(ctx, k.TenantID, k.ID)
	if err == nil {
		for _, dv := range vs {
			if dv.Version == v {
				return dv.CreatedAt, dv.Reason
			}
		}
	}
	return fallback, ""
}

// ensurePolicy gives a key without a policy the tenant's default one.
func (s *Scheduler) ensurePolicy(ctx context.Context, k *models.Key) error {
	d, err := s.defaultsFor(ctx, k.TenantID)
	if err != nil {
		return err
	}
	last := s.lastRotation(ctx, k)
	p := models.RotationPolicy{KeyID: k.ID, TenantID: k.TenantID, PeriodDays: d.PeriodDays, NoticeDays: d.NoticeDays,
		Automatic: d.Automatic, WindowStartHour: d.WindowStartHour, WindowHours: d.WindowHours, FromVersion: k.CurrentVersion,
		HealthNotified: k.Health, LastRotatedAt: &last, UpdatedBy: "system"}
	p.NextRotationAt = nextRotation(last, p.PeriodDays, p.WindowStartHour, s.Now())
	return s.DB.SaveRotationPlan(ctx, s.plan(p), models.PlanWrite{Replace: true})
}

// Policy returns a key's policy, creating the default one if the key has
// none yet.
func (s *Scheduler) Policy(ctx context.Context, tenantID, keyID string) (*models.RotationPolicy, error) {
	p, err := s.DB.GetRotationPolicy(ctx, tenantID, keyID)
	if !errors.Is(err, models.ErrNotFound) {
		return p, err
	}
	k, err := s.DB.GetKey(ctx, tenantID, keyID)
	if err != nil {
		return nil, err
	}
	if err := s.ensurePolicy(ctx, k); err != nil {
		return nil, err
	}
	return s.DB.GetRotationPolicy(ctx, tenantID, keyID)
}

// SetPolicy replaces a key's policy and plans its next rotation from the
// last one: period days after it, in the preferred window (or the next
// window, if that date has passed). Postponements of the old plan end.
func (s *Scheduler) SetPolicy(ctx context.Context, tenantID, keyID string, by keysvc.RequestBy, in PolicyInput) (*models.RotationPolicy, error) {
	pp, err := parsePolicy(in)
	if err != nil {
		return nil, err
	}
	old, err := s.Policy(ctx, tenantID, keyID)
	if err != nil {
		return nil, err
	}
	k, err := s.DB.GetKey(ctx, tenantID, keyID)
	if err != nil {
		return nil, err
	}
	last := s.lastRotation(ctx, k)
	p := *old
	p.PeriodDays, p.NoticeDays, p.Automatic, p.KMSRotateOnDemand = pp.period, NoticeList(pp.notices), pp.auto, pp.onDemand
	p.WindowStartHour, p.WindowHours, p.FromVersion, p.PostponedDays, p.UpdatedBy = pp.start, pp.hours, k.CurrentVersion, 0, by.UserID
	p.NextRotationAt = nextRotation(last, p.PeriodDays, p.WindowStartHour, s.Now())
	audit := by.Audit("key.rotation_policy_set", map[string]string{"period_days": strconv.Itoa(p.PeriodDays), "notice_days": p.NoticeDays,
		"automatic": strconv.FormatBool(p.Automatic), "window_start_hour": strconv.Itoa(p.WindowStartHour), "window_hours": strconv.Itoa(p.WindowHours),
		"kms_rotate_on_demand": strconv.FormatBool(p.KMSRotateOnDemand), "next_rotation_at": p.NextRotationAt.Format(time.RFC3339)})
	if err := s.DB.SaveRotationPlan(ctx, s.plan(p), models.PlanWrite{Replace: true, Audit: &audit}); err != nil {
		return nil, err
	}
	s.Worker.Wake()
	return s.DB.GetRotationPolicy(ctx, tenantID, keyID)
}

// MaxPostponeDays is the provider's bound on postponing one rotation.
func (s *Scheduler) MaxPostponeDays(ctx context.Context) int {
	m, err := s.DB.ProviderSettings(ctx)
	if err == nil {
		if n, err := strconv.Atoi(m[settingMaxPostpone]); err == nil && n >= 0 {
			return n
		}
	}
	return DefaultMaxPostponeDays
}

// SetMaxPostponeDays sets the provider's bound on postponing one rotation
// (0 to 365 days; 0 turns postponing off).
func (s *Scheduler) SetMaxPostponeDays(ctx context.Context, by keysvc.RequestBy, days string) error {
	n, err := strconv.Atoi(strings.TrimSpace(days))
	if err != nil || n < 0 || n > 365 {
		return &keysvc.ValidationError{Field: "max_postpone_days", Message: "must be a whole number of days from 0 to 365"}
	}
	_, err = s.DB.SetProviderSettings(ctx, map[string]string{settingMaxPostpone: strconv.Itoa(n)}, by.Audit("provider.settings_updated", nil))
	return err
}

// Postpone moves a key's next rotation, and with it its remaining notices,
// days later, within the provider's bound for one rotation.
func (s *Scheduler) Postpone(ctx context.Context, tenantID, keyID string, by keysvc.RequestBy, days int) (*models.RotationPolicy, error) {
	p, err := s.Policy(ctx, tenantID, keyID)
	if err != nil {
		return nil, err
	}
	bound := s.MaxPostponeDays(ctx)
	if days < 1 || p.PostponedDays+days > bound {
		return nil, &keysvc.ValidationError{Field: "days", Message: fmt.Sprintf("can postpone this rotation by 1 to %d more days (at most %d in total)",
			max(bound-p.PostponedDays, 0), bound)}
	}
	from := p.NextRotationAt
	p.NextRotationAt = p.NextRotationAt.AddDate(0, 0, days)
	p.PostponedDays += days
	p.UpdatedBy = by.UserID
	audit := by.Audit("key.rotation_postponed", map[string]string{"days": strconv.Itoa(days), "from": from.Format(time.RFC3339),
		"to": p.NextRotationAt.Format(time.RFC3339)})
	if err := s.DB.SaveRotationPlan(ctx, s.plan(*p), models.PlanWrite{Replace: true, Audit: &audit}); err != nil {
		return nil, err
	}
	return s.DB.GetRotationPolicy(ctx, tenantID, keyID)
}

// Acknowledge records that a member read a notice.
func (s *Scheduler) Acknowledge(ctx context.Context, tenantID, noticeID string, by keysvc.RequestBy) error {
	return s.DB.AcknowledgeNotice(ctx, tenantID, noticeID, by.UserID, by.Audit("key.notice_acknowledged", nil))
}

// SetDefaults stores the tenant's default policy for new keys.
func (s *Scheduler) SetDefaults(ctx context.Context, tenantID string, by keysvc.RequestBy, in PolicyInput) error {
	pp, err := parsePolicy(in)
	if err != nil {
		return err
	}
	d := models.RotationDefaults{TenantID: tenantID, PeriodDays: pp.period, NoticeDays: NoticeList(pp.notices), Automatic: pp.auto,
		WindowStartHour: pp.start, WindowHours: pp.hours, UpdatedBy: by.UserID}
	return s.DB.SetRotationDefaults(ctx, d, by.Audit("tenant.rotation_defaults_set", map[string]string{
		"period_days": strconv.Itoa(d.PeriodDays), "notice_days": d.NoticeDays, "automatic": strconv.FormatBool(d.Automatic)}))
}

// Defaults returns the tenant's default policy (built-in if never set).
func (s *Scheduler) Defaults(ctx context.Context, tenantID string) (models.RotationDefaults, error) {
	return s.defaultsFor(ctx, tenantID)
}

// Tick is the scheduler's planning pass, run by every replica's worker:
// default policies for new keys, health notices, material-expiry notices,
// and the validation sweep job (KEYPORT_VALIDATION_INTERVAL). Each
// step is idempotent (unique run keys, conditional updates).
func (s *Scheduler) Tick(ctx context.Context) {
	keys, err := s.DB.KeysWithoutPolicy(ctx, 100)
	if err != nil {
		s.Logger.Warn("scheduler: keys without policy", "err", err)
	}
	for i := range keys {
		if err := s.ensurePolicy(ctx, &keys[i]); err != nil && !errors.Is(err, models.ErrConflict) {
			s.Logger.Warn("scheduler: default policy", "key_id", keys[i].ID, "err", err)
		}
	}
	s.notifyHealth(ctx)
	s.notifyExpiry(ctx)
	if s.SweepEvery > 0 {
		// One job per interval slot, whichever replica enqueues it first;
		// the slot starts are the same on every replica.
		slot := s.Now().UTC().Truncate(s.SweepEvery)
		if _, _, err := s.DB.EnqueueJob(ctx, models.NewJob{Kind: jobKindSweep, RunKey: SweepRunKey(slot),
			DueAt: slot, MaxAttempts: 1}); err != nil {
			s.Logger.Warn("scheduler: enqueue sweep", "err", err)
		}
	}
}

// SweepRunKey is the run key of the validation sweep of the interval slot
// starting at slot.
func SweepRunKey(slot time.Time) string {
	return "validate:" + strconv.FormatInt(slot.Unix(), 10)
}

const jobKindSweep = "validation.sweep"

// runSweep is the validation sweep as a job: one replica runs it per
// interval, whichever claims it.
func (s *Scheduler) runSweep(ctx context.Context, j *models.Job, l models.Lease) error {
	s.Keys.SweepOnce(ctx)
	return s.DB.CompleteJob(ctx, l, "swept", nil)
}

// CanRotate reports whether keys of this mode have a rotation (a data-key
// rotation for customer-managed keys, a renewal for keyport-held material).
// Rotators are set while wiring, before requests arrive.
func (s *Scheduler) CanRotate(mode models.Mode) bool {
	_, ok := s.rotators[mode]
	return ok
}

// splitList splits a list typed with commas, spaces or newlines.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
}
