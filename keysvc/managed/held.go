package managed

import (
	"context"
	"strconv"

	"keyport/keysvc"
	"keyport/models"
)

// ErrHeldMaterial: the action works on a KMS key, and this key has none.
var ErrHeldMaterial = &keysvc.ValidationError{Field: "key", Message: "keyport keeps this key's material for the provider's use and it has no KMS key; " +
	"rotate its data key, export, deactivate or delete it instead"}

// commitHeld is the one step of creating a held key: data-key version 1,
// wrapped under the material, committed with the material active and the
// key ENABLED. Safe to run again: the commit compares and sets.
func (s *Service) commitHeld(ctx context.Context, oc *opContext) error {
	op := oc.op
	k, err := s.db.GetKey(ctx, op.TenantID, op.KeyID)
	if err != nil {
		return err
	}
	next := k.CurrentVersion + 1
	w, err := s.keys.WrapHeld(ctx, op.TenantID, op.KeyID, next, op.MaterialID)
	if err != nil {
		return err
	}
	k, err = s.db.CommitKeyVersion(ctx, models.VersionCommit{Op: op, Region: keysvc.HeldRegion, KMSKeyARN: keysvc.HeldName(op.MaterialID),
		MaterialID: op.MaterialID, FromVersion: k.CurrentVersion,
		Version: models.DataKeyVersion{Version: next, Reason: "create", CreatedBy: op.Actor},
		Wraps:   []models.DataKeyWrap{w},
		Audit: models.AuditInput{Actor: op.Actor, Action: "key." + op.Kind + "_completed", Details: map[string]string{
			"operation_id": op.ID, "version": strconv.FormatInt(next, 10), "held": "true"}}})
	if err != nil {
		return err
	}
	s.keys.ApplyKey(k)
	op.State = models.OpDone
	return nil
}
