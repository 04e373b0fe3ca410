package models

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Operation kinds and states.
const (
	OpCreate   = "create"   // new key: new KMS key, import, alias, first data key
	OpRenew    = "renew"    // new material in a new KMS key, alias moved
	OpUndo     = "undo"     // alias moved back to the previous material's KMS key
	OpReupload = "reupload" // the same material imported again into its KMS key
	OpRotate   = "rotate"   // new material imported into the same KMS key (NEW_KEY_MATERIAL)
	// OpDelete: the key is PENDING_DELETION at once, then every KMS key of
	// it is scheduled for deletion.
	OpDelete = "delete"
	// OpDeactivate: the key is DISABLED at once, then its KMS keys are.
	OpDeactivate = "deactivate"

	OpRunning = "running"
	OpDone    = "done"
	OpFailed  = "failed"
)

// JobKindLifecycle is the job that drives a key operation to its end.
const JobKindLifecycle = "key.lifecycle"

// KeyOperation is a recorded multi-step change of a managed key. Step is
// the step about to run or running: it is written before the step's side
// effect, so a restart knows what may have happened.
type KeyOperation struct {
	ID          string
	TenantID    string
	KeyID       string
	Kind        string
	Step        string
	State       string
	MaterialID  string
	KMSKeyARN   string `gorm:"column:kms_key_arn"`
	FromVersion int64
	// FromState is the key's state before a deletion or deactivation
	// changed it; a failed deletion puts it back.
	FromState KeyState
	// WindowDays is a deletion's waiting period in KMS.
	WindowDays int
	JobID      string
	// Version is the data-key version the operation made when it
	// committed (0: none, still running, or made before migration 53).
	Version   int64
	Detail    string
	Actor     string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// NewManagedKey is a key keyport is about to create with its own (or the
// tenant's uploaded) material: the key row (PENDING, no KMS key yet), its
// lifecycle row, its first material and the create operation, recorded
// together before anything happens in KMS.
type NewManagedKey struct {
	Key      Key
	Managed  ManagedKey
	Material KeyMaterial
	Op       KeyOperation
}

// StartManagedKey records a new managed key and the job that creates it in
// KMS, with the audit event, in one transaction. Ids and times are filled.
func (db *DB) StartManagedKey(ctx context.Context, nk *NewManagedKey, audit AuditInput) error {
	k := &nk.Key
	name, err := validateName("name", k.Name, 100)
	if err != nil {
		return err
	}
	k.Name, k.ID, k.State, k.Health = name, NewID("key_"), StatePending, HealthUnknown
	now := db.now()
	k.CreatedAt, k.UpdatedAt = now, now
	nk.Managed.KeyID, nk.Managed.TenantID, nk.Managed.UpdatedAt = k.ID, k.TenantID, now
	return db.change(ctx, "start managed key", func(tx *gorm.DB) (*AuditInput, error) {
		if err := tenantOpenTx(tx, k.TenantID); err != nil {
			return nil, err
		}
		if taken, err := nameTaken(tx, "keys", k.TenantID, name, ""); err != nil || taken {
			return nil, cmp.Or(err, error(ErrNameTaken))
		}
		rev, err := nextRevision(tx)
		if err != nil {
			return nil, err
		}
		k.Revision = rev
		if err := tx.Table("keys").Create(k).Error; err != nil {
			return nil, duplicateName(err)
		}
		if err := tx.Table("managed_keys").Create(&nk.Managed).Error; err != nil {
			return nil, err
		}
		return db.startOpTx(tx, &nk.Op, &nk.Material, k.TenantID, k.ID, audit)
	})
}

// StartKeyOperation records an operation on a managed key (and the new
// material it brings, if any) with its job and audit event. Only one
// operation per key runs at a time: ErrConflict while another does.
func (db *DB) StartKeyOperation(ctx context.Context, op *KeyOperation, mat *KeyMaterial, audit AuditInput) error {
	return db.change(ctx, "start key operation", func(tx *gorm.DB) (*AuditInput, error) {
		if _, err := getKeyTx(tx, op.TenantID, op.KeyID); err != nil {
			return nil, err
		}
		return db.startOpTx(tx, op, mat, op.TenantID, op.KeyID, audit)
	})
}

// startOpTx records op (and mat, when it brings new material) with the job
// that drives it, and returns the audit event for the caller to append.
func (db *DB) startOpTx(tx *gorm.DB, op *KeyOperation, mat *KeyMaterial, tenantID, keyID string, audit AuditInput) (*AuditInput, error) {
	var running int64
	if err := tx.Table("key_operations").Where("key_id = ? AND state = ?", keyID, OpRunning).Count(&running).Error; err != nil {
		return nil, err
	}
	if running > 0 {
		return nil, ErrConflict
	}
	now := db.now()
	if mat != nil && len(mat.Sealed) > 0 {
		var seq int
		if err := tx.Table("key_materials").Select("COALESCE(MAX(seq), 0)").Where("key_id = ?", keyID).Scan(&seq).Error; err != nil {
			return nil, err
		}
		if mat.ID == "" {
			mat.ID = NewID("mat_")
		}
		mat.KeyID, mat.TenantID, mat.Seq, mat.State, mat.CreatedAt = keyID, tenantID, seq+1, MaterialPending, now
		if err := tx.Table("key_materials").Create(mat).Error; err != nil {
			return nil, err
		}
		op.MaterialID = mat.ID
	}
	op.ID, op.TenantID, op.KeyID, op.State, op.CreatedAt, op.UpdatedAt = NewID("kop_"), tenantID, keyID, OpRunning, now, now
	j, _, err := db.enqueueJobTx(tx, NewJob{Kind: JobKindLifecycle, TenantID: tenantID, RunKey: "lifecycle:" + op.ID,
		Payload: `{"op_id":"` + op.ID + `"}`, MaxAttempts: 20})
	if err != nil {
		return nil, err
	}
	op.JobID = j.ID
	if err := tx.Table("key_operations").Create(op).Error; err != nil {
		return nil, err
	}
	audit.TenantID, audit.TargetType, audit.TargetID = tenantID, "key", keyID
	if audit.Details == nil {
		audit.Details = map[string]string{}
	}
	audit.Details["operation_id"] = op.ID
	return &audit, nil
}

// StartKeyStateOperation records a deletion or deactivation of a managed
// key with its job and audit event, and in the same transaction moves the
// key (in one of from) to state, bumping its cache epoch so every replica
// stops using it: keyport stops at once, and the job does the KMS side.
// A deletion's deletionAt is recorded on the managed key. ErrConflict while
// another operation runs or when the key left the from states meanwhile.
//
// spend, when not nil, is the approval the change needs: it is spent in
// the same transaction, so only a change that commits spends it
// (ErrApprovalUnusable, and nothing changed, when it cannot be spent).
func (db *DB) StartKeyStateOperation(ctx context.Context, op *KeyOperation, from []KeyState, state KeyState, deletionAt *time.Time, spend *ApprovalUse, audit AuditInput) (*Key, error) {
	var out *Key
	err := db.changeRev(ctx, "start key operation", func(tx *gorm.DB, rev int64) (*AuditInput, error) {
		k, err := getKeyTx(tx, op.TenantID, op.KeyID)
		if err != nil {
			return nil, err
		}
		ok := false
		for _, f := range from {
			ok = ok || k.State == f
		}
		if !ok {
			return nil, ErrConflict
		}
		op.FromState = k.State
		if spend != nil {
			if err := db.spendApprovalTx(tx, op.TenantID, op.KeyID, *spend); errors.Is(err, ErrConflict) {
				return nil, ErrApprovalUnusable
			} else if err != nil {
				return nil, err
			}
		}
		a, err := db.startOpTx(tx, op, nil, op.TenantID, op.KeyID, audit)
		if err != nil {
			return nil, err
		}
		now := db.now()
		if deletionAt != nil {
			if err := oneRow(tx.Table("managed_keys").Where("tenant_id = ? AND key_id = ?", op.TenantID, op.KeyID).
				Updates(map[string]any{"deletion_at": ts(*deletionAt), "updated_at": now})); err != nil {
				return nil, err
			}
		}
		if err := tx.Table("keys").Where("tenant_id = ? AND id = ?", op.TenantID, op.KeyID).Updates(map[string]any{
			"state": state, "revision": rev, "updated_at": now, "cache_epoch": gorm.Expr("cache_epoch + 1")}).Error; err != nil {
			return nil, err
		}
		out, err = getKeyTx(tx, op.TenantID, op.KeyID)
		return a, err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GetKeyOperation returns a tenant's operation by id; ErrNotFound when it
// does not exist for the tenant.
func (db *DB) GetKeyOperation(ctx context.Context, tenantID, id string) (*KeyOperation, error) {
	var op KeyOperation
	if err := db.g.WithContext(ctx).Table("key_operations").Where("tenant_id = ? AND id = ?", tenantID, id).Take(&op).Error; err != nil {
		return nil, fmt.Errorf("get key operation: %w", mapErr(err))
	}
	op.CreatedAt, op.UpdatedAt = op.CreatedAt.UTC(), op.UpdatedAt.UTC()
	return &op, nil
}

// KeyOperations lists a tenant key's operations, newest first.
func (db *DB) KeyOperations(ctx context.Context, tenantID, keyID string, limit int) ([]KeyOperation, error) {
	var out []KeyOperation
	err := db.g.WithContext(ctx).Table("key_operations").Where("tenant_id = ? AND key_id = ?", tenantID, keyID).
		Order("created_at DESC, id DESC").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("key operations: %w", mapErr(err))
	}
	return out, nil
}

// OperationStep records that a tenant's operation is about to run step
// (and, when arn is not empty, the KMS key it works on). It is written
// before the step's side effect.
func (db *DB) OperationStep(ctx context.Context, tenantID, opID, step, arn string) error {
	set := map[string]any{"step": step, "updated_at": db.now()}
	if arn != "" {
		set["kms_key_arn"] = arn
	}
	err := db.g.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Table("key_operations").Where("tenant_id = ? AND id = ? AND state = ?", tenantID, opID, OpRunning).Updates(set)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrConflict
		}
		if arn != "" {
			return tx.Exec(`UPDATE key_materials SET kms_key_arn = ? WHERE tenant_id = ? AND id = (SELECT material_id FROM key_operations WHERE tenant_id = ? AND id = ?) AND kms_key_arn = ''`,
				arn, tenantID, tenantID, opID).Error
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record operation step: %w", mapErr(err))
	}
	return nil
}

// FailOperation ends an operation that cannot complete: its new material,
// if any, is discarded (its KMS key, tagged with the operation, is already
// scheduled for deletion by the caller), a created key that never worked
// is marked DELETED, and the audit event says why.
func (db *DB) FailOperation(ctx context.Context, op *KeyOperation, detail string, audit AuditInput) error {
	audit.TenantID, audit.TargetType, audit.TargetID = op.TenantID, "key", op.KeyID
	return db.change(ctx, "fail key operation", func(tx *gorm.DB) (*AuditInput, error) {
		res := tx.Table("key_operations").Where("tenant_id = ? AND id = ? AND state = ?", op.TenantID, op.ID, OpRunning).
			Updates(map[string]any{"state": OpFailed, "detail": truncate(detail, 1000), "updated_at": db.now()})
		if res.Error != nil {
			return nil, res.Error
		}
		if res.RowsAffected == 0 {
			return nil, ErrConflict
		}
		if op.MaterialID != "" && (op.Kind == OpCreate || op.Kind == OpRenew || op.Kind == OpRotate) {
			if err := tx.Table("key_materials").Where("tenant_id = ? AND id = ? AND state = ?", op.TenantID, op.MaterialID, MaterialPending).
				Update("state", MaterialDiscarded).Error; err != nil {
				return nil, err
			}
		}
		if op.Kind == OpDelete && op.FromState != "" {
			// Nothing is lost while the window runs: the key is as it was.
			if err := restoreFromDeletion(tx, db, op); err != nil {
				return nil, err
			}
		}
		if op.Kind == OpCreate {
			rev, err := nextRevision(tx)
			if err != nil {
				return nil, err
			}
			if err := tx.Table("keys").Where("tenant_id = ? AND id = ? AND state = ?", op.TenantID, op.KeyID, StatePending).
				Updates(map[string]any{"state": StateDeleted, "health_detail": truncate(detail, 1000), "revision": rev, "updated_at": db.now()}).Error; err != nil {
				return nil, err
			}
		}
		return &audit, nil
	})
}

// VersionCommit is the last step of create, renew, undo and rotate: the
// key's KMS key in its region becomes KMSKeyARN, a new data-key version
// wrapped under it becomes current (compare-and-set on FromVersion), the
// material becomes active (the previous active one previous), the key is
// ENABLED and the operation done, all in one transaction.
type VersionCommit struct {
	Op          *KeyOperation
	Region      string
	KMSKeyARN   string
	MaterialID  string
	FromVersion int64
	Version     DataKeyVersion
	Wraps       []DataKeyWrap
	Audit       AuditInput
}

// CommitKeyVersion applies c; ErrConflict when the key moved on meanwhile
// or the operation is no longer running.
func (db *DB) CommitKeyVersion(ctx context.Context, c VersionCommit) (*Key, error) {
	op := c.Op
	c.Audit.TenantID, c.Audit.TargetType, c.Audit.TargetID = op.TenantID, "key", op.KeyID
	var out *Key
	err := db.changeRev(ctx, "commit key version", func(tx *gorm.DB, rev int64) (*AuditInput, error) {
		now := db.now()
		res := tx.Table("key_operations").Where("tenant_id = ? AND id = ? AND state = ?", op.TenantID, op.ID, OpRunning).
			Updates(map[string]any{"state": OpDone, "step": "done", "updated_at": now, "version": c.Version.Version})
		if err := errIfNone(res); err != nil {
			return nil, err
		}
		set := map[string]any{"current_version": c.Version.Version, "updated_at": now, "revision": rev,
			"health": HealthOK, "health_detail": "", "validated_at": now}
		if op.Kind == OpCreate {
			set["state"] = StateEnabled
		}
		res = tx.Table("keys").Where("tenant_id = ? AND id = ? AND current_version = ?", op.TenantID, op.KeyID, c.FromVersion).Updates(set)
		if err := errIfNone(res); err != nil {
			return nil, err
		}
		if err := tx.Exec(`DELETE FROM key_regions WHERE key_id = ? AND region = ?`, op.KeyID, c.Region).Error; err != nil {
			return nil, err
		}
		if err := tx.Table("key_regions").Create(&KeyRegion{KeyID: op.KeyID, Region: c.Region, KMSKeyARN: c.KMSKeyARN, Priority: 0}).Error; err != nil {
			return nil, err
		}
		if err := insertVersion(tx, op.KeyID, &c.Version, c.Wraps, now); err != nil {
			return nil, err
		}
		if err := tx.Table("key_materials").Where("key_id = ? AND state = ? AND id <> ?", op.KeyID, MaterialActive, c.MaterialID).
			Update("state", MaterialPrevious).Error; err != nil {
			return nil, err
		}
		if err := tx.Table("key_materials").Where("key_id = ? AND id = ?", op.KeyID, c.MaterialID).
			Updates(map[string]any{"state": MaterialActive, "data_key_version": c.Version.Version}).Error; err != nil {
			return nil, err
		}
		var err error
		out, err = getKeyTx(tx, op.TenantID, op.KeyID)
		return &c.Audit, err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// FinishOperation marks an operation without a new version (re-upload)
// done, with its audit event.
func (db *DB) FinishOperation(ctx context.Context, op *KeyOperation, audit AuditInput) error {
	audit.TenantID, audit.TargetType, audit.TargetID = op.TenantID, "key", op.KeyID
	return db.change(ctx, "finish key operation", func(tx *gorm.DB) (*AuditInput, error) {
		res := tx.Table("key_operations").Where("tenant_id = ? AND id = ? AND state = ?", op.TenantID, op.ID, OpRunning).
			Updates(map[string]any{"state": OpDone, "step": "done", "updated_at": db.now()})
		if err := errIfNone(res); err != nil {
			return nil, err
		}
		return &audit, nil
	})
}

// restoreFromDeletion puts a key whose deletion failed back in the state
// it had, without a deletion date.
func restoreFromDeletion(tx *gorm.DB, db *DB, op *KeyOperation) error {
	rev, err := nextRevision(tx)
	if err != nil {
		return err
	}
	now := db.now()
	if err := tx.Table("managed_keys").Where("tenant_id = ? AND key_id = ?", op.TenantID, op.KeyID).
		Updates(map[string]any{"deletion_at": nil, "updated_at": now}).Error; err != nil {
		return err
	}
	return tx.Table("keys").Where("tenant_id = ? AND id = ? AND state = ?", op.TenantID, op.KeyID, StatePendingDeletion).
		Updates(map[string]any{"state": op.FromState, "revision": rev, "updated_at": now, "cache_epoch": gorm.Expr("cache_epoch + 1")}).Error
}

func errIfNone(res *gorm.DB) error {
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrConflict
	}
	return nil
}
