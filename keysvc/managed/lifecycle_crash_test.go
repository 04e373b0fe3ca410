package managed

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"keyport/models"
)

// startKind starts a create (a new key named name) or a renewal (of a key
// made just before) and returns the key id. It runs on its own goroutine
// so that a hook may end it with runtime.Goexit, which stands for the
// process dying: nothing after that point runs, the job keeps its lease.
func (e *lcEnv) startKind(t *testing.T, kind, name string) string {
	t.Helper()
	ctx := context.Background()
	keyID := ""
	if kind == models.OpRenew {
		hook := e.svc.lifecycle().hook
		e.svc.lifecycle().hook = nil
		keyID = e.create(t, name, 0).Key.ID
		e.svc.lifecycle().hook = hook
		e.clk.Advance(time.Second) // the renewal is the key's newest operation
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if kind == models.OpCreate {
			_, _ = e.svc.CreateGeneratedKey(ctx, e.tenant.ID, e.by, CreateKeyInput{StoreID: e.store.ID, Name: name, ValidDays: 30})
		} else {
			_, _ = e.svc.Renew(ctx, e.tenant.ID, e.by, keyID)
		}
	}()
	<-done
	if keyID == "" {
		ks, _ := e.db.ListKeys(ctx, e.tenant.ID)
		for _, k := range ks {
			if k.Name == name {
				keyID = k.ID
			}
		}
	}
	if keyID == "" {
		t.Fatalf("%s: no key recorded", name)
	}
	return keyID
}

// lastOp is the key's newest operation.
func (e *lcEnv) lastOp(t *testing.T, keyID string) models.KeyOperation {
	t.Helper()
	ops, err := e.db.KeyOperations(context.Background(), e.tenant.ID, keyID, 1)
	if err != nil || len(ops) == 0 {
		t.Fatalf("operations of %s: %v", keyID, err)
	}
	return ops[0]
}

