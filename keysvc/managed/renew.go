package managed

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"keyport/keysvc"
	"keyport/models"
)

// ErrNotManaged: the key's material is not keyport's (a customer-managed
// key, mode 1), so lifecycle actions on its material do not apply.
var ErrNotManaged = errors.New("keysvc: keyport does not hold this key's material")

// ErrOperationRunning: another operation on the key is under way.
var ErrOperationRunning = errors.New("keysvc: another operation on this key is under way")

// managedKey loads a tenant's managed key and checks its state.
func (s *Service) managedKey(ctx context.Context, tenantID, keyID string, states ...models.KeyState) (*models.Key, *models.ManagedKey, error) {
	k, err := s.db.GetKey(ctx, tenantID, keyID)
	if errors.Is(err, models.ErrNotFound) {
		return nil, nil, keysvc.ErrKeyNotFound
	}
	if err != nil {
		return nil, nil, err
	}
	mk, err := s.db.GetManagedKey(ctx, tenantID, keyID)
	if errors.Is(err, models.ErrNotFound) {
		return nil, nil, ErrNotManaged
	}
	if err != nil {
		return nil, nil, err
	}
	if err := inState(k, states...); err != nil {
		return nil, nil, err
	}
	return k, mk, nil
}

// lifecycleKey is managedKey for the actions that also apply to a
// registered customer-managed key (deactivate, activate): for one, the
// managed record is nil.
func (s *Service) lifecycleKey(ctx context.Context, tenantID, keyID string, states ...models.KeyState) (*models.Key, *models.ManagedKey, error) {
	k, mk, err := s.managedKey(ctx, tenantID, keyID, states...)
	if !errors.Is(err, ErrNotManaged) {
		return k, mk, err
	}
	k, err = s.db.GetKey(ctx, tenantID, keyID)
	if err != nil {
		return nil, nil, err
	}
	if k.Mode != models.ModeCMK {
		return nil, nil, ErrNotManaged
	}
	return k, nil, inState(k, states...)
}

// inState refuses a key in none of states (none given: every state will do).
func inState(k *models.Key, states ...models.KeyState) error {
	if len(states) == 0 || slices.Contains(states, k.State) {
		return nil
	}
	return &keysvc.ValidationError{Field: "state", Message: "this cannot be done while the key is " + string(k.State)}
}

// kmsManagedKey is managedKey for the actions that work on the key's KMS
// key: a held key has none.
func (s *Service) kmsManagedKey(ctx context.Context, tenantID, keyID string, states ...models.KeyState) (*models.Key, *models.ManagedKey, error) {
	k, mk, err := s.managedKey(ctx, tenantID, keyID, states...)
	if err == nil && mk.Held {
		return nil, nil, ErrHeldMaterial
	}
	return k, mk, err
}

// startOp records an operation (with new material, if any) and drives it.
func (s *Service) startOp(ctx context.Context, op *models.KeyOperation, mat *models.KeyMaterial, by keysvc.RequestBy, details map[string]string) (*OperationResult, error) {
	op.Step, op.Actor = stepStart, by.UserID
	err := s.db.StartKeyOperation(ctx, op, mat, by.Audit("key."+op.Kind+"_started", details))
	if errors.Is(err, models.ErrConflict) {
		return nil, ErrOperationRunning
	}
	if err != nil {
		return nil, err
	}
	return s.drive(ctx, op)
}

// Renew gives a key new material in a new EXTERNAL KMS key and moves the
// alias to it (AWS's manual rotation). The old KMS key stays enabled, so
// data under earlier versions decrypts; a new data-key version under the
// new KMS key becomes current.
func (s *Service) Renew(ctx context.Context, tenantID string, by keysvc.RequestBy, keyID string) (*OperationResult, error) {
	k, _, err := s.kmsManagedKey(ctx, tenantID, keyID, models.StateEnabled)
	if err != nil {
		return nil, err
	}
	return s.renew(ctx, k, by)
}

// renew starts the renewal of a loaded key, checked to be enabled and to
// have a KMS key.
func (s *Service) renew(ctx context.Context, k *models.Key, by keysvc.RequestBy) (*OperationResult, error) {
	mat, err := s.newMaterial(by)
	if err != nil {
		return nil, err
	}
	op := &models.KeyOperation{TenantID: k.TenantID, KeyID: k.ID, Kind: models.OpRenew, FromVersion: k.CurrentVersion}
	return s.startOp(ctx, op, mat, by, map[string]string{"from_version": strconv.FormatInt(k.CurrentVersion, 10), "fingerprint": mat.Fingerprint})
}

// renewFrom is the scheduler's rotation of modes 2 and 3: a renewal, only
// while the key is still on version from.
func (s *Service) renewFrom(ctx context.Context, tenantID, keyID string, from int64, actor, reason string) (int64, error) {
	k, mk, err := s.managedKey(ctx, tenantID, keyID)
	if err != nil {
		return 0, err
	}
	if k.CurrentVersion != from {
		return 0, keysvc.ErrRotationRaced
	}
	if mk.Held {
		// No KMS key to renew: the scheduled rotation of a held key is a
		// new data key under the same material.
		return s.keys.RotateFrom(ctx, tenantID, keyID, from, actor, reason)
	}
	if err := inState(k, models.StateEnabled); err != nil {
		return 0, err
	}
	res, err := s.renew(ctx, k, keysvc.RequestBy{UserID: actor})
	if err != nil {
		return 0, err
	}
	if !res.Done() {
		return 0, fmt.Errorf("keysvc: renewal %s did not finish: %s", res.Op.ID, res.Error)
	}
	return res.Key.CurrentVersion, nil
}

