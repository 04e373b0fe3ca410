package managed

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"keyport/models"
)

// TestClosureResumesAfterCrash kills the process closing a tenant right
// after each step's side effect (the worst moment: the next step is not
// recorded yet, the job still holds its lease) and restarts it: the
// restarted process takes the job over when the lease ends and finishes
// the closure from the recorded step, each effect happening once.
func TestClosureResumesAfterCrash(t *testing.T) {
	for _, crashAfter := range closeSteps[:3] {
		t.Run(crashAfter, func(t *testing.T) {
			e := newLCEnv(t)
			ctx := context.Background()
			res := e.create(t, "closing key", 30)
			if !res.Done() {
				t.Fatalf("create: %+v", res)
			}
			arn := res.Op.KMSKeyARN
			if _, err := e.svc.RequestClosure(ctx, e.tenant.ID, e.by, ClosureInput{ConfirmName: e.tenant.Name, WindowDays: 7}); err != nil {
				t.Fatal(err)
			}
			e.clk.Advance(7*24*time.Hour + time.Second)
			e.svc.lifecycle().closureHook = func(step string) error {
				if step == crashAfter {
					runtime.Goexit() // the process dies here
				}
				return nil
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				_, _ = e.svc.ResumeOperations(ctx)
			}()
			<-done
			c, err := e.svc.Closure(ctx, e.tenant.ID)
			// revoke and erase record the next step with their effect; the
			// KMS step's effect is in KMS, where running it again is safe.
			recorded := map[string]string{closeStepRevoke: closeStepKMS, closeStepKMS: closeStepKMS, closeStepErase: closeStepFinish}[crashAfter]
			if err != nil || c.State != models.ClosureClosing || c.Step != recorded {
				t.Fatalf("closure after the crash: %+v %v", c, err)
			}
			e.restart()
			e.clk.Advance(3 * time.Minute) // the dead worker's lease ends
			if _, err := e.svc.ResumeOperations(ctx); err != nil {
				t.Fatal(err)
			}
			if c, err = e.svc.Closure(ctx, e.tenant.ID); err != nil || c.State != models.ClosureClosed || c.KMSKeysScheduled != 1 {
				t.Fatalf("closure after the restart: %+v %v", c, err)
			}
			d, err := e.inspectorIn(cpRegion).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(arn)})
			if err != nil || d.KeyMetadata.KeyState != "PendingDeletion" {
				t.Fatalf("the key's KMS key after the closure: %+v %v", d, err)
			}
			ms, err := e.db.KeyMaterials(ctx, e.tenant.ID, res.Key.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range ms {
				if len(m.Sealed) != 0 {
					t.Errorf("material %s not erased", m.ID)
				}
			}
			events, err := e.db.ListAudit(ctx, e.tenant.ID, 1000)
			if err != nil {
				t.Fatal(err)
			}
			n := map[string]int{}
			for _, ev := range events {
				n[ev.Action]++
			}
			for _, a := range []string{"tenant.closure_requested", "tenant.access_revoked", "tenant.secrets_erased", "tenant.closed"} {
				if n[a] != 1 {
					t.Errorf("%d %s events, want 1", n[a], a)
				}
			}
		})
	}
}
