package managed

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"keyport/keysvc"
	"keyport/keysvc/awskms"
	"keyport/models"
)

// Steps of the operations a held key has (its material is not in KMS):
// only its creation; renewal and the rest are refused before they start.
var heldOpSteps = map[string][]string{
	models.OpCreate:     {stepHeldCommit},
	models.OpDelete:     {stepFinish},
	models.OpDeactivate: {stepFinish},
}

// Steps of the operations of a registered customer-managed key: the key
// is the tenant's, so keyport stops using it and leaves KMS alone.
var customerOpSteps = map[string][]string{
	models.OpDeactivate: {stepFinish},
}

// Steps of each operation kind, in order. An operation's recorded step is
// the one about to run or running; every step is safe to run again after
// a crash in the middle of it.
var opSteps = map[string][]string{
	models.OpCreate:   {stepCreateKMSKey, stepImport, stepValidate, stepAlias, stepCommit},
	models.OpRenew:    {stepCreateKMSKey, stepImport, stepValidate, stepAlias, stepCommit},
	models.OpRotate:   {stepImportNew, stepRotateKMS, stepValidate, stepCommit},
	models.OpUndo:     {stepValidate, stepAlias, stepCommit},
	models.OpReupload: {stepImport, stepValidate, stepFinish},
	// The key changed state in keyport when the operation was recorded;
	// the steps bring KMS along.
	models.OpDelete:     {stepScheduleDeletion, stepFinish},
	models.OpDeactivate: {stepDisableKMS, stepFinish},
}

const (
	stepStart            = "start"
	stepCreateKMSKey     = "create_kms_key"
	stepImport           = "import"
	stepImportNew        = "import_new"
	stepRotateKMS        = "rotate_kms"
	stepValidate         = "validate"
	stepAlias            = "alias"
	stepCommit           = "commit"
	stepFinish           = "finish"
	stepScheduleDeletion = "schedule_deletion"
	stepDisableKMS       = "disable_kms"
	stepRollback         = "rollback"
	stepHeldCommit       = "commit_held"
)

// Tags keyport puts on every KMS key it creates, so none is ever an
// unexplained orphan and a key created just before a crash is found again.
const (
	tagKey       = "keyport:key"
	tagOperation = "keyport:operation"
	tagTenant    = "keyport:tenant"
	tagMaterial  = "keyport:material"
)

// runOp runs op's steps from its recorded one.
func (s *Service) runOp(ctx context.Context, op *models.KeyOperation, fence func() error) error {
	if op.Step == stepRollback {
		return fmt.Errorf("keysvc: resume rollback: %w", errRollbackPending)
	}
	oc, err := s.loadOpContext(ctx, op, fence)
	if err != nil {
		return err
	}
	steps := opSteps[op.Kind]
	switch {
	case oc.customer:
		steps = customerOpSteps[op.Kind]
	case oc.managed.Held:
		steps = heldOpSteps[op.Kind]
	}
	i := slices.Index(steps, op.Step)
	resumed := i >= 0 // the recorded step may have run, in part or whole
	if i < 0 {
		i = 0
	}
	for ; i < len(steps); i++ {
		step := steps[i]
		if op.Step != step {
			if err := s.db.OperationStep(ctx, op.TenantID, op.ID, step, ""); err != nil {
				return err
			}
			op.Step, resumed = step, false
		}
		arn, err := s.runStep(ctx, oc, step, resumed)
		if err != nil {
			return fmt.Errorf("%s: %w", step, err)
		}
		if err := s.afterStep(op, step); err != nil {
			return err
		}
		if arn != "" && i+1 < len(steps) {
			// The new KMS key is recorded with the next step, in one write.
			if err := s.db.OperationStep(ctx, op.TenantID, op.ID, steps[i+1], arn); err != nil {
				return err
			}
			op.Step, op.KMSKeyARN, resumed = steps[i+1], arn, false
		}
	}
	return nil
}

// errRollbackPending marks an operation whose rollback was interrupted:
// runLifecycleJob's rollback picks it up.
var errRollbackPending = errors.New("keysvc: rollback pending")

