package managed

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"keyport/keysvc/awskms"
	"keyport/models"
)

// MaxValidDays bounds material expiry in KMS (AWS allows ValidTo up to 365
// days ahead).
const MaxValidDays = 365

// importMaterial imports a material into a KMS key: fresh import
// parameters every time (the public key and token of one response are
// always used together, and an expired token is fetched again), the
// material wrapped to that public key, then ImportKeyMaterial with the
// key's expiry. The plaintext is zeroed before returning.
func (s *Service) importMaterial(ctx context.Context, oc *opContext, arn, materialID string, importType types.ImportType) error {
	if arn == "" {
		return errors.New("keysvc: no KMS key recorded to import into")
	}
	mat, err := s.db.GetKeyMaterial(ctx, oc.op.TenantID, materialID)
	if err != nil {
		return err
	}
	plain, err := s.openMaterial(mat.ID, mat.Sealed, mat.Fingerprint)
	if err != nil {
		return err
	}
	defer clear(plain)
	var validTo *time.Time
	in := &kms.ImportKeyMaterialInput{KeyId: aws.String(arn), ExpirationModel: types.ExpirationModelTypeKeyMaterialDoesNotExpire}
	if d := oc.managed.ValidDays; d > 0 {
		t := s.now().Add(time.Duration(min(d, MaxValidDays)) * 24 * time.Hour).UTC().Truncate(time.Second)
		validTo = &t
		in.ExpirationModel, in.ValidTo = types.ExpirationModelTypeKeyMaterialExpires, validTo
	}
	if importType == types.ImportTypeNewKeyMaterial {
		in.ImportType = importType
	}
	for attempt := 0; ; attempt++ {
		spec, params, err := s.importParameters(ctx, oc.client, arn)
		if err != nil {
			return err
		}
		pub, err := parseRSAPublicDER(params.PublicKey)
		if err != nil {
			return err
		}
		in.ImportToken = params.ImportToken
		if in.EncryptedKeyMaterial, err = s.wrapMaterial(pub, spec.Algorithm, plain); err != nil {
			return err
		}
		_, err = oc.client.ImportKeyMaterial(ctx, in)
		if code := awskms.ErrorCode(err); (code == "ExpiredImportTokenException" || code == "InvalidImportTokenException") && attempt < 2 {
			continue // the token lapsed between the two calls: fetch new parameters, never reuse a stale public key
		}
		if err != nil {
			return awskms.ClassifyKMSError(err)
		}
		break
	}
	details := map[string]string{"operation_id": oc.op.ID, "material": mat.ID, "fingerprint": mat.Fingerprint, "kms_key_arn": arn}
	if validTo != nil {
		details["valid_to"] = validTo.Format(time.RFC3339)
	}
	return s.db.MaterialImported(ctx, oc.op.TenantID, mat.ID, validTo,
		&models.AuditInput{TenantID: oc.op.TenantID, Actor: oc.op.Actor, Action: "key.material_imported", TargetType: "key", TargetID: oc.op.KeyID, Details: details})
}

// importParameters asks KMS for a wrapping key and token, trying the
// preferred specs in order until the KMS offers one.
func (s *Service) importParameters(ctx context.Context, client *kms.Client, arn string) (wrapSpec, *kms.GetParametersForImportOutput, error) {
	var last error
	for _, spec := range s.lifecycle().wrapSpecs {
		out, err := client.GetParametersForImport(ctx, &kms.GetParametersForImportInput{KeyId: aws.String(arn),
			WrappingAlgorithm: types.AlgorithmSpec(spec.Algorithm), WrappingKeySpec: types.WrappingKeySpec(spec.KeySpec)})
		if err == nil {
			return spec, out, nil
		}
		switch awskms.ErrorCode(err) {
		case "ValidationException", "UnsupportedOperationException":
			last = err
			continue
		}
		return spec, nil, awskms.ClassifyKMSError(err)
	}
	return wrapSpec{}, nil, fmt.Errorf("keysvc: KMS offers none of keyport's wrapping algorithms: %w", awskms.ClassifyKMSError(last))
}

// rollback undoes what a failed operation did in KMS, as far as it can,
// and records the failure. The new KMS key (tagged with the operation) is
// scheduled for deletion after 7 days, never left unexplained; the alias
// goes back to the key that worked. A transient error during rollback
// leaves the operation in its rollback step, and the job tries again.
func (s *Service) rollback(ctx context.Context, op *models.KeyOperation, cause error) error {
	detail := cause.Error()
	if errors.Is(cause, errRollbackPending) {
		detail = "the operation failed; its rollback resumed after an interruption"
	} else if err := s.db.OperationStep(ctx, op.TenantID, op.ID, stepRollback, ""); err != nil {
		return err
	}
	oc, err := s.loadOpContext(ctx, op, func() error { return nil })
	if err != nil {
		return err
	}
	leftover, err := s.rollbackStateOp(ctx, oc)
	if err != nil {
		return err
	}
	if op.Kind == models.OpCreate || op.Kind == models.OpRenew {
		arn := op.KMSKeyARN
		if arn == "" {
			if arn, err = findTaggedKey(ctx, oc.client, op.ID); err != nil {
				return err
			}
		}
		if arn != "" {
			if err := s.restoreAlias(ctx, oc, arn); err != nil {
				if transient(err) {
					return err
				}
				leftover = " The alias could not be restored: " + err.Error()
			}
			_, err := oc.client.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(arn), PendingWindowInDays: aws.Int32(7)})
			if err != nil && !errors.Is(awskms.ClassifyKMSError(err), awskms.ErrKeyPendingDeletion) {
				if c := awskms.ClassifyKMSError(err); transient(c) {
					return c
				}
				leftover += " The new KMS key " + arn + " (tagged " + tagOperation + "=" + op.ID + ") could not be scheduled for deletion; delete it in KMS."
			}
		}
	}
	audit := models.AuditInput{Actor: op.Actor, Action: "key." + op.Kind + "_failed", Details: map[string]string{"operation_id": op.ID, "step": op.Step}}
	return s.db.FailOperation(ctx, op, detail+leftover, audit)
}

// restoreAlias points the alias back at the active material's KMS key if
// it names arn (a renewal that moved it before failing); a new key's alias
// on arn is deleted.
func (s *Service) restoreAlias(ctx context.Context, oc *opContext, arn string) error {
	name := aws.String(oc.managed.AliasName)
	cur, err := oc.client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: name})
	if awskms.ErrorCode(err) == "NotFoundException" {
		return nil
	}
	if err != nil {
		return awskms.ClassifyKMSError(err)
	}
	if aws.ToString(cur.KeyMetadata.Arn) != arn {
		return nil
	}
	if oc.op.Kind == models.OpCreate {
		_, err = oc.client.DeleteAlias(ctx, &kms.DeleteAliasInput{AliasName: name})
		return awskms.ClassifyKMSError(err)
	}
	active, err := s.db.ActiveMaterial(ctx, oc.op.TenantID, oc.op.KeyID)
	if err != nil {
		return err
	}
	_, err = oc.client.UpdateAlias(ctx, &kms.UpdateAliasInput{AliasName: name, TargetKeyId: aws.String(active.KMSKeyARN)})
	return awskms.ClassifyKMSError(err)
}
