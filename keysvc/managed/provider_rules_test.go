package managed

import (
	"context"
	"errors"
	"strings"
	"testing"

	"keyport/keysvc"
)

// TestProviderSettingsEnforcedOnCreation: each provider setting refuses the
// keys keyport would make against it, with a message naming the setting,
// and a refusal stores no key. (Registration's side is in the key service's
// TestProviderSettingsEnforcedOnRegistration.)
func TestProviderSettingsEnforcedOnCreation(t *testing.T) {
	e := newLCEnv(t)
	ctx := context.Background()
	set := func(t *testing.T, in keysvc.ProviderSettingsInput) {
		t.Helper()
		if _, err := e.keys.UpdateProviderSettings(ctx, e.by, in); err != nil {
			t.Fatal(err)
		}
	}
	refused := func(t *testing.T, name, words string) {
		t.Helper()
		before, _ := e.db.ListKeys(ctx, e.tenant.ID)
		_, err := e.svc.CreateGeneratedKey(ctx, e.tenant.ID, e.by, CreateKeyInput{StoreID: e.store.ID, Name: name})
		var ve *keysvc.ValidationError
		if !errors.As(err, &ve) || !strings.Contains(ve.Message, words) {
			t.Fatalf("err = %v, want a ValidationError saying %q", err, words)
		}
		if after, _ := e.db.ListKeys(ctx, e.tenant.ID); len(after) != len(before) {
			t.Fatalf("the refusal stored a key (%d -> %d)", len(before), len(after))
		}
	}

	t.Run("allowed regions", func(t *testing.T) {
		conn := e.roleConn(t, "second role", cpRoleARN)
		set(t, keysvc.ProviderSettingsInput{AllowedRegions: "eu-west-1"})
		refused(t, "outside", "which your provider no longer allows (allowed: eu-west-1)")
		_, err := e.svc.CreateStore(ctx, e.tenant.ID, e.by, StoreInput{Name: "elsewhere", ConnectionID: conn.ID, Region: "us-west-2"})
		var ve *keysvc.ValidationError
		if !errors.As(err, &ve) || ve.Field != "region" || !strings.Contains(ve.Message, "is not one of the regions your provider allows") {
			t.Fatalf("store in a disallowed region: %v", err)
		}
		set(t, keysvc.ProviderSettingsInput{})
	})
	t.Run("replica regions", func(t *testing.T) {
		set(t, keysvc.ProviderSettingsInput{ReplicaRegions: "us-west-2"})
		refused(t, "single", "replicas in us-west-2")
		set(t, keysvc.ProviderSettingsInput{})
	})
	t.Run("DR regions", func(t *testing.T) {
		set(t, keysvc.ProviderSettingsInput{DRRegions: "1"})
		refused(t, "no dr", "at least 1 region(s) besides the primary")
		set(t, keysvc.ProviderSettingsInput{})
	})
	t.Run("one key per tenant", func(t *testing.T) {
		set(t, keysvc.ProviderSettingsInput{OneKeyPerTenant: true})
		res, err := e.svc.CreateGeneratedKey(ctx, e.tenant.ID, e.by, CreateKeyInput{StoreID: e.store.ID, Name: "first"})
		if err != nil || res.Key == nil {
			t.Fatalf("the first key: %+v %v", res, err)
		}
		refused(t, "second", "one key per tenant")
		set(t, keysvc.ProviderSettingsInput{})
	})
}
