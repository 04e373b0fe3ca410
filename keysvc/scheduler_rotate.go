package keysvc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"

	"keyport/models"
)

// RotationResult is what a rotation request came to.
type RotationResult struct {
	JobID   string
	State   string // the job's state: done, pending (queued or retrying), running (another worker has it)
	Version int64  // the key's current version afterwards
	Already bool   // the rotation from the version the requester saw had already happened
	Error   string // the last attempt's error, if it failed
}

// RequestRotation rotates a key now ("Rotate now", the data API). from is
// the version the requester saw (0: the current one): every request to
// rotate away from the same version is the same job, so a double click, an
// API call and a scheduled run at the same moment make one rotation. The
// job runs here when no other worker has it.
func (s *Scheduler) RequestRotation(ctx context.Context, tenantID, keyID string, by RequestBy, from int64) (*RotationResult, error) {
	k, err := s.DB.GetKey(ctx, tenantID, keyID)
	if errors.Is(err, models.ErrNotFound) {
		return nil, ErrKeyNotFound
	}
	if err != nil {
		return nil, err
	}
	if _, ok := s.rotators[k.Mode]; !ok {
		return nil, &ValidationError{Field: "key", Message: "keys of this kind cannot be rotated from keyport yet"}
	}
	if from == 0 {
		from = k.CurrentVersion
	}
	if from < k.CurrentVersion {
		return &RotationResult{State: models.JobDone, Version: k.CurrentVersion, Already: true}, nil
	}
	if from > k.CurrentVersion {
		return nil, &ValidationError{Field: "from_version", Message: "names a version the key does not have yet"}
	}
	payload, _ := json.Marshal(rotatePayload{KeyID: keyID, FromVersion: from, Reason: "manual", Actor: by.UserID})
	audit := by.audit("key.rotation_requested", map[string]string{"from_version": strconv.FormatInt(from, 10)})
	audit.TenantID, audit.TargetType, audit.TargetID = tenantID, "key", keyID
	j, err := s.DB.RequestJob(ctx, models.NewJob{Kind: models.JobKindRotate, TenantID: tenantID, RunKey: models.RotateRunKey(keyID, from),
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
	k, err = s.DB.GetKey(ctx, tenantID, keyID)
	if err != nil {
		return nil, err
	}
	res := &RotationResult{JobID: j.ID, State: j.State, Version: k.CurrentVersion, Error: j.LastError}
	res.Already = already
	return res, nil
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

// runRotate is the key.rotate job. It rotates only while the key is still
// on the version the job names: a retry after a crash, or a job that lost a
// race, finds the rotation done and goes on to plan the next cycle, so
// each rotation happens once. The next cycle, the "rotated" notice and the
// job's completion commit together.
func (s *Scheduler) runRotate(ctx context.Context, j *models.Job, l models.Lease) error {
	var p rotatePayload
	if err := json.Unmarshal([]byte(j.Payload), &p); err != nil {
		return Permanent(fmt.Errorf("keysvc: rotate job payload: %w", err))
	}
	k, err := s.DB.GetKey(ctx, j.TenantID, p.KeyID)
	if errors.Is(err, models.ErrNotFound) {
		return s.DB.CompleteJob(ctx, l, "key deleted", nil)
	}
	if err != nil {
		return err
	}
	if k.State == models.StateDeleted || k.State == models.StatePendingDeletion {
		return s.DB.CompleteJob(ctx, l, "key "+k.State, nil)
	}
	if k.CurrentVersion == p.FromVersion {
		rotate := s.rotators[k.Mode]
		if rotate == nil {
			return Permanent(fmt.Errorf("keysvc: no rotation for %s keys yet", k.Mode))
		}
		_, err := rotate(ctx, k.TenantID, k.ID, p.FromVersion, p.Actor, p.Reason)
		if err != nil && !errors.Is(err, ErrRotationRaced) {
			return fmt.Errorf("keysvc: rotate key: %w", err)
		}
		if k, err = s.DB.GetKey(ctx, j.TenantID, p.KeyID); err != nil {
			return err
		}
		if k.CurrentVersion == p.FromVersion {
			return errors.New("keysvc: rotation raced but the key did not change; retrying")
		}
	}
	return s.afterRotation(ctx, k, p, &l)
}

// afterRotation plans the next cycle of a key that moved past
// p.FromVersion and queues the "rotated" notice.
func (s *Scheduler) afterRotation(ctx context.Context, k *models.Key, p rotatePayload, l *models.Lease) error {
	pol, err := s.Policy(ctx, k.TenantID, k.ID)
	if err != nil {
		return err
	}
	newVersion := p.FromVersion + 1
	rotatedAt := s.versionTime(ctx, k, newVersion)
	detail := ""
	if pol.KMSRotateOnDemand && k.Mode == models.ModeCMK {
		detail = s.kmsRotateOnDemand(ctx, k)
	}
	if pol.FromVersion <= p.FromVersion {
		pol.FromVersion = k.CurrentVersion
		pol.LastRotatedAt = &rotatedAt
		pol.PostponedDays = 0
		pol.NextRotationAt = nextRotation(rotatedAt, pol.PeriodDays, pol.WindowStartHour, s.Now())
	}
	n := models.Notice{TenantID: k.TenantID, KeyID: k.ID, Kind: models.NoticeRotated,
		DedupeKey: "rotated:" + k.ID + ":v" + strconv.FormatInt(newVersion, 10), Detail: detail}
	mail, err := s.noticeMail(ctx, k, pol, n, NoticeMail{Kind: models.NoticeRotated, FromVersion: p.FromVersion, NewVersion: newVersion,
		Reason: p.Reason, RotatedAt: rotatedAt, KMSDetail: detail})
	if err != nil {
		return err
	}
	return s.DB.SaveRotationPlan(ctx, s.plan(*pol), models.PlanWrite{Lease: l, Replace: true, Sent: []models.Notice{n}, Mail: mail})
}

// versionTime is when a data-key version was made (now if unknown).
func (s *Scheduler) versionTime(ctx context.Context, k *models.Key, v int64) time.Time {
	vs, err := s.DB.DataKeyVersions(ctx, k.TenantID, k.ID)
	if err == nil {
		for _, dv := range vs {
			if dv.Version == v {
				return dv.CreatedAt
			}
		}
	}
	return s.Now()
}

// kmsRotateOnDemand asks the tenant's KMS to rotate the key material of
// each region's key too, where the tenant opted in. KMS limits on-demand
// rotations, so a refusal is reported in the notice, not retried.
func (s *Scheduler) kmsRotateOnDemand(ctx context.Context, k *models.Key) string {
	regions, err := s.DB.KeyRegions(ctx, k.TenantID, k.ID)
	if err != nil {
		return "KMS key material was not rotated: keyport could not read the key's regions."
	}
	for _, r := range regions {
		client, err := s.Keys.dp.kmsFor(ctx, k.TenantID, k.ConnectionID, r.Region)
		if err == nil {
			arn := r.KMSKeyARN
			_, err = client.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: &arn})
		}
		if err != nil {
			s.Logger.Warn("kms rotate on demand", "key_id", k.ID, "region", r.Region, "err", ClassifyKMSError(err))
			return "KMS did not rotate the key material in " + r.Region + " (" + ClassifyKMSError(err).Error() + "); the data key was rotated."
		}
	}
	return "KMS also rotated the KMS key material on demand."
}
