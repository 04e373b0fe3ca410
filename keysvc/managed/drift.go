package managed

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"keyport/keysvc"
	"keyport/keysvc/awskms"
	"keyport/models"
)

// Drift fields: what keyport compares with KMS.
const (
	DriftAlias    = "alias"    // the alias names the active material's KMS key
	DriftState    = "state"    // the active KMS key is enabled exactly when the key is
	DriftMaterial = "material" // the active KMS key has its material
	DriftExpiry   = "expiry"   // the material's expiry in KMS is the one recorded
	DriftOrigin   = "origin"   // the KMS key is EXTERNAL
	DriftTags     = "tags"     // the KMS key carries keyport's key tag
)

// Drift reconciliations.
const (
	ReconcileAdopt   = "adopt"   // keyport takes KMS's value
	ReconcileRestore = "restore" // KMS gets keyport's value back
)

// driftReconciles reports whether a field's difference can be reconciled
// by action (ReconcileAdopt or ReconcileRestore). The key page words the
// offers (views.DriftActions) and offers no more than this allows.
func driftReconciles(field, action string) bool {
	switch action {
	case ReconcileAdopt:
		return field == DriftState || field == DriftExpiry
	case ReconcileRestore:
		return field == DriftAlias || field == DriftState || field == DriftMaterial || field == DriftExpiry || field == DriftTags
	}
	return false
}

// CheckDrift compares a managed key with KMS, stores the differences (an
// audit event when they change) and sets the key's health to DRIFT while
// there are any.
func (s *Service) CheckDrift(ctx context.Context, tenantID string, by keysvc.RequestBy, keyID string) ([]models.KeyDrift, error) {
	k, mk, err := s.managedKey(ctx, tenantID, keyID, models.StateEnabled, models.StateDisabled)
	if err != nil {
		return nil, err
	}
	if mk.Held {
		return nil, nil // nothing in KMS to drift from
	}
	active, err := s.db.ActiveMaterial(ctx, tenantID, keyID)
	if err != nil {
		return nil, err
	}
	client, err := s.storeClient(ctx, tenantID, mk)
	if err != nil {
		return nil, err
	}
	var ds []models.KeyDrift
	add := func(field, recorded, actual string) {
		if recorded != actual {
			ds = append(ds, models.KeyDrift{Field: field, Recorded: recorded, Actual: actual})
		}
	}
	alias, err := client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(mk.AliasName)})
	switch {
	case err == nil:
		add(DriftAlias, active.KMSKeyARN, aws.ToString(alias.KeyMetadata.Arn))
	case awskms.ErrorCode(err) == "NotFoundException":
		add(DriftAlias, active.KMSKeyARN, "no such alias")
	default:
		return nil, awskms.ClassifyKMSError(err)
	}
	out, err := client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(active.KMSKeyARN)})
	if awskms.ErrorCode(err) == "NotFoundException" {
		add(DriftState, kmsStateFor(k.State), "deleted")
	} else if err != nil {
		return nil, awskms.ClassifyKMSError(err)
	} else {
		md := out.KeyMetadata
		if md.KeyState == types.KeyStatePendingImport {
			add(DriftMaterial, "imported", "missing (pending import)")
		} else {
			add(DriftState, kmsStateFor(k.State), string(md.KeyState))
			add(DriftExpiry, timeWord(active.ValidTo), timeWord(md.ValidTo))
		}
		add(DriftOrigin, string(types.OriginTypeExternal), string(md.Origin))
		tags, err := client.ListResourceTags(ctx, &kms.ListResourceTagsInput{KeyId: aws.String(active.KMSKeyARN)})
		if err == nil {
			got := "missing"
			for _, t := range tags.Tags {
				if aws.ToString(t.TagKey) == tagKey {
					got = aws.ToString(t.TagValue)
				}
			}
			add(DriftTags, keyID, got)
		}
	}
	fields := make([]string, len(ds))
	for i, d := range ds {
		fields[i] = d.Field
	}
	if _, err := s.db.ReplaceKeyDrift(ctx, tenantID, keyID, ds, by.Audit("key.drift_checked",
		map[string]string{"differences": strings.Join(fields, ",")})); err != nil {
		return nil, err
	}
	health, detail := k.Health, k.HealthDetail
	if len(ds) > 0 {
		health, detail = models.HealthDrift, "KMS differs from what keyport recorded: "+strings.Join(fields, ", ")+"."
	} else if k.Health == models.HealthDrift {
		health, detail = models.HealthOK, ""
	}
	if health != k.Health || detail != k.HealthDetail {
		k2, err := s.db.UpdateKey(ctx, tenantID, keyID, models.KeyUpdate{Health: &health, HealthDetail: &detail}, models.AuditInput{})
		if err != nil {
			return nil, err
		}
		s.keys.ApplyKey(k2)
	}
	return ds, nil
}

