package managed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"keyport/keysvc"
	"keyport/keysvc/jobs"
	"keyport/models"
)

// jobKindReupload re-imports expiring material before its ValidTo.
const jobKindReupload = "key.reupload"

// reuploadLead is how long before a material's expiry in KMS keyport
// re-imports it (when the key asks for automatic re-upload).
const reuploadLead = 7 * 24 * time.Hour

// Reupload imports the same sealed material again into its own KMS key,
// after it expired there or KMS lost it, with fresh import parameters and
// the key's expiry, then validates. materialID "" means the active one.
func (s *Service) Reupload(ctx context.Context, tenantID string, by keysvc.RequestBy, keyID, materialID string) (*OperationResult, error) {
	if _, _, err := s.kmsManagedKey(ctx, tenantID, keyID, models.StateEnabled, models.StateDisabled); err != nil {
		return nil, err
	}
	mat, err := s.materialOf(ctx, tenantID, keyID, materialID)
	if errors.Is(err, models.ErrNotFound) || (err == nil && (mat.KMSKeyARN == "" ||
		(mat.State != models.MaterialActive && mat.State != models.MaterialPrevious))) {
		return nil, &keysvc.ValidationError{Field: "material_id", Message: "choose a version of this key that was imported into KMS"}
	}
	if err != nil {
		return nil, err
	}
	op := &models.KeyOperation{TenantID: tenantID, KeyID: keyID, Kind: models.OpReupload, MaterialID: mat.ID, KMSKeyARN: mat.KMSKeyARN}
	return s.startOp(ctx, op, nil, by, map[string]string{"material": mat.ID, "fingerprint": mat.Fingerprint, "kms_key_arn": mat.KMSKeyARN})
}

// finishReupload ends a re-upload: the key is healthy again when it was
// the active material that came back.
func (s *Service) finishReupload(ctx context.Context, oc *opContext) error {
	op := oc.op
	if err := s.db.FinishOperation(ctx, op, models.AuditInput{Actor: op.Actor, Action: "key.reupload_completed",
		Details: map[string]string{"operation_id": op.ID, "material": op.MaterialID, "kms_key_arn": op.KMSKeyARN}}); err != nil {
		return err
	}
	op.State = models.OpDone
	active, err := s.db.ActiveMaterial(ctx, op.TenantID, op.KeyID)
	if err != nil || active.ID != op.MaterialID {
		return err
	}
	ok, none := models.HealthOK, ""
	k, err := s.db.UpdateKey(ctx, op.TenantID, op.KeyID, models.KeyUpdate{Health: &ok, HealthDetail: &none, Validated: true}, models.AuditInput{})
	if err != nil {
		return err
	}
	s.keys.ApplyKey(k)
	return nil
}

type reuploadPayload struct {
	TenantID   string `json:"tenant_id"`
	KeyID      string `json:"key_id"`
	MaterialID string `json:"material_id"`
}

// planReuploads enqueues, for every key that asks for it, the re-upload
// of its active material a week before it expires in KMS. The run key
// names the expiry, so each expiry gets one job whatever the replicas do.
// Every replica runs it on every tick: it reads the keys in one query and
// their jobs in one more (per 500 keys), and writes only jobs not yet
// enqueued.
func (s *Service) planReuploads(ctx context.Context) error {
	cands, err := s.db.ReuploadCandidates(ctx)
	if err != nil || len(cands) == 0 {
		return err
	}
	runKeys := make([]string, len(cands))
	for i, c := range cands {
		runKeys[i] = reuploadRunKey(c.MaterialID, c.ValidTo)
	}
	exist, err := s.db.ExistingRunKeys(ctx, runKeys)
	if err != nil {
		return err
	}
	for i, c := range cands {
		if exist[runKeys[i]] {
			continue
		}
		payload, _ := json.Marshal(reuploadPayload{TenantID: c.TenantID, KeyID: c.KeyID, MaterialID: c.MaterialID})
		if _, _, err := s.db.EnqueueJob(ctx, models.NewJob{Kind: jobKindReupload, TenantID: c.TenantID, Payload: string(payload),
			RunKey: runKeys[i], DueAt: c.ValidTo.Add(-reuploadLead)}); err != nil {
			return err
		}
	}
	return nil
}

// reuploadRunKey names the re-upload of one material before one expiry.
func reuploadRunKey(materialID string, validTo time.Time) string {
	return "reupload:" + materialID + ":" + validTo.UTC().Format(time.RFC3339)
}

// runReuploadJob re-imports a material on schedule.
func (s *Service) runReuploadJob(ctx context.Context, j *models.Job, l models.Lease) error {
	var p reuploadPayload
	if err := json.Unmarshal([]byte(j.Payload), &p); err != nil {
		return jobs.Permanent(fmt.Errorf("keysvc: reupload job payload: %w", err))
	}
	res, err := s.Reupload(ctx, p.TenantID, keysvc.RequestBy{UserID: "keyport:scheduler"}, p.KeyID, p.MaterialID)
	var ve *keysvc.ValidationError
	if errors.As(err, &ve) || errors.Is(err, keysvc.ErrKeyNotFound) {
		return s.db.CompleteJob(ctx, l, "skipped: "+err.Error(), nil)
	}
	if err != nil {
		return err
	}
	if res.Op.State == models.OpFailed {
		return jobs.Permanent(errors.New("keysvc: scheduled re-upload failed: " + res.Error))
	}
	return s.db.CompleteJob(ctx, l, "operation "+res.Op.ID, nil)
}
