package managed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"keyport/keysvc/awskms"
	"keyport/keysvc/jobs"
	"keyport/models"
)

// The steps of a closing tenant, in order. The closure records the step
// about to run before it runs; every step is safe to run again, so a
// crash or a failed attempt resumes from the recorded one.
const (
	closeStepRevoke   = "revoke_access"         // memberships, sessions, invitations, tokens end; keys leave service
	closeStepKMS      = "schedule_kms_deletion" // keyport-made KMS keys scheduled for deletion (needs the connections' secrets)
	closeStepErase    = "erase_secrets"         // material, IAM secrets, import keys, wrapped data keys erased; keys DELETED
	closeStepFinish   = "finish"
	closureActor      = "keyport:closure"
	closeLeftoverNote = "schedule their deletion in KMS yourself"
)

var closeSteps = []string{closeStepRevoke, closeStepKMS, closeStepErase, closeStepFinish}

// errClosureWaits is a closure step that waits for something to finish
// first; the job is retried.
var errClosureWaits = errors.New("keysvc: closure waits")

type closurePayload struct {
	ClosureID string `json:"closure_id"`
}

// runClosureJob closes a tenant whose window has ended, from its recorded
// step. A cancelled closure completes the job doing nothing.
func (s *Service) runClosureJob(ctx context.Context, j *models.Job, l models.Lease) error {
	var p closurePayload
	if err := json.Unmarshal([]byte(j.Payload), &p); err != nil || p.ClosureID == "" {
		return jobs.Permanent(fmt.Errorf("keysvc: closure job payload: %v", err))
	}
	c, err := s.db.BeginTenantClosure(ctx, j.TenantID, p.ClosureID)
	if errors.Is(err, models.ErrConflict) && c != nil && c.State == models.ClosureCancelled {
		return s.db.CompleteJob(ctx, l, "closure cancelled", nil)
	}
	if err != nil {
		return err
	}
	if c.State == models.ClosureClosed {
		return s.db.CompleteJob(ctx, l, "tenant closed", nil)
	}
	i := max(slices.Index(closeSteps, c.Step), 0)
	for ; i < len(closeSteps); i++ {
		step := closeSteps[i]
		if c.Step != step {
			if err := s.db.SetClosureStep(ctx, c.TenantID, c.ID, step, c.KMSKeysScheduled, c.Detail); err != nil {
				return err
			}
			c.Step = step
		}
		if err := s.runClosureStep(ctx, c, step, l); err != nil {
			return fmt.Errorf("close tenant: %s: %w", step, err)
		}
		if h := s.lifecycle().closureHook; h != nil {
			if err := h(step); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Service) runClosureStep(ctx context.Context, c *models.TenantClosure, step string, l models.Lease) error {
	audit := func(action string) models.AuditInput {
		return models.AuditInput{Actor: closureActor, ActorKind: models.ActorSystem, Action: action,
			Details: map[string]string{"closure_id": c.ID}}
	}
	switch step {
	case closeStepRevoke:
		if _, err := s.db.RevokeTenantAccess(ctx, c.TenantID, c.ID, step, closeStepKMS, audit("tenant.access_revoked")); err != nil {
			return err
		}
		return s.dropTenantKeys(ctx, c.TenantID)
	case closeStepKMS:
		return s.scheduleTenantKMSKeys(ctx, c)
	case closeStepErase:
		if _, err := s.db.EraseTenantSecrets(ctx, c.TenantID, c.ID, step, closeStepFinish, audit("tenant.secrets_erased")); err != nil {
			return err
		}
		return s.dropTenantKeys(ctx, c.TenantID)
	case closeStepFinish:
		a := audit("tenant.closed")
		a.Details["kms_keys_scheduled"] = strconv.Itoa(c.KMSKeysScheduled)
		if c.Detail != "" {
			a.Details["not_done"] = c.Detail
		}
		return s.db.FinishTenantClosure(ctx, l, c.TenantID, c.ID, a)
	}
	return jobs.Permanent(fmt.Errorf("keysvc: unknown closure step %q", step))
}

// dropTenantKeys brings this process's key and token tables up to date
// after a closure step changed them, and drops the keys' cached data keys
// now (other replicas follow the revision).
func (s *Service) dropTenantKeys(ctx context.Context, tenantID string) error {
	s.keys.RefreshTables(ctx)
	ks, err := s.db.ListKeys(ctx, tenantID)
	if err != nil {
		return err
	}
	for i := range ks {
		s.keys.ApplyKey(&ks[i])
		s.keys.PurgeKey(tenantID, ks[i].ID)
	}
	return nil
}

// scheduleTenantKMSKeys schedules for deletion every KMS key keyport made
// in the tenant's accounts, with the closure's window as KMS's waiting
// period (the tenant can still cancel it in KMS). A key already pending
// deletion or gone counts as done. A key keyport may no longer reach (the
// tenant revoked its access, say) is named in the closure's detail
// instead: only KMS being unavailable or throttling makes the step wait.
// Customer-managed keys are the tenant's own and are left alone.
func (s *Service) scheduleTenantKMSKeys(ctx context.Context, c *models.TenantClosure) error {
	n, err := s.db.RunningTenantOperations(ctx, c.TenantID)
	if err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("%w for %d key operation(s) to finish", errClosureWaits, n)
	}
	keys, err := s.db.TenantKMSKeys(ctx, c.TenantID)
	if err != nil {
		return err
	}
	clients := map[string]*kms.Client{}
	scheduled := 0
	var leftover []string
	for _, k := range keys {
		client, ok := clients[k.StoreID]
		if !ok {
			st, err := s.db.GetKeyStore(ctx, c.TenantID, k.StoreID)
			if err == nil {
				_, client, err = s.storeKMS(ctx, c.TenantID, st)
			}
			if err != nil {
				leftover = append(leftover, k.KMSKeyARN+" (its store's connection cannot be used)")
				continue
			}
			clients[k.StoreID] = client
		}
		_, err := client.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(k.KMSKeyARN),
			PendingWindowInDays: aws.Int32(int32(c.WindowDays))})
		cerr := awskms.ClassifyKMSError(err)
		switch {
		case err == nil, errors.Is(cerr, awskms.ErrKeyPendingDeletion), awskms.ErrorCode(err) == "NotFoundException":
			scheduled++
		case transient(cerr):
			return fmt.Errorf("%s: %w", k.KMSKeyARN, cerr)
		default:
			leftover = append(leftover, k.KMSKeyARN+" ("+awskms.ErrorCode(err)+")")
		}
	}
	c.KMSKeysScheduled = scheduled
	if len(leftover) > 0 {
		c.Detail = "KMS keys not scheduled for deletion, " + closeLeftoverNote + ": " + strings.Join(leftover, ", ")
	}
	return nil
}
