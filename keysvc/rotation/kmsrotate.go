package rotation

// Rotating a customer-managed key's KMS key material on demand, as part of
// a rotation job (scheduler_rotate.go): KMS RotateKeyOnDemand per region,
// safe to retry, with refusals in keyport's words.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"keyport/keysvc/awskms"
	"keyport/keysvc/jobs"
	"keyport/models"
)

// kmsRefusedPrefix starts the last error of a job whose explicit KMS
// rotation KMS refused; the rest is a KMSMaterialError's message, which
// keyport wrote and which is safe to show.
const kmsRefusedPrefix = "keysvc: KMS key material not rotated: "

// KMSMaterialError is KMS refusing an explicit request to rotate a key's
// KMS key material (RequestKMSRotation). Message is keyport's words for
// what KMS answered, safe to show; no new data-key version was made.
type KMSMaterialError struct {
	Message string
}

func (e *KMSMaterialError) Error() string { return kmsRefusedPrefix + e.Message }

// kmsRefusal is why KMS did not rotate the material of one region's key.
type kmsRefusal struct {
	Region    string
	Reason    string // keyport's words, safe to show; never AWS's message
	Transient bool   // throttling or an outage: worth retrying
	Err       error  // classified, for the log
}

func (e *kmsRefusal) Error() string {
	if e.Err == nil {
		return "keysvc: kms material: " + e.text()
	}
	return "keysvc: kms material: " + e.text() + ": " + e.Err.Error()
}

func (e *kmsRefusal) Unwrap() error { return e.Err }

func (e *kmsRefusal) text() string {
	if e.Region == "" {
		return e.Reason
	}
	return "in " + e.Region + ", " + e.Reason
}

// kmsMaterialStep runs the KMS part of a rotation job and returns the
// notice's words for it. A refusal of a policy's on-demand rotation is
// reported and the data key still rotates (KMS limits on-demand rotations:
// retrying would not help, and the policy's rotation must not stall on
// it). A refusal of an explicit request fails the job before the data key
// rotates; throttling or an outage is retried.
//
// The first attempt (claims count attempts) cannot have rotated anything,
// so it rotates whatever KMS lists: a rotation made just before, by
// anyone, is not this job's. A later attempt (after a crash, an error or a
// lost lease) counts on-demand rotations since the request, or for a
// scheduled job since it was planned at the previous rotation, as its own.
func (s *Scheduler) kmsMaterialStep(ctx context.Context, j *models.Job, k *models.Key, p rotateJob) (string, error) {
	var since time.Time
	if j.Attempts > 1 {
		since = j.CreatedAt
		if p.RequestedAt != nil {
			since = *p.RequestedAt
		}
	}
	err := s.rotateKMSMaterial(ctx, k, since, j.ID, p.Actor)
	var r *kmsRefusal
	switch {
	case err == nil:
		return "KMS also rotated the KMS key material on demand.", nil
	case !errors.As(err, &r):
		return "", err // the store, or the worker stopping: retry
	}
	s.Logger.Warn("kms rotate on demand", "key_id", k.ID, "region", r.Region, "explicit", p.KMSMaterial, "err", r.Err)
	switch {
	case !p.KMSMaterial:
		return "KMS did not rotate the key material (" + r.text() + "); the data key was rotated.", nil
	case r.Transient:
		return "", err
	}
	msg := r.text()
	return "", jobs.Permanent(&KMSMaterialError{Message: strings.ToUpper(msg[:1]) + msg[1:] + "."})
}

