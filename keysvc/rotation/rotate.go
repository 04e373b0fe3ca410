package rotation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"keyport/keysvc"
	"keyport/keysvc/jobs"
	"keyport/models"
)

// RotationResult is what a rotation request came to.
type RotationResult struct {
	JobID   string
	State   string // the job's state: done, pending (queued or retrying), running (another worker has it)
	Version int64  // the key's current version afterwards
	Already bool   // the rotation from the version the requester saw had already happened
}

// Errors a rotation request answers with when its rotation did not happen.
var (
	// ErrRotationFailed: the rotation's job failed for good (it was
	// refused, or its retries ran out); no new data-key version was made.
	ErrRotationFailed = errors.New("rotation: the rotation failed")
	// ErrRotationRetrying: the attempt this request ran failed; the job
	// retries it later by itself.
	ErrRotationRetrying = errors.New("rotation: the rotation failed and will be retried")
)

// RotationFailedError is a rotation request whose rotation failed: Final
// (errors.Is ErrRotationFailed) or waiting for its retry (errors.Is
// ErrRotationRetrying). Reason is the last attempt's error.
type RotationFailedError struct {
	JobID  string
	Final  bool
	Reason string
}

func (e *RotationFailedError) Error() string {
	if e.Final {
		return ErrRotationFailed.Error() + ": " + e.Reason
	}
	return ErrRotationRetrying.Error() + ": " + e.Reason
}

// Is makes the error match the sentinel of its kind.
func (e *RotationFailedError) Is(target error) bool {
	return (e.Final && target == ErrRotationFailed) || (!e.Final && target == ErrRotationRetrying)
}

// RequestRotation rotates a key now ("Rotate now", the data API). from is
// the version the requester saw (0: the current one): every request to
// rotate away from the same version is the same job, so a double click, an
// API call and a scheduled run at the same moment make one rotation. The
// job runs here when no other worker has it.
func (s *Scheduler) RequestRotation(ctx context.Context, tenantID, keyID string, by keysvc.RequestBy, from int64) (*RotationResult, error) {
	return s.requestRotation(ctx, tenantID, keyID, by, from, false)
}

// RequestKMSRotation rotates a customer-managed key's KMS key material now
// ("Rotate KMS key material now"): KMS RotateKeyOnDemand on the key of
// each region (the ARN and alias stay, KMS keeps the earlier material for
// decryption), then a new data-key version wrapped under the new material.
// from works as in RequestRotation. A refusal by KMS fails the request with
// a *KMSMaterialError and no new data-key version: the user asked for new
// KMS material, so a data key under the old one would not be what they
// asked for (a policy with KMSRotateOnDemand, by contrast, still rotates
// the data key and reports the refusal in the "rotated" notice).
//
// Its job has a run key of its own (the rotation's plus ":kms"): were it
// the scheduled rotation's job, a refusal would fail that job and the
// key's next scheduled rotation with it, and a request arriving while that
// job waits for a retry would not reach its payload. The data-key step
// still compares and sets the version, so it and a scheduled run or a
// "Rotate now" at the same moment make one new version (wrapped under the
// earlier material if the other one made it first).
func (s *Scheduler) RequestKMSRotation(ctx context.Context, tenantID, keyID string, by keysvc.RequestBy, from int64) (*RotationResult, error) {
	return s.requestRotation(ctx, tenantID, keyID, by, from, true)
}

