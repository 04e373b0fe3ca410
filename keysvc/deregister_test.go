package keysvc_test

import (
	"context"
	"errors"
	"testing"

	"keyport/keysvc"
	"keyport/models"
)

// TestDeregisterReachesOtherReplicas: issue 14 item 5. Deregistering a
// customer-managed key needs its name typed, makes no KMS call, and stops
// its use at once here and, on its next poll, on another replica that had
// its data key cached; the audit event names the versions it ended.
func TestDeregisterReachesOtherReplicas(t *testing.T) {
	ctx := context.Background()
	e := newDPEnv(t, keysvc.Config{})
	k := e.Key(t, "leaving")
	other := e.NewService(keysvc.Config{})
	enc, err := e.Service.Encrypt(ctx, e.Tenant.ID, k.ID, []byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Decrypt(ctx, e.Tenant.ID, enc.Ciphertext, nil); err != nil {
		t.Fatal(err)
	}
	by := keysvc.RequestBy{UserID: e.Owner.ID}
	var ve *keysvc.ValidationError
	if _, err := e.Service.DeregisterKey(ctx, e.Tenant.ID, by, k.ID, "Leaving"); !errors.As(err, &ve) || ve.Field != "confirm_name" {
		t.Fatalf("deregister without the exact name: %v", err)
	}
	e.KMS.ResetCalls()
	got, err := e.Service.DeregisterKey(ctx, e.Tenant.ID, by, k.ID, " leaving ")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != models.StateDeleted {
		t.Fatalf("state after deregistration: %s", got.State)
	}
	for _, op := range []string{"Decrypt", "Encrypt", "GenerateDataKey", "ScheduleKeyDeletion", "DisableKey", "DescribeKey"} {
		if n := e.KMS.Calls(op); n != 0 {
			t.Errorf("deregistration called KMS %s %d times", op, n)
		}
	}
	if _, err := e.Service.Decrypt(ctx, e.Tenant.ID, enc.Ciphertext, nil); err == nil {
		t.Error("this replica still decrypts under a deregistered key")
	}
	if _, err := e.Service.Encrypt(ctx, e.Tenant.ID, k.ID, []byte("x"), nil); err == nil {
		t.Error("this replica still encrypts under a deregistered key")
	}
	if err := other.Warm(ctx); err != nil { // replica two's next poll
		t.Fatal(err)
	}
	if _, err := other.Decrypt(ctx, e.Tenant.ID, enc.Ciphertext, nil); err == nil {
		t.Error("replica two served a deregistered key from its cache")
	}
	if _, err := e.Service.DeregisterKey(ctx, e.Tenant.ID, by, k.ID, "leaving"); !errors.As(err, &ve) {
		t.Errorf("second deregistration: %v", err)
	}
	events, err := e.DB.ListAudit(ctx, e.Tenant.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	if !hasAction(events, "key.deregistered") {
		t.Error("no key.deregistered audit event")
	}
}
