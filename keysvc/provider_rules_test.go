package keysvc

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"keyport/keysvc/awskms"
)

// TestProviderSettingsEnforcedOnRegistration: each provider setting (allowed
// regions, replica regions, DR regions, one key per tenant) refuses a
// registration that breaks it, with a message naming the rule, stores
// nothing, and lets through the registration that keeps it. (Creation by
// keyport is in managed's TestProviderSettingsEnforcedOnCreation.)
func TestProviderSettingsEnforcedOnRegistration(t *testing.T) {
	e := newCPEnv(t)
	ctx := context.Background()
	conn := e.roleConn(t, "role", cpRoleARN)
	set := func(t *testing.T, in ProviderSettingsInput) {
		t.Helper()
		if _, err := e.svc.UpdateProviderSettings(ctx, e.by, in); err != nil {
			t.Fatal(err)
		}
	}
	register := func(name, arn, extra string) (*Registered, error) {
		return e.svc.RegisterKey(ctx, e.tenant.ID, e.by, RegisterInput{ConnectionID: conn.ID, Name: name, KeyARN: arn, ExtraARNs: extra})
	}
	refusedField := func(t *testing.T, err error, field, words string) {
		t.Helper()
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != field || !strings.Contains(ve.Message, words) {
			t.Fatalf("err = %v, want %s: %q", err, field, words)
		}
	}
	noKeys := func(t *testing.T, want int) {
		t.Helper()
		if ks, _ := e.db.ListKeys(ctx, e.tenant.ID); len(ks) != want {
			t.Fatalf("%d keys stored, want %d", len(ks), want)
		}
	}
	west := e.createKMSKey(t, "us-west-2", nil)

	t.Run("allowed regions", func(t *testing.T) {
		set(t, ProviderSettingsInput{AllowedRegions: "us-east-1"})
		_, err := register("west", west, "")
		refusedField(t, err, "key_arn", "is in us-west-2, which your provider does not allow (allowed: us-east-1)")
		_, err = register("east with west dr", e.createKMSKey(t, cpRegion, nil), west)
		refusedField(t, err, "extra_arns", "which your provider does not allow")
		_, err = e.svc.CreateConnection(ctx, e.tenant.ID, e.by, ConnectionInput{Name: "west", AccountID: cpTenantAcct,
			DefaultRegion: "us-west-2", Kind: awskms.KindAssumeRole, RoleARN: cpRoleARN})
		refusedField(t, err, "default_region", "not one of the regions your provider allows")
		noKeys(t, 0)
	})
	t.Run("DR regions", func(t *testing.T) {
		set(t, ProviderSettingsInput{DRRegions: "1"})
		_, err := register("no dr", e.createKMSKey(t, cpRegion, nil), "")
		refusedField(t, err, "extra_arns", "at least 1 region(s) besides the primary")
		noKeys(t, 0)
	})
	t.Run("replica regions", func(t *testing.T) {
		set(t, ProviderSettingsInput{ReplicaRegions: "us-west-2"})
		_, err := register("single region", e.createKMSKey(t, cpRegion, nil), "")
		var re *RegisterError
		if !errors.As(err, &re) {
			t.Fatalf("err = %v, want a RegisterError", err)
		}
		if h, detail := healthOf(re.Checks); !strings.Contains(detail, "multi-region key with replicas in us-west-2") {
			t.Fatalf("failed check %s %q does not name the replica rule", h, detail)
		}
		mrk := e.createKMSKey(t, cpRegion, &kms.CreateKeyInput{MultiRegion: aws.Bool(true)})
		_, err = register("replica missing", mrk, "")
		if !errors.As(err, &re) {
			t.Fatalf("err = %v, want a RegisterError", err)
		}
		if _, detail := healthOf(re.Checks); !strings.Contains(detail, "no replica in us-west-2") {
			t.Fatalf("failed check %q does not name the missing replica", detail)
		}
		noKeys(t, 0)
		if _, err := e.adminIn(cpRegion).ReplicateKey(ctx, &kms.ReplicateKeyInput{KeyId: aws.String(mrk), ReplicaRegion: aws.String("us-west-2")}); err != nil {
			t.Fatal(err)
		}
		if _, err := register("replicated", mrk, ""); err != nil {
			t.Fatalf("a key with its replicas: %v", err)
		}
		noKeys(t, 1)
	})
	t.Run("one key per tenant", func(t *testing.T) {
		set(t, ProviderSettingsInput{OneKeyPerTenant: true})
		_, err := register("second", e.createKMSKey(t, cpRegion, nil), "")
		refusedField(t, err, "key_arn", "one key per tenant")
		noKeys(t, 1)
		set(t, ProviderSettingsInput{})
		if _, err := register("second", e.createKMSKey(t, cpRegion, nil), ""); err != nil {
			t.Fatalf("without the setting: %v", err)
		}
	})
}