// runStep runs one step; it returns the ARN of a KMS key it created.
func (s *Service) runStep(ctx context.Context, oc *opContext, step string, resumed bool) (string, error) {
	op := oc.op
	switch step {
	case stepCreateKMSKey:
		return s.createKMSKey(ctx, oc, resumed)
	case stepImport:
		return "", s.importMaterial(ctx, oc, op.KMSKeyARN, op.MaterialID, types.ImportTypeExistingKeyMaterial)
	case stepImportNew:
		err := s.importMaterial(ctx, oc, op.KMSKeyARN, op.MaterialID, types.ImportTypeNewKeyMaterial)
		if resumed && awskms.ErrorCode(err) == "IncorrectKeyMaterialException" {
			return "", nil // imported before the crash
		}
		return "", err
	case stepRotateKMS:
		_, err := oc.client.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: aws.String(op.KMSKeyARN)})
		if resumed && awskms.ErrorCode(err) == "KMSInvalidStateException" {
			return "", nil // rotated before the crash: nothing is pending any more
		}
		return "", awskms.ClassifyKMSError(err)
	case stepValidate:
		return "", s.validateKMSKey(ctx, oc, op.KMSKeyARN)
	case stepAlias:
		return "", s.pointAlias(ctx, oc, op.KMSKeyARN)
	case stepCommit:
		return "", s.commitVersion(ctx, oc)
	case stepScheduleDeletion:
		return "", s.scheduleKMSDeletion(ctx, oc)
	case stepDisableKMS:
		return "", s.disableKMSKeys(ctx, oc)
	case stepFinish:
		if op.Kind == models.OpReupload {
			return "", s.finishReupload(ctx, oc)
		}
		return "", s.finishStateOp(ctx, oc)
	case stepHeldCommit:
		return "", s.commitHeld(ctx, oc)
	}
	return "", fmt.Errorf("keysvc: unknown step %q", step)
}

// createKMSKey creates the EXTERNAL-origin KMS key of a new material,
// tagged with the key, the operation and the material. After a crash in
// this step it first looks for the key it may already have created.
func (s *Service) createKMSKey(ctx context.Context, oc *opContext, resumed bool) (string, error) {
	op := oc.op
	if resumed {
		arn, err := findTaggedKey(ctx, oc.client, op.ID)
		if err != nil || arn != "" {
			return arn, err
		}
	}
	if err := oc.fence(); err != nil {
		return "", err // another worker holds this operation now
	}
	out, err := oc.client.CreateKey(ctx, &kms.CreateKeyInput{
		Origin:      types.OriginTypeExternal,
		KeySpec:     types.KeySpecSymmetricDefault,
		KeyUsage:    types.KeyUsageTypeEncryptDecrypt,
		Description: aws.String("keyport key " + oc.key.Name + " (" + oc.key.ID + "), managed by keyport: change it from keyport"),
		Tags: []types.Tag{{TagKey: aws.String(tagKey), TagValue: aws.String(op.KeyID)}, {TagKey: aws.String(tagOperation), TagValue: aws.String(op.ID)},
			{TagKey: aws.String(tagTenant), TagValue: aws.String(op.TenantID)}, {TagKey: aws.String(tagMaterial), TagValue: aws.String(op.MaterialID)}},
	})
	if err != nil {
		return "", awskms.ClassifyKMSError(err)
	}
	return aws.ToString(out.KeyMetadata.Arn), nil
}

// findTaggedKey returns the KMS key tagged with the operation, if any.
func findTaggedKey(ctx context.Context, client *kms.Client, opID string) (string, error) {
	p := kms.NewListKeysPaginator(client, &kms.ListKeysInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return "", awskms.ClassifyKMSError(err)
		}
		for _, k := range page.Keys {
			tags, err := client.ListResourceTags(ctx, &kms.ListResourceTagsInput{KeyId: k.KeyArn})
			if err != nil {
				continue // a key keyport may not read is not one it created
			}
			for _, t := range tags.Tags {
				if aws.ToString(t.TagKey) == tagOperation && aws.ToString(t.TagValue) == opID {
					return aws.ToString(k.KeyArn), nil
				}
			}
		}
	}
	return "", nil
}

// validateKMSKey checks that the KMS key is enabled, EXTERNAL, and does a
// data-key round trip under the key's encryption context.
func (s *Service) validateKMSKey(ctx context.Context, oc *opContext, arn string) error {
	md, c := keysvc.DescribeKMSKey(ctx, oc.client, oc.conn, oc.store.Region, arn)
	if !c.OK {
		return checkErr(c)
	}
	if md.Origin != types.OriginTypeExternal {
		return fmt.Errorf("keysvc: KMS key %s has origin %s, not EXTERNAL", arn, md.Origin)
	}
	if c := keysvc.RoundTripKMSKey(ctx, oc.client, oc.store.Region, arn, keysvc.KMSContext(oc.op.TenantID, oc.op.KeyID)); !c.OK {
		return checkErr(c)
	}
	return nil
}

