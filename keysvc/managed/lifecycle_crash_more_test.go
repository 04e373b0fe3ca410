package managed

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"keyport/keysvc/awskms"
	"keyport/models"
)

// setupFor makes the key an operation of kind works on, with no hook: a
// created key, renewed first for an undo, its material lost in KMS for a
// re-upload.
func (e *lcEnv) setupFor(t *testing.T, kind, name string) string {
	t.Helper()
	ctx := context.Background()
	lc := e.svc.lifecycle()
	hook, before := lc.hook, lc.beforeRun
	lc.hook, lc.beforeRun = nil, nil
	defer func() { lc.hook, lc.beforeRun = hook, before }()
	keyID := e.create(t, name, 30).Key.ID
	switch kind {
	case models.OpUndo:
		if res, err := e.svc.Renew(ctx, e.tenant.ID, e.by, keyID); err != nil || !res.Done() {
			t.Fatalf("%s: renew: %v %+v", name, err, res)
		}
	case models.OpReupload:
		active, err := e.db.ActiveMaterial(ctx, e.tenant.ID, keyID)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.srv.LoseKeyMaterial(active.KMSKeyARN); err != nil {
			t.Fatal(err)
		}
	}
	e.clk.Advance(time.Second) // the operation under test is the key's newest
	return keyID
}

// runKind starts an operation of kind on the key on its own goroutine, so
// a hook may end it with runtime.Goexit (the process dying).
func (e *lcEnv) runKind(kind, keyID string) {
	ctx := context.Background()
	done := make(chan struct{})
	go func() {
		defer close(done)
		switch kind {
		case models.OpUndo:
			_, _ = e.svc.UndoRenewal(ctx, e.tenant.ID, e.by, keyID)
		case models.OpRotate:
			_, _ = e.svc.RotateMaterialInPlace(ctx, e.tenant.ID, e.by, keyID)
		case models.OpReupload:
			_, _ = e.svc.Reupload(ctx, e.tenant.ID, e.by, keyID, "")
		case models.OpDelete:
			_, _ = e.svc.ScheduleDeletion(ctx, e.tenant.ID, e.by, keyID, DeleteInput{WindowDays: 7, Acknowledge: true})
		case models.OpDeactivate:
			_, _ = e.svc.Deactivate(ctx, e.tenant.ID, e.by, keyID)
		}
	}()
	<-done
}