func (s *Scheduler) requestRotation(ctx context.Context, tenantID, keyID string, by keysvc.RequestBy, from int64, kmsMaterial bool) (*RotationResult, error) {
	k, err := s.DB.GetKey(ctx, tenantID, keyID)
	if errors.Is(err, models.ErrNotFound) {
		return nil, keysvc.ErrKeyNotFound
	}
	if err != nil {
		return nil, err
	}
	if !s.CanRotate(k.Mode) {
		return nil, &keysvc.ValidationError{Field: "key", Message: "keys of this kind cannot be rotated from keyport yet"}
	}
	if k.TenantDataKeys {
		return nil, &keysvc.ValidationError{Field: "key", Message: "this key uses data keys you supply, so keyport does not make one: " +
			"upload the next encrypted data key on the key page"}
	}
	if kmsMaterial && k.Mode != models.ModeCMK {
		return nil, &keysvc.ValidationError{Field: "key", Message: "only a customer-managed KMS key's material is rotated here; " +
			"a key in a key store rotates its material in place from the key's page"}
	}
	if kmsMaterial && k.State != models.StateEnabled {
		return nil, &keysvc.ValidationError{Field: "key", Message: "the key is not enabled in keyport; enable it before rotating its KMS key material"}
	}
	if from == 0 {
		from = k.CurrentVersion
	}
	if from < k.CurrentVersion {
		return &RotationResult{State: models.JobDone, Version: k.CurrentVersion, Already: true}, nil
	}
	if from > k.CurrentVersion {
		return nil, &keysvc.ValidationError{Field: "from_version", Message: "names a version the key does not have yet"}
	}
	now := s.Now().UTC()
	payload, _ := json.Marshal(rotateJob{rotatePayload: rotatePayload{KeyID: keyID, FromVersion: from, Reason: "manual", Actor: by.UserID},
		KMSMaterial: kmsMaterial, DataKeyOnly: true, RequestedAt: &now})
	details := map[string]string{"from_version": strconv.FormatInt(from, 10)}
	runKey := models.RotateRunKey(keyID, from)
	if kmsMaterial {
		details["kms_material"] = "true"
		runKey += ":kms"
	}
	audit := by.Audit("key.rotation_requested", details)
	audit.TenantID, audit.TargetType, audit.TargetID = tenantID, "key", keyID
	j, err := s.DB.RequestJob(ctx, models.NewJob{Kind: models.JobKindRotate, TenantID: tenantID, RunKey: runKey,
		Payload: string(payload), MaxAttempts: 10}, &audit)
	if err != nil {
		return nil, err
	}
	already := j.State == models.JobDone
	if j.State == models.JobPending {
		if done, err := s.Worker.RunJob(ctx, j.ID); err == nil {
			j = done
		} else if !errors.Is(err, models.ErrLeaseLost) {
			return nil, err
		}
	}
	if j.State != models.JobDone && j.State != models.JobFailed {
		// Another request (or a worker) is running this very rotation:
		// wait a little for it, so every caller learns the outcome.
		j = s.awaitJob(ctx, j, 10*time.Second)
	}
	if msg, ok := strings.CutPrefix(j.LastError, kmsRefusedPrefix); ok && j.State == models.JobFailed {
		return nil, &KMSMaterialError{Message: msg}
	}
	switch {
	case j.State == models.JobFailed:
		return nil, &RotationFailedError{JobID: j.ID, Final: true, Reason: j.LastError}
	case j.State == models.JobPending && j.Attempts > 0 && j.LastError != "":
		return nil, &RotationFailedError{JobID: j.ID, Reason: j.LastError}
	}
	k, err = s.DB.GetKey(ctx, tenantID, keyID)
	if err != nil {
		return nil, err
	}
	return &RotationResult{JobID: j.ID, State: j.State, Version: k.CurrentVersion, Already: already}, nil
}