// rotateKMSMaterial has KMS rotate the material of each region's KMS key
// on demand. With since set (a retry) it is safe to run again after a
// crash: a KMS key with an ON_DEMAND rotation dated at or after since is
// not rotated again (AWS allows few on-demand rotations per key). since is
// cut to the second, as KMS may date rotations to the second, and assumes
// keyport's clock and AWS's agree to about that. Replicas of multi-region
// keys are skipped: KMS rotates them with their primary. Regions are
// rotated in turn, so a refusal in one leaves the earlier ones rotated
// (KMS cannot undo it; the audit log records them).
func (s *Scheduler) rotateKMSMaterial(ctx context.Context, k *models.Key, since time.Time, jobID, actor string) error {
	since = since.Truncate(time.Second) // zero stays zero
	regions, err := s.DB.KeyRegions(ctx, k.TenantID, k.ID)
	if err != nil {
		return fmt.Errorf("keysvc: load key regions: %w", err)
	}
	primaries := 0
	for _, r := range regions {
		arn := r.KMSKeyARN
		client, err := s.Keys.KMS(ctx, k.TenantID, k.ConnectionID, r.Region)
		if err != nil {
			return err
		}
		d, err := client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &arn})
		if err != nil {
			return refusal(r.Region, "kms:DescribeKey", err)
		}
		if mr := d.KeyMetadata.MultiRegionConfiguration; mr != nil && mr.MultiRegionKeyType == types.MultiRegionKeyTypeReplica {
			continue
		}
		primaries++
		done := false
		if !since.IsZero() {
			if done, err = rotatedSince(ctx, client, arn, since); err != nil {
				return refusal(r.Region, "kms:ListKeyRotations", err)
			}
		}
		if !done {
			if _, err := client.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: &arn}); err != nil {
				return refusal(r.Region, "kms:RotateKeyOnDemand", err)
			}
		}
		if err := s.auditKMSRotation(ctx, k, r, jobID, actor, since, done); err != nil {
			return err
		}
	}
	if primaries == 0 {
		return &kmsRefusal{Reason: "every KMS key of this key is a multi-region replica, and KMS rotates a replica only with its primary key"}
	}
	return nil
}

// rotatedSince reports whether the KMS key was rotated on demand at or
// after since.
func rotatedSince(ctx context.Context, client *kms.Client, arn string, since time.Time) (bool, error) {
	pages := kms.NewListKeyRotationsPaginator(client, &kms.ListKeyRotationsInput{KeyId: &arn})
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return false, err
		}
		for _, r := range out.Rotations {
			if r.RotationType == types.RotationTypeOnDemand && r.RotationDate != nil && !r.RotationDate.Before(since) {
				return true, nil
			}
		}
	}
	return false, nil
}

// auditKMSRotation records key.kms_material_rotated for one KMS key. A
// retry that found the rotation already made (found) records it only if
// the attempt that made it crashed before recording it.
func (s *Scheduler) auditKMSRotation(ctx context.Context, k *models.Key, r models.KeyRegion, jobID, actor string, since time.Time, found bool) error {
	details := map[string]string{"region": r.Region, "kms_key_arn": r.KMSKeyARN, "job_id": jobID}
	if found {
		evs, err := s.DB.AuditEvents(ctx, models.TenantScope(k.TenantID),
			models.AuditFilter{Action: "key.kms_material_rotated", KeyID: k.ID, From: since})
		if err != nil {
			return fmt.Errorf("keysvc: read audit: %w", err)
		}
		for _, ev := range evs {
			var d map[string]string
			if json.Unmarshal([]byte(ev.Details), &d) == nil && d["job_id"] == jobID && d["kms_key_arn"] == r.KMSKeyARN {
				return nil
			}
		}
	}
	_, err := s.DB.AppendAudit(ctx, models.AuditInput{TenantID: k.TenantID, Actor: actor, Action: "key.kms_material_rotated",
		TargetType: "key", TargetID: k.ID, Details: details})
	return err
}

// refusal turns a failed KMS call into what the job and the user are told;
// a cancelled context stays as it is.
func refusal(region, action string, err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	c := awskms.ClassifyKMSError(err)
	r := &kmsRefusal{Region: region, Err: c}
	code := awskms.ErrorCode(err)
	switch {
	case code == "LimitExceededException":
		r.Reason = "the KMS key has used all the on-demand rotations AWS allows it"
	case code == "UnsupportedOperationException":
		r.Reason = "KMS cannot rotate this KMS key on demand (for example an asymmetric, HMAC or custom key store key)"
	case code == "NotFoundException":
		r.Reason = "KMS does not know the KMS key any more"
	case errors.Is(c, awskms.ErrAccessDenied):
		r.Reason = "KMS refused keyport: the key policy or IAM does not grant keyport " + action
	case errors.Is(c, awskms.ErrKeyDisabled):
		r.Reason = "the KMS key is disabled"
	case errors.Is(c, awskms.ErrKeyPendingDeletion):
		r.Reason = "the KMS key is pending deletion"
	case errors.Is(c, awskms.ErrKeyNotUsable):
		r.Reason = "the KMS key is not in a state KMS can rotate (a key with imported material needs new material imported first)"
	case errors.Is(c, awskms.ErrThrottled), errors.Is(c, awskms.ErrUnavailable):
		r.Reason, r.Transient = "KMS is throttling keyport or could not be reached", true
	case code != "":
		r.Reason = "KMS did not accept the request (AWS error code " + code + ")"
	default:
		r.Reason = "KMS did not accept the request"
	}
	return r
}