// kmsState is the state of a KMS key as the tenant's admin sees it.
func (e *lcEnv) kmsState(t *testing.T, arn string) types.KeyState {
	t.Helper()
	out, err := e.inspectorIn(cpRegion).DescribeKey(context.Background(), &kms.DescribeKeyInput{KeyId: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	return out.KeyMetadata.KeyState
}

// checkStateOp checks a finished deletion or deactivation: keyport does
// not use the key, and every KMS key of it is scheduled for deletion (or
// disabled); none is left live.
func (e *lcEnv) checkStateOp(t *testing.T, label, kind, keyID string) {
	t.Helper()
	ctx := context.Background()
	k, err := e.db.GetKey(ctx, e.tenant.ID, keyID)
	if err != nil {
		t.Fatal(err)
	}
	want, kmsWant := models.StatePendingDeletion, types.KeyStatePendingDeletion
	if kind == models.OpDeactivate {
		want, kmsWant = models.StateDisabled, types.KeyStateDisabled
	}
	if k.State != want {
		t.Errorf("%s: key %s, want %s", label, k.State, want)
	}
	arns, err := e.svc.kmsKeysOf(ctx, e.tenant.ID, keyID)
	if err != nil || len(arns) == 0 {
		t.Fatalf("%s: KMS keys %v %v", label, arns, err)
	}
	for _, arn := range arns {
		if got := e.kmsState(t, arn); got != kmsWant {
			t.Errorf("%s: KMS key %s is %s, want %s", label, arn, got, kmsWant)
		}
	}
	if err := e.roundTrip(t, keyID); err == nil {
		t.Errorf("%s: the data path still uses the key", label)
	}
}

// TestLifecycleCrashMoreKinds kills the process before the first step and
// after every step of undo, in-place rotation, re-upload, deletion and
// deactivation, restarts, and checks that the operation finished with
// the same invariants as create and renew (issue 17 #22).
func TestLifecycleCrashMoreKinds(t *testing.T) {
	e := newLCEnv(t)
	resumed, scenarios := 0, 0
	for _, kind := range []string{models.OpUndo, models.OpRotate, models.OpReupload, models.OpDelete, models.OpDeactivate} {
		for _, step := range append([]string{stepStart}, opSteps[kind]...) {
			label := kind + " killed after " + step
			scenarios++
			keyID := e.setupFor(t, kind, fmt.Sprintf("kill-%s-%s", kind, step))
			lc := e.svc.lifecycle()
			if step == stepStart {
				lc.beforeRun = func(*models.KeyOperation) { runtime.Goexit() }
			} else {
				lc.hook = func(_ *models.KeyOperation, s string) error {
					if s == step {
						runtime.Goexit()
					}
					return nil
				}
			}
			e.runKind(kind, keyID)
			// The last step ends the operation in its own transaction.
			last := step == opSteps[kind][len(opSteps[kind])-1]
			if op := e.lastOp(t, keyID); op.Kind != kind || (op.State != models.OpRunning && !last) {
				t.Fatalf("%s: the dead process left operation %s %s, want a running %s", label, op.Kind, op.State, kind)
			}
			e.resume(t) // a new service: no hooks
			op := e.lastOp(t, keyID)
			if op.Kind != kind || op.State != models.OpDone {
				t.Errorf("%s: operation %s %s at %s: %s", label, op.Kind, op.State, op.Step, op.Detail)
				continue
			}
			resumed++
			switch kind {
			case models.OpDelete, models.OpDeactivate:
				e.checkStateOp(t, label, kind, keyID)
			case models.OpRotate:
				// checkDone without materialIntact: re-uploading the current
				// material of a key rotated in place fails even without a
				// crash (kmslocal's LoseKeyMaterial drops every material).
				w := e.world(t)
				active, err := e.db.ActiveMaterial(context.Background(), e.tenant.ID, keyID)
				if len(w.live[keyID]) != 1 || w.untagged > 0 || len(w.deleting[keyID]) > 0 || err != nil || e.aliasTarget(t, keyID) != active.KMSKeyARN {
					t.Errorf("%s: KMS world %+v, alias on %s (%v)", label, w, e.aliasTarget(t, keyID), err)
				}
				if err := e.roundTrip(t, keyID); err != nil {
					t.Errorf("%s: data path: %v", label, err)
				}
			default:
				var st crashStats
				e.checkDone(t, &st, label, keyID, map[string]int{models.OpUndo: 2, models.OpReupload: 1}[kind])
			}
		}
	}
	if resumed != scenarios {
		t.Errorf("%d of %d scenarios resumed", resumed, scenarios)
	}
	fmt.Printf("METRIC lifecycle_crash_more scenarios=%d resumed=%d\n", scenarios, resumed)
}

// TestDeletionFaults: a deletion KMS throttles is retried to its end; one
// KMS refuses is rolled back, the key as it was, its KMS key live and
// enabled, the data path working (issue 17 #22).
func TestDeletionFaults(t *testing.T) {
	e := newLCEnv(t)
	ctx := context.Background()

	keyID := e.setupFor(t, models.OpDelete, "transient")
	e.srv.FailNext("ScheduleKeyDeletion", 1, "KMSInternalException")
	res, err := e.svc.ScheduleDeletion(ctx, e.tenant.ID, e.by, keyID, DeleteInput{WindowDays: 7, Acknowledge: true})
	if err != nil || res.Op.State != models.OpRunning || res.Key.State != models.StatePendingDeletion {
		t.Fatalf("deletion with KMS unavailable: %v %+v", err, res)
	}
	if _, err := e.svc.ScheduleDeletion(ctx, e.tenant.ID, e.by, keyID, DeleteInput{WindowDays: 7, Acknowledge: true}); err == nil {
		t.Error("a second deletion was accepted while the first runs")
	}
	if _, err := e.svc.CancelDeletion(ctx, e.tenant.ID, e.by, keyID); !errors.Is(err, ErrOperationRunning) {
		t.Errorf("cancel while the deletion runs: %v, want ErrOperationRunning", err)
	}
	e.resume(t)
	if op := e.lastOp(t, keyID); op.State != models.OpDone {
		t.Fatalf("after the retry: %s %s", op.State, op.Detail)
	}
	e.checkStateOp(t, "transient", models.OpDelete, keyID)

	for _, from := range []models.KeyState{models.StateEnabled, models.StateDisabled} {
		label := "refused from " + string(from)
		keyID := e.setupFor(t, models.OpDelete, "refused-"+string(from))
		if from == models.StateDisabled {
			if res, err := e.svc.Deactivate(ctx, e.tenant.ID, e.by, keyID); err != nil || !res.Done() {
				t.Fatalf("%s: deactivate %v %+v", label, err, res)
			}
			e.clk.Advance(time.Second)
		}
		e.srv.FailNext("ScheduleKeyDeletion", 1, "AccessDeniedException")
		res, err := e.svc.ScheduleDeletion(ctx, e.tenant.ID, e.by, keyID, DeleteInput{WindowDays: 7, Acknowledge: true})
		if err != nil || res.Op.State != models.OpFailed || res.Key.State != from {
			t.Fatalf("%s: %v %+v", label, err, res)
		}
		mk, _ := e.db.GetManagedKey(ctx, e.tenant.ID, keyID)
		active, _ := e.db.ActiveMaterial(ctx, e.tenant.ID, keyID)
		wantKMS := map[models.KeyState]types.KeyState{models.StateEnabled: types.KeyStateEnabled, models.StateDisabled: types.KeyStateDisabled}[from]
		if mk.DeletionAt != nil || e.kmsState(t, active.KMSKeyARN) != wantKMS {
			t.Errorf("%s: deletion_at %v, KMS key %s", label, mk.DeletionAt, e.kmsState(t, active.KMSKeyARN))
		}
		if err := e.roundTrip(t, keyID); (err == nil) != (from == models.StateEnabled) || (err != nil && !errors.Is(err, awskms.ErrKeyDisabled)) {
			t.Errorf("%s: data path: %v", label, err)
		}
	}
}