func kmsStateFor(state models.KeyState) string {
	if state == models.StateDisabled {
		return string(types.KeyStateDisabled)
	}
	return string(types.KeyStateEnabled)
}

func timeWord(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.UTC().Truncate(time.Second).Format(time.RFC3339)
}

// ReconcileDrift applies one reconciliation to one field, then checks
// again.
func (s *Service) ReconcileDrift(ctx context.Context, tenantID string, by keysvc.RequestBy, keyID, field, action string) error {
	k, mk, err := s.kmsManagedKey(ctx, tenantID, keyID, models.StateEnabled, models.StateDisabled)
	if err != nil {
		return err
	}
	if !driftReconciles(field, action) {
		return &keysvc.ValidationError{Field: "action", Message: "this difference cannot be reconciled that way"}
	}
	active, err := s.db.ActiveMaterial(ctx, tenantID, keyID)
	if err != nil {
		return err
	}
	client, err := s.storeClient(ctx, tenantID, mk)
	if err != nil {
		return err
	}
	arn := aws.String(active.KMSKeyARN)
	switch field + "/" + action {
	case DriftAlias + "/" + ReconcileRestore:
		err = moveAlias(ctx, client, mk.AliasName, active.KMSKeyARN)
	case DriftState + "/" + ReconcileRestore:
		if k.State == models.StateEnabled {
			_, err = client.EnableKey(ctx, &kms.EnableKeyInput{KeyId: arn})
		} else {
			_, err = client.DisableKey(ctx, &kms.DisableKeyInput{KeyId: arn})
		}
	case DriftState + "/" + ReconcileAdopt:
		md, derr := client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: arn})
		if derr != nil {
			return awskms.ClassifyKMSError(derr)
		}
		st := map[types.KeyState]models.KeyState{types.KeyStateEnabled: models.StateEnabled, types.KeyStateDisabled: models.StateDisabled}[md.KeyMetadata.KeyState]
		if st == "" {
			return &keysvc.ValidationError{Field: "action", Message: "KMS's state " + string(md.KeyMetadata.KeyState) + " has no keyport equivalent to adopt"}
		}
		k2, uerr := s.db.UpdateKey(ctx, tenantID, keyID, models.KeyUpdate{State: &st, BumpEpoch: true}, by.Audit("key.drift_adopted", map[string]string{"field": field, "state": string(st)}))
		if uerr != nil {
			return uerr
		}
		s.keys.ApplyKey(k2)
		s.keys.PurgeKey(tenantID, keyID)
	case DriftMaterial + "/" + ReconcileRestore, DriftExpiry + "/" + ReconcileRestore:
		res, rerr := s.Reupload(ctx, tenantID, by, keyID, active.ID)
		if rerr == nil && !res.Done() {
			rerr = errors.New("keysvc: re-upload did not finish: " + res.Error)
		}
		err = rerr
	case DriftExpiry + "/" + ReconcileAdopt:
		md, derr := client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: arn})
		if derr != nil {
			return awskms.ClassifyKMSError(derr)
		}
		err = s.db.MaterialImported(ctx, tenantID, active.ID, md.KeyMetadata.ValidTo, &models.AuditInput{TenantID: tenantID, Actor: by.UserID,
			Action: "key.drift_adopted", TargetType: "key", TargetID: keyID, Details: map[string]string{"field": field, "valid_to": timeWord(md.KeyMetadata.ValidTo)}})
	case DriftTags + "/" + ReconcileRestore:
		_, err = client.TagResource(ctx, &kms.TagResourceInput{KeyId: arn, Tags: []types.Tag{{TagKey: aws.String(tagKey), TagValue: aws.String(keyID)}}})
	}
	if err != nil {
		return awskms.ClassifyKMSError(err)
	}
	if _, err := s.db.AppendAudit(ctx, models.AuditInput{TenantID: tenantID, Actor: by.UserID, RequestID: by.RequestID, Action: "key.drift_reconciled",
		TargetType: "key", TargetID: keyID, Details: map[string]string{"field": field, "action": action}}); err != nil {
		return err
	}
	_, err = s.CheckDrift(ctx, tenantID, by, keyID)
	return err
}

// driftSweep compares every live managed key with KMS, at most hourly per
// process.
func (s *Service) driftSweep(ctx context.Context) error {
	now := s.now()
	lc := s.lifecycle()
	lc.mu.Lock()
	due := lc.lastDriftSweep.IsZero() || now.Sub(lc.lastDriftSweep) >= time.Hour
	if due {
		lc.lastDriftSweep = now
	}
	lc.mu.Unlock()
	if !due {
		return nil
	}
	if err := s.db.ExpireImportRequests(ctx); err != nil {
		return err
	}
	ids, err := s.db.ManagedKeyIDs(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := s.CheckDrift(ctx, id[0], keysvc.RequestBy{UserID: "keyport:drift"}, id[1]); err != nil && ctx.Err() == nil {
			s.log.Warn("drift check", "key_id", id[1], "err", err)
		}
	}
	return nil
}
