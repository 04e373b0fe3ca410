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
// replica's cached data keys are purged) and then disables its KMS keys.
func (s *Service) Deactivate(ctx context.Context, tenantID string, by keysvc.RequestBy, keyID string) error {
	_, mk, err := s.managedKey(ctx, tenantID, keyID, models.StateEnabled)
	if err != nil {
		return err
	}
	st := models.StateDisabled
	k, err := s.db.UpdateKey(ctx, tenantID, keyID, models.KeyUpdate{State: &st, BumpEpoch: true}, by.Audit("key.deactivated", nil))
	if err != nil {
		return err
	}
	s.keys.ApplyKey(k)
	s.keys.PurgeKey(tenantID, keyID)
	return s.eachKMSKey(ctx, tenantID, keyID, mk, func(c *kms.Client, arn string) error {
		_, err := c.DisableKey(ctx, &kms.DisableKeyInput{KeyId: aws.String(arn)})
		return err
	})
}

// Activate enables a key's KMS keys and then the key in keyport.
func (s *Service) Activate(ctx context.Context, tenantID string, by keysvc.RequestBy, keyID string) error {
	_, mk, err := s.managedKey(ctx, tenantID, keyID, models.StateDisabled)
	if err != nil {
		return err
	}
	if err := s.eachKMSKey(ctx, tenantID, keyID, mk, func(c *kms.Client, arn string) error {
		_, err := c.EnableKey(ctx, &kms.EnableKeyInput{KeyId: aws.String(arn)})
		return err
	}); err != nil {
		return err
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

// ScheduleDeletion starts a key's deletion: every KMS key of it is
// scheduled for deletion after the waiting period, and keyport stops
// using it at once. Refused with *DependencyError while data-key versions
// depend on the key, unless acknowledged.
func (s *Service) ScheduleDeletion(ctx context.Context, tenantID string, by keysvc.RequestBy, keyID string, in DeleteInput) (*models.Key, error) {
	k, mk, err := s.managedKey(ctx, tenantID, keyID, models.StateEnabled, models.StateDisabled)
	if err != nil {
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
	if err := s.consumeApproval(ctx, tenantID, by, keyID, models.ApprovalDelete, in.ApprovalID); err != nil {
		return nil, err
	}
	at := s.now().Add(time.Duration(days) * 24 * time.Hour).UTC()
	k2, err := s.db.SetKeyDeletion(ctx, tenantID, keyID, &at, models.StatePendingDeletion, by.Audit("key.deletion_scheduled",
		map[string]string{"window_days": strconv.Itoa(days), "deletion_at": at.Format(time.RFC3339), "data_key_versions": strconv.FormatInt(n, 10)}))
	if err != nil {
		return nil, err
	}
	s.keys.ApplyKey(k2)
	s.keys.PurgeKey(tenantID, keyID)
	err = s.eachKMSKey(ctx, tenantID, keyID, mk, func(c *kms.Client, arn string) error {
		_, err := c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(arn), PendingWindowInDays: aws.Int32(int32(days))})
		if errors.Is(awskms.ClassifyKMSError(err), awskms.ErrKeyPendingDeletion) {
			return nil // scheduled by an earlier attempt
		}
		return err
	})
	if err != nil {
		// Nothing is lost while the window runs: put the key back as it
		// was and cancel whatever KMS already scheduled.
		_ = s.cancelKMSDeletion(ctx, tenantID, keyID, mk)
		if _, rerr := s.db.SetKeyDeletion(ctx, tenantID, keyID, nil, k.State, by.Audit("key.deletion_failed", nil)); rerr != nil {
			s.log.Warn("restore key after failed deletion", "key_id", keyID, "err", rerr)
		}
		return nil, err
	}
	return k2, nil
}

// CancelDeletion cancels a key's deletion during its waiting period. The
// key comes back DISABLED, as its KMS keys do; activate it to use it.
func (s *Service) CancelDeletion(ctx context.Context, tenantID string, by keysvc.RequestBy, keyID string) (*models.Key, error) {
	_, mk, err := s.managedKey(ctx, tenantID, keyID, models.StatePendingDeletion)
	if err != nil {
		return nil, err
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
