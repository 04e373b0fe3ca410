package managed

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"keyport/keysvc"
	"keyport/keysvc/awskms"
	"keyport/models"
)

// Deletion waiting period bounds (AWS's ScheduleKeyDeletion).
const (
	MinDeletionDays     = 7
	MaxDeletionDays     = 30
	DefaultDeletionDays = 30
)

// DependencyError refuses a deletion while data-key versions still depend
// on the key and the admin has not acknowledged that their data becomes
// unreadable.
type DependencyError struct {
	Versions int64
}

func (e *DependencyError) Error() string {
	return fmt.Sprintf("keysvc: %d data-key version(s) still depend on this key", e.Versions)
}

// kmsKeysOf lists the KMS keys of a key's committed materials (active and
// previous), each once.
func (s *Service) kmsKeysOf(ctx context.Context, tenantID, keyID string) ([]string, error) {
	ms, err := s.db.KeyMaterials(ctx, tenantID, keyID)
	if err != nil {
		return nil, err
	}
	var arns []string
	seen := map[string]bool{}
	for _, m := range ms {
		if (m.State == models.MaterialActive || m.State == models.MaterialPrevious) && m.KMSKeyARN != "" && !seen[m.KMSKeyARN] {
			seen[m.KMSKeyARN] = true
			arns = append(arns, m.KMSKeyARN)
		}
	}
	return arns, nil
}

// storeClient is a KMS client acting as the tenant in a managed key's
// store.
func (s *Service) storeClient(ctx context.Context, tenantID string, mk *models.ManagedKey) (*kms.Client, error) {
	st, err := s.db.GetKeyStore(ctx, tenantID, mk.StoreID)
	if err != nil {
		return nil, err
	}
	_, client, err := s.storeKMS(ctx, tenantID, st)
	return client, err
}

// storeKMS is a store's connection and a KMS client acting through it in
// the store's region.
func (s *Service) storeKMS(ctx context.Context, tenantID string, st *models.KeyStore) (awskms.Connection, *kms.Client, error) {
	mc, err := s.db.GetConnection(ctx, tenantID, st.ConnectionID)
	if err != nil {
		return awskms.Connection{}, nil, err
	}
	conn := awskms.ConnectionFromModel(mc)
	client, err := s.clients.KMS(ctx, conn, st.Region)
	return conn, client, err
}

// Deactivate disables a key: keyport stops using it at once (every
// replica's cached data keys are purged), in the same transaction that
// records the operation, whose job then disables its KMS keys; a crash in
// between is resumed by the worker. A registered customer-managed key
// (mode 1) is the tenant's own: keyport only stops using it and leaves it
// as it is in KMS (its operation has no KMS step).
func (s *Service) Deactivate(ctx context.Context, tenantID string, by keysvc.RequestBy, keyID string) (*OperationResult, error) {
	if _, _, err := s.lifecycleKey(ctx, tenantID, keyID, models.StateEnabled); err != nil {
		return nil, err
	}
	op := &models.KeyOperation{TenantID: tenantID, KeyID: keyID, Kind: models.OpDeactivate}
	return s.startStateOp(ctx, op, []models.KeyState{models.StateEnabled}, models.StateDisabled, nil, nil, by.Audit("key.deactivated", nil))
}

// startStateOp records a deletion or deactivation, moving the key to state
// at once, and drives it.
func (s *Service) startStateOp(ctx context.Context, op *models.KeyOperation, from []models.KeyState, state models.KeyState, deletionAt *time.Time, spend *models.ApprovalUse, audit models.AuditInput) (*OperationResult, error) {
	op.Step, op.Actor = stepStart, audit.Actor
	k, err := s.db.StartKeyStateOperation(ctx, op, from, state, deletionAt, spend, audit)
	if errors.Is(err, models.ErrApprovalUnusable) {
		return nil, ErrApprovalRequired
	}
	if errors.Is(err, models.ErrConflict) {
		return nil, ErrOperationRunning
	}
	if err != nil {
		return nil, err
	}
	s.keys.ApplyKey(k)
	s.keys.PurgeKey(op.TenantID, op.KeyID)
	return s.drive(ctx, op)
}

// disableKMSKeys is a deactivation's KMS step: disabling a disabled key
// does nothing, so it is safe to run again.
func (s *Service) disableKMSKeys(ctx context.Context, oc *opContext) error {
	return s.eachOpKMSKey(ctx, oc, func(arn string) error {
		_, err := oc.client.DisableKey(ctx, &kms.DisableKeyInput{KeyId: aws.String(arn)})
		return err
	})
}

// scheduleKMSDeletion is a deletion's KMS step: a key an earlier attempt
// scheduled is left as it is.
func (s *Service) scheduleKMSDeletion(ctx context.Context, oc *opContext) error {
	days := int32(oc.op.WindowDays)
	return s.eachOpKMSKey(ctx, oc, func(arn string) error {
		if err := oc.fence(); err != nil {
			return err
		}
		_, err := oc.client.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(arn), PendingWindowInDays: aws.Int32(days)})
		if errors.Is(awskms.ClassifyKMSError(err), awskms.ErrKeyPendingDeletion) {
			return nil // scheduled by an earlier attempt
		}
		return err
	})
}

