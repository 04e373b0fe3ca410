package keysvc

// KMS automatic rotation of a registered customer-managed key (CleverTap:
// "the rotation frequency can be configured in the customer KMS during key
// creation or modified later"): read with GetKeyRotationStatus, set with
// EnableKeyRotation and its RotationPeriodInDays. KMS keeps every earlier
// material for decryption, so keyport's wrapped data keys stay readable.

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"keyport/keysvc/awskms"
	"keyport/models"
)

// KMS automatic rotation periods, as AWS bounds RotationPeriodInDays.
const (
	MinKMSRotationDays = 90
	MaxKMSRotationDays = 2560
)

// KMSAutoRotation is what KMS says about the automatic rotation of one
// region's KMS key of a key.
type KMSAutoRotation struct {
	Region string
	ARN    string
	// Verifiable is false when KMS did not answer: Detail says why (most
	// often keyport is not granted kms:GetKeyRotationStatus).
	Verifiable   bool
	Enabled      bool
	PeriodDays   int
	NextRotation *time.Time
	Detail       string
}

// KMSAutoRotationStatus reads the automatic rotation of each region's KMS
// key of a tenant's customer-managed key.
func (s *Service) KMSAutoRotationStatus(ctx context.Context, tenantID, keyID string) ([]KMSAutoRotation, error) {
	k, regions, err := s.cmkRegions(ctx, tenantID, keyID)
	if err != nil {
		return nil, err
	}
	out := make([]KMSAutoRotation, 0, len(regions))
	for _, r := range regions {
		st := KMSAutoRotation{Region: r.Region, ARN: r.KMSKeyARN}
		client, err := s.dp.kmsFor(ctx, tenantID, k.ConnectionID, r.Region)
		if err == nil {
			var res *kms.GetKeyRotationStatusOutput
			res, err = client.GetKeyRotationStatus(ctx, &kms.GetKeyRotationStatusInput{KeyId: aws.String(r.KMSKeyARN)})
			if err == nil {
				st.Verifiable, st.Enabled = true, res.KeyRotationEnabled
				st.PeriodDays, st.NextRotation = int(aws.ToInt32(res.RotationPeriodInDays)), res.NextRotationDate
			}
		}
		if err != nil {
			st.Detail = autoRotationFailure(err, "kms:GetKeyRotationStatus")
		}
		out = append(out, st)
	}
	return out, nil
}

// kmsRotationTimeout bounds the reads of one key's KMS automatic rotation:
// a slow region shows as not verifiable rather than holding up a sweep.
const kmsRotationTimeout = 3 * time.Second

// RefreshKMSAutoRotation reads the automatic rotation of each region's KMS
// key of a tenant's customer-managed key and records it, so the key page
// shows it without calling KMS on every view. Validation (the sweep and
// "Check now"), registration and enabling the rotation refresh it; other
// modes have nothing to record.
func (s *Service) RefreshKMSAutoRotation(ctx context.Context, tenantID, keyID string) error {
	sctx, cancel := context.WithTimeout(ctx, kmsRotationTimeout)
	defer cancel()
	st, err := s.KMSAutoRotationStatus(sctx, tenantID, keyID)
	var ve *ValidationError
	if errors.As(err, &ve) { // not a customer-managed key
		return nil
	}
	if err != nil {
		return err
	}
	rs := make([]models.KMSRotationRecord, 0, len(st))
	for _, r := range st {
		rs = append(rs, models.KMSRotationRecord{Region: r.Region, KMSKeyARN: r.ARN, Verifiable: r.Verifiable, Enabled: r.Enabled,
			PeriodDays: r.PeriodDays, NextRotationAt: r.NextRotation, Detail: r.Detail})
	}
	return s.db.SetKMSRotation(ctx, tenantID, keyID, rs, s.now())
}

// refreshKMSAutoRotation is RefreshKMSAutoRotation for callers whose own
// work succeeded already: a failure is logged, not returned.
func (s *Service) refreshKMSAutoRotation(ctx context.Context, tenantID, keyID string) {
	if err := s.RefreshKMSAutoRotation(ctx, tenantID, keyID); err != nil && ctx.Err() == nil {
		s.log.Warn("record kms automatic rotation", "tenant_id", tenantID, "key_id", keyID, "err", err)
	}
}