// UndoRenewal moves the alias back to the KMS key of the material before
// the active one (after checking that it still works) and makes it active
// again, with a new data-key version under it.
func (s *Service) UndoRenewal(ctx context.Context, tenantID string, by keysvc.RequestBy, keyID string) (*OperationResult, error) {
	if _, _, err := s.kmsManagedKey(ctx, tenantID, keyID, models.StateEnabled); err != nil {
		return nil, err
	}
	prev, active, err := s.previousMaterial(ctx, tenantID, keyID)
	if err != nil {
		return nil, err
	}
	op := &models.KeyOperation{TenantID: tenantID, KeyID: keyID, Kind: models.OpUndo, MaterialID: prev.ID, KMSKeyARN: prev.KMSKeyARN}
	return s.startOp(ctx, op, nil, by, map[string]string{"from_kms_key_arn": active.KMSKeyARN, "to_kms_key_arn": prev.KMSKeyARN,
		"to_fingerprint": prev.Fingerprint})
}

// ErrNothingToUndo: the key's current KMS key was not put in place by a
// renewal that can still be undone.
var ErrNothingToUndo = &keysvc.ValidationError{Field: "key", Message: "there is no renewal to undo: " +
	"an undo returns only to the KMS key a renewal replaced, and only until the key's material changes in another way " +
	"(an in-place rotation or an earlier undo past it)"}

// previousMaterial is the material an undo returns to, and the active one.
// It replays the key's finished material operations as a stack of
// materials: a renewal pushes its new material, an undo pops back to the
// one before, and creation or an in-place rotation starts the stack again
// (an undo must never bring back a KMS key whose material a later
// operation replaced, nor discard an in-place rotation). The undo is valid
// only when the top of the stack is the active material and the one below
// it is a previous material with a KMS key of its own.
func (s *Service) previousMaterial(ctx context.Context, tenantID, keyID string) (prev, active *models.KeyMaterial, err error) {
	ms, err := s.db.KeyMaterials(ctx, tenantID, keyID)
	if err != nil {
		return nil, nil, err
	}
	ops, err := s.db.MaterialOperations(ctx, tenantID, keyID)
	if err != nil {
		return nil, nil, err
	}
	byID := map[string]*models.KeyMaterial{}
	for i := range ms {
		byID[ms[i].ID] = &ms[i]
		if ms[i].State == models.MaterialActive {
			active = &ms[i]
		}
	}
	stack := UndoStack(ops)
	if active == nil || len(stack) < 2 || stack[len(stack)-1] != active.ID {
		return nil, nil, ErrNothingToUndo
	}
	prev = byID[stack[len(stack)-2]]
	if prev == nil || prev.State != models.MaterialPrevious || prev.KMSKeyARN == "" || prev.KMSKeyARN == active.KMSKeyARN {
		return nil, nil, ErrNothingToUndo
	}
	return prev, active, nil
}

// UndoStack replays finished material operations (oldest first) into the
// stack of material ids that undos walk back through; the last is the
// material the operations left active.
func UndoStack(ops []models.KeyOperation) []string {
	var stack []string
	for _, op := range ops {
		switch op.Kind {
		case models.OpCreate, models.OpRotate:
			stack = []string{op.MaterialID}
		case models.OpRenew:
			stack = append(stack, op.MaterialID)
		case models.OpUndo:
			if len(stack) > 1 {
				stack = stack[:len(stack)-1]
			}
			if len(stack) == 0 || stack[len(stack)-1] != op.MaterialID { // history we cannot follow: undo no further
				stack = []string{op.MaterialID}
			}
		}
	}
	return stack
}

// CanUndo reports whether UndoRenewal would be accepted for the key now
// (it checks the same history), for pages that offer it only while valid.
func (s *Service) CanUndo(ctx context.Context, tenantID, keyID string) (bool, error) {
	_, _, err := s.previousMaterial(ctx, tenantID, keyID)
	if err == ErrNothingToUndo {
		return false, nil
	}
	return err == nil, err
}

// RotateMaterialInPlace imports new keyport-generated material into the
// key's current KMS key (ImportKeyMaterial with NEW_KEY_MATERIAL) and has
// KMS rotate to it (RotateKeyOnDemand): the key ARN and alias stay, KMS
// keeps the earlier material for decryption. Recorded as a new version.
func (s *Service) RotateMaterialInPlace(ctx context.Context, tenantID string, by keysvc.RequestBy, keyID string) (*OperationResult, error) {
	if _, _, err := s.kmsManagedKey(ctx, tenantID, keyID, models.StateEnabled); err != nil {
		return nil, err
	}
	active, err := s.db.ActiveMaterial(ctx, tenantID, keyID)
	if err != nil {
		return nil, err
	}
	mat, err := s.newMaterial(by)
	if err != nil {
		return nil, err
	}
	mat.KMSKeyARN = active.KMSKeyARN // in place: the new material goes into the same KMS key
	op := &models.KeyOperation{TenantID: tenantID, KeyID: keyID, Kind: models.OpRotate, KMSKeyARN: active.KMSKeyARN}
	return s.startOp(ctx, op, mat, by, map[string]string{"kms_key_arn": active.KMSKeyARN, "fingerprint": mat.Fingerprint})
}