// eachOpKMSKey calls f with every KMS key of the operation's key.
func (s *Service) eachOpKMSKey(ctx context.Context, oc *opContext, f func(arn string) error) error {
	arns, err := s.kmsKeysOf(ctx, oc.op.TenantID, oc.op.KeyID)
	if err != nil {
		return err
	}
	for _, arn := range arns {
		if err := f(arn); err != nil {
			return fmt.Errorf("keysvc: %s: %w", arn, awskms.ClassifyKMSError(err))
		}
	}
	return nil
}

// finishStateOp ends a deletion or deactivation once KMS has followed.
func (s *Service) finishStateOp(ctx context.Context, oc *opContext) error {
	op := oc.op
	if err := s.db.FinishOperation(ctx, op, models.AuditInput{Actor: op.Actor, Action: "key." + op.Kind + "_completed",
		Details: map[string]string{"operation_id": op.ID}}); err != nil {
		return err
	}
	op.State = models.OpDone
	return nil
}

// rollbackStateOp undoes in KMS what a failed deletion did: its scheduled
// KMS keys are cancelled, and enabled again if the key was. (The store
// puts the key itself back.) A failed deactivation leaves the key
// disabled in keyport: the safe side; activating it enables its KMS keys.
// It returns what could not be undone, for the operation's detail.
func (s *Service) rollbackStateOp(ctx context.Context, oc *opContext) (string, error) {
	if oc.op.Kind != models.OpDelete || oc.customer || oc.managed.Held {
		return "", nil
	}
	var leftover string
	err := s.eachOpKMSKey(ctx, oc, func(arn string) error {
		_, err := oc.client.CancelKeyDeletion(ctx, &kms.CancelKeyDeletionInput{KeyId: aws.String(arn)})
		if err != nil && awskms.ErrorCode(err) != "KMSInvalidStateException" { // not pending: never scheduled
			return err
		}
		if oc.op.FromState == models.StateEnabled {
			_, err = oc.client.EnableKey(ctx, &kms.EnableKeyInput{KeyId: aws.String(arn)})
		}
		return err
	})
	if err != nil {
		if transient(err) {
			return "", err
		}
		leftover = " Its KMS keys could not all be restored (" + err.Error() + "); cancel their deletion in KMS."
	}
	return leftover, nil
}

// noRunningOp refuses while an operation on the key is under way (a
// deactivation or deletion the worker has yet to finish in KMS, say).
func (s *Service) noRunningOp(ctx context.Context, tenantID, keyID string) error {
	ops, err := s.db.KeyOperations(ctx, tenantID, keyID, 1)
	if err != nil {
		return err
	}
	if len(ops) > 0 && ops[0].State == models.OpRunning {
		return ErrOperationRunning
	}
	return nil
}

// Activate enables a key's KMS keys and then the key in keyport. A
// registered customer-managed key is only used by keyport again: keyport
// never disabled it in KMS, so it does not enable it there either.
func (s *Service) Activate(ctx context.Context, tenantID string, by keysvc.RequestBy, keyID string) error {
	_, mk, err := s.lifecycleKey(ctx, tenantID, keyID, models.StateDisabled)
	if err != nil {
		return err
	}
	if err := s.noRunningOp(ctx, tenantID, keyID); err != nil {
		return err
	}
	if mk != nil {
		if err := s.eachKMSKey(ctx, tenantID, keyID, mk, func(c *kms.Client, arn string) error {
			_, err := c.EnableKey(ctx, &kms.EnableKeyInput{KeyId: aws.String(arn)})
			return err
		}); err != nil {
			return err
		}
	}
	st := models.StateEnabled
	k, err := s.db.UpdateKey(ctx, tenantID, keyID, models.KeyUpdate{State: &st, BumpEpoch: true}, by.Audit("key.activated", nil))
	if err != nil {
		return err
	}
	s.keys.ApplyKey(k)
	return nil
}

func (s *Service) eachKMSKey(ctx context.Context, tenantID, keyID string, mk *models.ManagedKey, f func(*kms.Client, string) error) error {
	client, err := s.storeClient(ctx, tenantID, mk)
	if err != nil {
		return err
	}
	arns, err := s.kmsKeysOf(ctx, tenantID, keyID)
	if err != nil {
		return err
	}
	for _, arn := range arns {
		if err := f(client, arn); err != nil {
			return fmt.Errorf("keysvc: %s: %w", arn, awskms.ClassifyKMSError(err))
		}
	}
	return nil
}

// DeleteInput is the confirmed deletion of a key.
type DeleteInput struct {
	WindowDays  int  // 7-30; 0 means 30
	Acknowledge bool // the admin accepts that data under the key's versions becomes unreadable
	ApprovalID  string
}