// checkErr turns a failed check into an error: unreachable is transient.
func checkErr(c keysvc.Check) error {
	if c.Health == models.HealthUnreachable {
		return fmt.Errorf("%w: %s", awskms.ErrUnavailable, c.Detail)
	}
	return errors.New("keysvc: " + c.Name + ": " + c.Detail)
}

// pointAlias makes the key's alias name the KMS key arn. A new key's alias
// is created; an existing one is moved. An alias of that name that
// keyport did not make is never taken over.
func (s *Service) pointAlias(ctx context.Context, oc *opContext, arn string) error {
	name := aws.String(oc.managed.AliasName)
	if oc.op.Kind == models.OpCreate {
		_, err := oc.client.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: name, TargetKeyId: aws.String(arn)})
		if awskms.ErrorCode(err) != "AlreadyExistsException" {
			return awskms.ClassifyKMSError(err)
		}
		cur, derr := oc.client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: name})
		if derr != nil {
			return awskms.ClassifyKMSError(derr)
		}
		if aws.ToString(cur.KeyMetadata.Arn) != arn {
			return fmt.Errorf("keysvc: the alias %s already names another KMS key in your account", oc.managed.AliasName)
		}
		return nil
	}
	return moveAlias(ctx, oc.client, oc.managed.AliasName, arn)
}

// moveAlias points an alias keyport made at arn, creating it again if it
// was deleted in KMS.
func moveAlias(ctx context.Context, client *kms.Client, alias, arn string) error {
	_, err := client.UpdateAlias(ctx, &kms.UpdateAliasInput{AliasName: aws.String(alias), TargetKeyId: aws.String(arn)})
	if awskms.ErrorCode(err) == "NotFoundException" {
		_, err = client.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(alias), TargetKeyId: aws.String(arn)})
	}
	return awskms.ClassifyKMSError(err)
}

// commitVersion makes a data key under the new KMS key and commits the
// key's new version, KMS key and active material in one transaction. Only
// the wrapped copy is kept (the data path unwraps it when needed), so KMS
// is asked for no plaintext at all.
func (s *Service) commitVersion(ctx context.Context, oc *opContext) error {
	op := oc.op
	out, err := oc.client.GenerateDataKeyWithoutPlaintext(ctx, &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: aws.String(op.KMSKeyARN),
		KeySpec: types.DataKeySpecAes256, EncryptionContext: keysvc.KMSContext(op.TenantID, op.KeyID)})
	if err != nil {
		return awskms.ClassifyKMSError(err)
	}
	reason := map[string]string{models.OpCreate: "create", models.OpRenew: "renewal", models.OpUndo: "undo renewal", models.OpRotate: "rotate material"}[op.Kind]
	for attempt := 0; ; attempt++ {
		k, err := s.db.GetKey(ctx, op.TenantID, op.KeyID)
		if err != nil {
			return err
		}
		next := k.CurrentVersion + 1
		k, err = s.db.CommitKeyVersion(ctx, models.VersionCommit{Op: op, Region: oc.store.Region, KMSKeyARN: op.KMSKeyARN,
			MaterialID: op.MaterialID, FromVersion: k.CurrentVersion,
			Version: models.DataKeyVersion{Version: next, Reason: reason, CreatedBy: op.Actor},
			Wraps:   []models.DataKeyWrap{{Region: oc.store.Region, KMSKeyARN: op.KMSKeyARN, Ciphertext: out.CiphertextBlob}},
			Audit: models.AuditInput{Actor: op.Actor, Action: "key." + op.Kind + "_completed", Details: map[string]string{
				"operation_id": op.ID, "version": strconv.FormatInt(next, 10), "kms_key_arn": op.KMSKeyARN, "alias": oc.managed.AliasName}}})
		if errors.Is(err, models.ErrConflict) && attempt < 3 {
			continue // a data-key rotation won the race; commit on top of it
		}
		if err != nil {
			return err
		}
		s.keys.ApplyKey(k)
		op.State = models.OpDone
		return nil
	}
}