// EnableKMSAutoRotation turns on KMS automatic rotation of every region's
// KMS key of a tenant's customer-managed key, every periodDays (90 to
// 2,560) days, or changes the period. Replicas of a multi-region key
// follow their primary and are skipped, as KMS requires. EnableKeyRotation
// is idempotent, so a request that failed in one region can be sent again;
// the regions it did change are audited (key.kms_auto_rotation_enabled)
// either way.
func (s *Service) EnableKMSAutoRotation(ctx context.Context, tenantID, keyID string, by RequestBy, periodDays string) error {
	days, err := strconv.Atoi(strings.TrimSpace(periodDays))
	if err != nil || days < MinKMSRotationDays || days > MaxKMSRotationDays {
		return &ValidationError{Field: "kms_rotation_days", Message: "must be a whole number of days from 90 to 2,560 (what KMS allows)"}
	}
	k, regions, err := s.cmkRegions(ctx, tenantID, keyID)
	if err != nil {
		return err
	}
	var done []string
	var failed error
	seen := map[string]bool{}
	for _, r := range regions {
		a, err := awskms.ParseKeyARN("kms_key_arn", r.KMSKeyARN)
		if err == nil && strings.HasPrefix(a.KeyID, "mrk-") {
			if seen[a.KeyID] {
				continue // a replica: KMS rotates it with its primary
			}
			seen[a.KeyID] = true
		}
		client, err := s.dp.kmsFor(ctx, tenantID, k.ConnectionID, r.Region)
		if err == nil {
			_, err = client.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: aws.String(r.KMSKeyARN), RotationPeriodInDays: aws.Int32(int32(days))})
		}
		if err != nil {
			failed = &ValidationError{Field: "kms_rotation_days", Message: "KMS did not enable automatic rotation in " + r.Region + ": " +
				autoRotationFailure(err, "kms:EnableKeyRotation")}
			break
		}
		done = append(done, r.Region)
	}
	if len(done) > 0 {
		s.refreshKMSAutoRotation(ctx, tenantID, keyID)
		audit := by.Audit("key.kms_auto_rotation_enabled", map[string]string{"period_days": strconv.Itoa(days), "regions": strings.Join(done, ",")})
		audit.TenantID, audit.TargetType, audit.TargetID = tenantID, "key", keyID
		if _, err := s.db.AppendAudit(ctx, audit); err != nil {
			return errors.Join(err, failed)
		}
	}
	return failed
}

// cmkRegions loads a tenant's customer-managed key and its regions.
func (s *Service) cmkRegions(ctx context.Context, tenantID, keyID string) (*models.Key, []models.KeyRegion, error) {
	k, err := s.db.GetKey(ctx, tenantID, keyID)
	if errors.Is(err, models.ErrNotFound) {
		return nil, nil, ErrKeyNotFound
	}
	if err != nil {
		return nil, nil, err
	}
	if k.Mode != models.ModeCMK {
		return nil, nil, &ValidationError{Field: "key", Message: "KMS automatic rotation applies to customer-managed keys; a key in a key store rotates its material from its page"}
	}
	regions, err := s.db.KeyRegions(ctx, tenantID, keyID)
	if err != nil {
		return nil, nil, err
	}
	return k, regions, nil
}

// autoRotationFailure says in a tenant's words why a rotation call failed.
func autoRotationFailure(err error, action string) string {
	code := errCode(err)
	cl := awskms.ClassifyKMSError(err)
	switch {
	case errors.Is(cl, awskms.ErrAccessDenied):
		if action == "kms:GetKeyRotationStatus" {
			return "not verifiable without kms:GetKeyRotationStatus (KMS refused it: " + code + "). Grant it to keyport in the key policy to see it here."
		}
		return "keyport is not allowed " + action + " (" + code + "). Grant it in the key policy, or set the rotation in the AWS console."
	case code == "UnsupportedOperationException":
		return "KMS does not rotate this key automatically (imported key material, an asymmetric or HMAC key, or a custom key store)."
	case code == "ValidationException":
		return "KMS refused the period (" + code + "); it must be from 90 to 2,560 days."
	case errors.Is(cl, awskms.ErrKeyDisabled):
		return "the KMS key is disabled; enable it first."
	case errors.Is(cl, awskms.ErrThrottled), errors.Is(cl, awskms.ErrUnavailable):
		return "KMS could not be reached (" + code + "); try again in a minute."
	}
	return "KMS refused " + action + " (" + code + ")."
}