// ScheduleDeletion starts a key's deletion: keyport stops using it at
// once (the key is PENDING_DELETION in the transaction that records the
// operation), and the operation's job schedules every KMS key of it for
// deletion after the waiting period; a crash in between is resumed by the
// worker. Refused with *DependencyError while data-key versions depend on
// the key, unless acknowledged.
func (s *Service) ScheduleDeletion(ctx context.Context, tenantID string, by keysvc.RequestBy, keyID string, in DeleteInput) (*OperationResult, error) {
	if _, _, err := s.managedKey(ctx, tenantID, keyID, models.StateEnabled, models.StateDisabled); err != nil {
		return nil, err
	}
	days := in.WindowDays
	if days == 0 {
		days = DefaultDeletionDays
	}
	if days < MinDeletionDays || days > MaxDeletionDays {
		return nil, &keysvc.ValidationError{Field: "window_days", Message: "must be between 7 and 30 days"}
	}
	n, err := s.db.CountDataKeyVersions(ctx, tenantID, keyID)
	if err != nil {
		return nil, err
	}
	if n > 0 && !in.Acknowledge {
		return nil, &DependencyError{Versions: n}
	}
	if err := s.noRunningOp(ctx, tenantID, keyID); err != nil {
		return nil, err
	}
	// The approval is checked now and spent only in the transaction that
	// makes the key PENDING_DELETION: a deletion refused or failed before
	// that leaves it usable (issue 17 #13).
	need, err := s.checkApproval(ctx, tenantID, by, keyID, models.ApprovalDelete, in.ApprovalID)
	if err != nil {
		return nil, err
	}
	var spend *models.ApprovalUse
	if need {
		spend = &models.ApprovalUse{ID: in.ApprovalID, Action: models.ApprovalDelete, Requester: by.Person()}
	}
	at := s.now().Add(time.Duration(days) * 24 * time.Hour).UTC()
	op := &models.KeyOperation{TenantID: tenantID, KeyID: keyID, Kind: models.OpDelete, WindowDays: days}
	return s.startStateOp(ctx, op, []models.KeyState{models.StateEnabled, models.StateDisabled}, models.StatePendingDeletion, &at, spend,
		by.Audit("key.deletion_scheduled", map[string]string{"window_days": strconv.Itoa(days), "deletion_at": at.Format(time.RFC3339),
			"data_key_versions": strconv.FormatInt(n, 10)}))
}

// CancelDeletion cancels a key's deletion during its waiting period. The
// key comes back DISABLED, as its KMS keys do; activate it to use it.
func (s *Service) CancelDeletion(ctx context.Context, tenantID string, by keysvc.RequestBy, keyID string) (*models.Key, error) {
	_, mk, err := s.managedKey(ctx, tenantID, keyID, models.StatePendingDeletion)
	if err != nil {
		return nil, err
	}
	if err := s.noRunningOp(ctx, tenantID, keyID); err != nil {
		return nil, err // the deletion's job would schedule again what this cancels
	}
	if err := s.cancelKMSDeletion(ctx, tenantID, keyID, mk); err != nil {
		return nil, err
	}
	k, err := s.db.SetKeyDeletion(ctx, tenantID, keyID, nil, models.StateDisabled, by.Audit("key.deletion_cancelled", nil))
	if err != nil {
		return nil, err
	}
	s.keys.ApplyKey(k)
	return k, nil
}

func (s *Service) cancelKMSDeletion(ctx context.Context, tenantID, keyID string, mk *models.ManagedKey) error {
	return s.eachKMSKey(ctx, tenantID, keyID, mk, func(c *kms.Client, arn string) error {
		_, err := c.CancelKeyDeletion(ctx, &kms.CancelKeyDeletionInput{KeyId: aws.String(arn)})
		if awskms.ErrorCode(err) == "KMSInvalidStateException" {
			return nil // not pending deletion (never scheduled, or cancelled before)
		}
		return err
	})
}

// completeDeletions marks DELETED the keys whose waiting period passed
// and erases their sealed material.
func (s *Service) completeDeletions(ctx context.Context) error {
	mks, err := s.db.ManagedKeysPendingDeletion(ctx, s.now())
	if err != nil {
		return err
	}
	for _, mk := range mks {
		err := s.db.MarkKeyDeleted(ctx, mk.TenantID, mk.KeyID, models.AuditInput{Actor: "keyport:scheduler", Action: "key.deleted"})
		if err != nil && !errors.Is(err, models.ErrConflict) {
			return err
		}
	}
	return nil
}

// lifecycleTick is the scheduler's periodic pass for the lifecycle.
func (s *Service) lifecycleTick(ctx context.Context) {
	for name, f := range map[string]func(context.Context) error{"complete deletions": s.completeDeletions,
		"plan re-uploads": s.planReuploads, "drift sweep": s.driftSweep} {
		if err := f(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("key lifecycle pass", "pass", name, "err", err)
		}
	}
}
