package managed_test

import (
	"context"
	"errors"
	"testing"

	"keyport/keysvc"
	"keyport/keysvc/awskms"
	"keyport/keysvc/keysvctest"
	"keyport/keysvc/managed"
	"keyport/models"
)

// TestDeactivateRegisteredKeyMakesNoKMSCall: a registered customer-managed
// key is the tenant's own, so deactivating it only stops keyport using it
// (a recorded operation with no KMS step) and activating it only lets
// keyport use it again: both work while every KMS call would fail.
// Lifecycle actions on material keyport does not hold stay refused.
func TestDeactivateRegisteredKeyMakesNoKMSCall(t *testing.T) {
	env := keysvctest.New(t, keysvc.Config{})
	mgd := env.Managed(env.Service)
	ctx := context.Background()
	by := keysvc.RequestBy{UserID: env.Owner.ID}
	k := env.Key(t, "customer")
	if _, err := env.Service.Encrypt(ctx, env.Tenant.ID, k.ID, []byte("x"), nil); err != nil {
		t.Fatal(err)
	}

	env.KMS.FailNext("*", 1000, "AccessDeniedException")
	res, err := mgd.Deactivate(ctx, env.Tenant.ID, by, k.ID)
	if err != nil || !res.Done() || res.Op.Kind != models.OpDeactivate || res.Key.State != models.StateDisabled {
		t.Fatalf("deactivate: %v %+v", err, res)
	}
	if _, err := env.Service.Encrypt(ctx, env.Tenant.ID, k.ID, []byte("x"), nil); !errors.Is(err, awskms.ErrKeyDisabled) {
		t.Fatalf("encrypt under a deactivated key: %v", err)
	}
	if _, err := mgd.Deactivate(ctx, env.Tenant.ID, by, k.ID); err == nil {
		t.Fatal("deactivated twice")
	}
	if err := mgd.Activate(ctx, env.Tenant.ID, by, k.ID); err != nil {
		t.Fatalf("activate: %v", err)
	}
	env.KMS.ClearFaults()
	if _, err := env.Service.Encrypt(ctx, env.Tenant.ID, k.ID, []byte("x"), nil); err != nil {
		t.Fatalf("encrypt after activate: %v", err)
	}
	for name, f := range map[string]func() (*managed.OperationResult, error){
		"renew": func() (*managed.OperationResult, error) { return mgd.Renew(ctx, env.Tenant.ID, by, k.ID) },
		"delete": func() (*managed.OperationResult, error) {
			return mgd.ScheduleDeletion(ctx, env.Tenant.ID, by, k.ID, managed.DeleteInput{Acknowledge: true})
		},
	} {
		if _, err := f(); !errors.Is(err, managed.ErrNotManaged) {
			t.Errorf("%s of a registered key: %v, want ErrNotManaged", name, err)
		}
	}
	if _, err := mgd.Deactivate(ctx, "tnt_other", by, k.ID); !errors.Is(err, keysvc.ErrKeyNotFound) {
		t.Errorf("another tenant deactivated the key: %v", err)
	}
}