// resume is a restarted process finishing what is left, once the dead
// worker's lease and any retry delay have passed.
func (e *lcEnv) resume(t *testing.T) {
	t.Helper()
	e.restart()
	e.clk.Advance(3 * time.Minute)
	if _, err := e.svc.ResumeOperations(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// crashStats counts the invariants' outcomes over all scenarios.
type crashStats struct {
	scenarios, resumed, rolledBack, secondKeys, orphans, aliasWrong, lost int
}

// checkResumed checks that the key's newest operation finished after the
// restart, then checks it as checkDone does.
func (e *lcEnv) checkResumed(t *testing.T, st *crashStats, label, keyID string, wantKeys int) {
	t.Helper()
	if op := e.lastOp(t, keyID); op.State != models.OpDone {
		t.Errorf("%s: operation %s at %s: %s", label, op.State, op.Step, op.Detail)
		return
	}
	st.resumed++
	e.checkDone(t, st, label, keyID, wantKeys)
}

// checkDone checks a finished operation: one live KMS key per committed
// material (no second key), none pending deletion, nothing untagged, the
// alias on the newest usable key, the data path working and the material
// still the one in KMS.
func (e *lcEnv) checkDone(t *testing.T, st *crashStats, label, keyID string, wantKeys int) {
	t.Helper()
	w := e.world(t)
	if n := len(w.live[keyID]); n != wantKeys {
		st.secondKeys++
		t.Errorf("%s: %d live KMS keys, want %d", label, n, wantKeys)
	}
	if w.untagged > 0 || len(w.deleting[keyID]) > 0 {
		st.orphans++
		t.Errorf("%s: untagged %d, pending deletion %v", label, w.untagged, w.deleting[keyID])
	}
	active, err := e.db.ActiveMaterial(context.Background(), e.tenant.ID, keyID)
	if err != nil || e.aliasTarget(t, keyID) != active.KMSKeyARN {
		st.aliasWrong++
		t.Errorf("%s: alias not on the active material's KMS key (%v)", label, err)
	}
	if err := e.roundTrip(t, keyID); err != nil {
		st.aliasWrong++
		t.Errorf("%s: data path: %v", label, err)
	}
	e.materialIntact(t, keyID)
}

// TestLifecycleCrashAfterEachStep kills the process after every step of
// create and renew (after the step's side effect, before the next step is
// recorded: the worst moment), restarts, and checks the invariants; then
// injects a transient and a permanent KMS failure into every KMS call of
// every step.
func TestLifecycleCrashAfterEachStep(t *testing.T) {
	e := newLCEnv(t)
	var st crashStats
	steps := 0
	for _, kind := range []string{models.OpCreate, models.OpRenew} {
		want := map[string]int{models.OpCreate: 1, models.OpRenew: 2}[kind]
		for _, step := range opSteps[kind] {
			steps++
			label := kind + " killed after " + step
			st.scenarios++
			e.svc.lifecycle().hook = func(_ *models.KeyOperation, s string) error {
				if s == step {
					runtime.Goexit()
				}
				return nil
			}
			keyID := e.startKind(t, kind, fmt.Sprintf("kill-%s-%s", kind, step))
			e.resume(t)
			e.checkResumed(t, &st, label, keyID, want)
		}
	}

	// Transient KMS failures: the attempt fails, the job retries from the
	// recorded step and finishes.
	kmsOps := map[string][]string{stepCreateKMSKey: {"CreateKey"}, stepImport: {"GetParametersForImport", "ImportKeyMaterial"},
		stepValidate: {"DescribeKey", "GenerateDataKey", "Decrypt"}, stepAlias: {"CreateAlias", "UpdateAlias"}, stepCommit: {"GenerateDataKeyWithoutPlaintext"}}
	transientN, permanentN := 0, 0
	for _, kind := range []string{models.OpCreate, models.OpRenew} {
		want := map[string]int{models.OpCreate: 1, models.OpRenew: 2}[kind]
		for _, step := range opSteps[kind] {
			for _, kop := range kmsOps[step] {
				if (kind == models.OpCreate && kop == "UpdateAlias") || (kind == models.OpRenew && kop == "CreateAlias") {
					continue
				}
				label := kind + " " + step + " " + kop
				e.svc.lifecycle().hook = func(_ *models.KeyOperation, s string) error {
					if s == stepForOp(step) {
						e.srv.FailNext(kop, 1, "KMSInternalException")
					}
					return nil
				}
				if step == opSteps[kind][0] {
					e.svc.lifecycle().hook = nil
					armOnStart(e, kind, kop, "KMSInternalException")
				}
				transientN++
				st.scenarios++
				keyID := e.startKind(t, kind, fmt.Sprintf("transient-%s-%s-%s", kind, step, kop))
				e.srv.ClearFaults()
				e.svc.lifecycle().hook = nil
				e.resume(t)
				e.checkResumed(t, &st, label, keyID, want)
			}
		}
	}
	// Permanent failures (KMS refuses keyport) roll back: the new KMS key is
	// tagged and scheduled for deletion, the alias stays on the key that
	// works, a new key is marked DELETED and a renewed one keeps its version.
	for _, kind := range []string{models.OpCreate, models.OpRenew} {
		for _, kop := range []string{"CreateKey", "ImportKeyMaterial", "GenerateDataKeyWithoutPlaintext"} {
			label := kind + " refused " + kop
			st.scenarios++
			permanentN++
			e.svc.lifecycle().hook = nil
			armOnStart(e, kind, kop, "AccessDeniedException")
			keyID := e.startKind(t, kind, fmt.Sprintf("refused-%s-%s", kind, kop))
			e.srv.ClearFaults()
			e.resume(t) // nothing left to resume: the rollback happened in the request
			op := e.lastOp(t, keyID)
			k, _ := e.db.GetKey(context.Background(), e.tenant.ID, keyID)
			w := e.world(t)
			if op.State != models.OpFailed || w.untagged > 0 {
				t.Errorf("%s: op %s, untagged %d", label, op.State, w.untagged)
				continue
			}
			st.rolledBack++
			switch kind {
			case models.OpCreate:
				if k.State != models.StateDeleted || len(w.live[keyID]) != 0 {
					st.orphans++
					t.Errorf("%s: key %s, live KMS keys %v", label, k.State, w.live[keyID])
				}
			case models.OpRenew:
				active, _ := e.db.ActiveMaterial(context.Background(), e.tenant.ID, keyID)
				if k.CurrentVersion != 1 || len(w.live[keyID]) != 1 || len(w.deleting[keyID]) > 1 {
					st.secondKeys++
					t.Errorf("%s: version %d, live KMS keys %v, deleting %v", label, k.CurrentVersion, w.live[keyID], w.deleting[keyID])
				}
				if e.aliasTarget(t, keyID) != active.KMSKeyARN || e.roundTrip(t, keyID) != nil {
					st.aliasWrong++
					t.Errorf("%s: alias or data path broken after rollback", label)
				}
			}
		}
	}
	fmt.Printf("METRIC lifecycle_crash steps=%d resumed=%d transient_faults=%d permanent_faults=%d rolled_back=%d orphans=%d second_keys=%d alias_wrong=%d lost=%d\n",
		steps, st.resumed, transientN, permanentN, st.rolledBack, st.orphans, st.secondKeys, st.aliasWrong, st.lost)
}

// stepForOp is the step after which a fault in the next step's KMS call is
// armed: the hook runs after a step, so a fault for step N is armed after
// step N-1.
func stepForOp(step string) string {
	for _, steps := range opSteps {
		for i, s := range steps {
			if s == step && i > 0 {
				return steps[i-1]
			}
		}
	}
	return ""
}

// armOnStart arms a fault for the first KMS call op of the operation, for
// faults in its first step (no earlier step for the hook to arm it from).
// A renewal's own setup (creating the key it renews) runs before, so the
// fault is armed by the hook on the renewal's first step instead.
func armOnStart(e *lcEnv, kind, kop, code string) {
	if kind == models.OpCreate {
		e.srv.FailNext(kop, 1, code)
		return
	}
	armed := false
	e.svc.lifecycle().hook = nil
	e.svc.lifecycle().beforeRun = func(op *models.KeyOperation) {
		if op.Kind == models.OpRenew && !armed {
			armed = true
			e.srv.FailNext(kop, 1, code)
		}
	}
}