// awaitJob polls a job until it is done or failed, or wait has passed.
func (s *Scheduler) awaitJob(ctx context.Context, j *models.Job, wait time.Duration) *models.Job {
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		cur, err := s.DB.GetJob(ctx, j.ID)
		if err != nil {
			return j
		}
		j = cur
		if j.State == models.JobDone || j.State == models.JobFailed || (j.State == models.JobPending && j.Attempts > 0) {
			return j // finished, or failed an attempt and waits for its retry
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	return j
}

// rotateJob is a key.rotate job's payload: what every rotation carries
// (rotatePayload, all a scheduled job has) and what a request adds. The
// embedded struct keeps the JSON flat, so both read alike.
type rotateJob struct {
	rotatePayload
	// KMSMaterial: the request asked for new KMS key material too.
	KMSMaterial bool `json:"kms_material,omitempty"`
	// DataKeyOnly: the request ("Rotate now", the data API) asked for a new
	// data-key version under the key's current KMS key, whatever the key's
	// kind: "Rotate now" means the same for every key. Renewal and in-place
	// rotation of the material are separate actions on the key page.
	DataKeyOnly bool `json:"data_key_only,omitempty"`
	// RequestedAt: when the request came. On a later attempt, a KMS key
	// rotated on demand at or after it (or, without it, after the job was
	// made) counts as rotated by an earlier attempt.
	RequestedAt *time.Time `json:"requested_at,omitempty"`
}

// runRotate is the key.rotate job. It rotates only while the key is still
// on the version the job names: a retry after a crash, or a job that lost a
// race, finds the rotation done and goes on to plan the next cycle, so
// each rotation happens once. The KMS key material, when asked for, is
// rotated first, so that the new data key is wrapped under it. The next
// cycle, the "rotated" notice and the job's completion commit together.
func (s *Scheduler) runRotate(ctx context.Context, j *models.Job, l models.Lease) error {
	var p rotateJob
	if err := json.Unmarshal([]byte(j.Payload), &p); err != nil {
		return jobs.Permanent(fmt.Errorf("keysvc: rotate job payload: %w", err))
	}
	k, err := s.DB.GetKey(ctx, j.TenantID, p.KeyID)
	if errors.Is(err, models.ErrNotFound) {
		return s.DB.CompleteJob(ctx, l, "key deleted", nil)
	}
	if err != nil {
		return err
	}
	if k.State == models.StateDeleted || k.State == models.StatePendingDeletion {
		return s.DB.CompleteJob(ctx, l, "key "+string(k.State), nil)
	}
	pol, err := s.Policy(ctx, k.TenantID, k.ID)
	if err != nil {
		return err
	}
	if k.TenantDataKeys && k.CurrentVersion == p.FromVersion {
		return s.askForDataKey(ctx, k, pol, p.rotatePayload, l) // never replace the tenant's data key
	}
	detail := ""
	wantKMS := k.Mode == models.ModeCMK && (p.KMSMaterial || pol.KMSRotateOnDemand)
	if wantKMS && k.State != models.StateEnabled && p.KMSMaterial {
		return jobs.Permanent(&KMSMaterialError{Message: "The key is not enabled in keyport."})
	}
	if wantKMS && k.State == models.StateEnabled {
		// Also when the key has moved past FromVersion: after a crash
		// that followed this job's data-key rotation the KMS step finds
		// its own rotation and only reports it.
		if detail, err = s.kmsMaterialStep(ctx, j, k, p); err != nil {
			return err
		}
	}
	if k.CurrentVersion == p.FromVersion {
		rotate := s.rotators[k.Mode]
		if p.DataKeyOnly {
			rotate = s.rotators[models.ModeCMK] // the data-key rotation, for every kind of key
		}
		if rotate == nil {
			return jobs.Permanent(fmt.Errorf("keysvc: no rotation for %s keys yet", k.Mode))
		}
		var next int64
		if kr, ok := rotate.(keyRotator); ok {
			next, err = kr.RotateKeyFrom(ctx, k, p.FromVersion, p.Actor, p.Reason) // k was read just now
		} else {
			next, err = rotate.RotateFrom(ctx, k.TenantID, k.ID, p.FromVersion, p.Actor, p.Reason)
		}
		if err != nil && !errors.Is(err, keysvc.ErrRotationRaced) {
			return fmt.Errorf("keysvc: rotate key: %w", err)
		}
		if err == nil && next == p.FromVersion+1 && (k.Mode == models.ModeCMK || p.DataKeyOnly) && !wantKMS {
			// This job made the data-key version, now, for its own
			// reason, and nothing else touched the key's policy since
			// it read it: the next cycle needs no read of what the
			// store has just said.
			k.CurrentVersion = next
			return s.afterRotationWith(ctx, k, pol, p.rotatePayload, &l, detail, &madeVersion{at: s.Now(), reason: p.Reason})
		}
		if k, err = s.DB.GetKey(ctx, j.TenantID, p.KeyID); err != nil {
			return err
		}
		if k.CurrentVersion == p.FromVersion {
			return errors.New("keysvc: rotation raced but the key did not change; retrying")
		}
	}
	return s.afterRotation(ctx, k, p.rotatePayload, &l, detail)
}

// keyRotator is a Rotator that can take the key its caller has just
// read instead of reading it again (keysvc.Service).
type keyRotator interface {
	RotateKeyFrom(ctx context.Context, k *models.Key, from int64, actor, reason string) (int64, error)
}

// madeVersion is the version a rotation job has just made itself: when
// and why.
type madeVersion struct {
	at     time.Time
	reason string
}

// afterRotation plans the next cycle of a key that moved past
// p.FromVersion and queues the "rotated" notice, with what KMS did to the
// key material (kmsDetail) if it was asked.
func (s *Scheduler) afterRotation(ctx context.Context, k *models.Key, p rotatePayload, l *models.Lease, kmsDetail string) error {
	pol, err := s.Policy(ctx, k.TenantID, k.ID)
	if err != nil {
		return err
	}
	return s.afterRotationWith(ctx, k, pol, p, l, kmsDetail, nil)
}

// afterRotationWith is afterRotation with the key's policy as read in
// this job, and the new version when the job made it itself (nil: read
// it from the store).
func (s *Scheduler) afterRotationWith(ctx context.Context, k *models.Key, pol *models.RotationPolicy, p rotatePayload, l *models.Lease,
	kmsDetail string, made *madeVersion) error {
	newVersion := p.FromVersion + 1
	var rotatedAt time.Time
	var why string
	if made != nil {
		rotatedAt, why = made.at, made.reason
	} else {
		rotatedAt, why = s.versionInfo(ctx, k, newVersion, s.Now())
	}
	if pol.FromVersion <= p.FromVersion {
		pol.FromVersion = k.CurrentVersion
		pol.LastRotatedAt = &rotatedAt
		pol.PostponedDays = 0
		pol.NextRotationAt = nextRotation(rotatedAt, pol.PeriodDays, pol.WindowStartHour, s.Now())
	}
	n := models.Notice{TenantID: k.TenantID, KeyID: k.ID, Kind: models.NoticeRotated,
		DedupeKey: "rotated:" + k.ID + ":v" + strconv.FormatInt(newVersion, 10), Detail: kmsDetail}
	mail, err := s.noticeMail(ctx, k, pol, n, NoticeMail{Kind: models.NoticeRotated, FromVersion: p.FromVersion, NewVersion: newVersion,
		Reason: p.Reason, RotatedAt: rotatedAt, KMSDetail: kmsDetail, Renewal: why == "renewal"})
	if err != nil {
		return err
	}
	return s.DB.SaveRotationPlan(ctx, s.plan(*pol), models.PlanWrite{Lease: l, Replace: true, Sent: []models.Notice{n}, Mail: mail})
}
