package keysvc

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// TestDiscoveredReplicasMeetProviderRules: replicas keyport discovers for an
// mrk- key count toward the provider's DR rule, in the regions it allows
// only; a tenant's bare region names stand for a multi-region key's
// replicas there, and for nothing else; the failover setting takes only
// its three values.
func TestDiscoveredReplicasMeetProviderRules(t *testing.T) {
	e := newCPEnv(t)
	ctx := context.Background()
	conn := e.roleConn(t, "role", cpRoleARN)
	mrk := func(t *testing.T, replicas ...string) string {
		t.Helper()
		arn := e.createKMSKey(t, cpRegion, &kms.CreateKeyInput{MultiRegion: aws.Bool(true)})
		for _, r := range replicas {
			if _, err := e.adminIn(cpRegion).ReplicateKey(ctx, &kms.ReplicateKeyInput{KeyId: aws.String(arn), ReplicaRegion: aws.String(r)}); err != nil {
				t.Fatal(err)
			}
		}
		return arn
	}
	register := func(name, arn, extra string) (*Registered, error) {
		return e.svc.RegisterKey(ctx, e.tenant.ID, e.by, RegisterInput{ConnectionID: conn.ID, Name: name, KeyARN: arn, ExtraARNs: extra})
	}
	regionsOf := func(t *testing.T, r *Registered) string {
		t.Helper()
		rs, err := e.db.KeyRegions(ctx, e.tenant.ID, r.Key.ID)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, x := range rs {
			out = append(out, x.Region)
		}
		return strings.Join(out, ",")
	}

	if _, err := e.svc.UpdateProviderSettings(ctx, e.by, ProviderSettingsInput{DRRegions: "2", AllowedRegions: "us-east-1 us-east-2"}); err != nil {
		t.Fatal(err)
	}
	arn := mrk(t, "us-east-2", "us-west-2")
	_, err := register("two replicas, one allowed", arn, "")
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Field != "extra_arns" || !strings.Contains(ve.Message, "at least 2 region(s) besides the primary") {
		t.Fatalf("a replica in a region the provider forbids counted: %v", err)
	}
	if _, err := e.svc.UpdateProviderSettings(ctx, e.by, ProviderSettingsInput{DRRegions: "2"}); err != nil {
		t.Fatal(err)
	}
	reg, err := register("discovered", arn, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := regionsOf(t, reg); got != "us-east-1,us-east-2,us-west-2" {
		t.Errorf("regions = %s", got)
	}

	// Region names for an mrk- key: its replicas there.
	reg, err = register("listed", mrk(t, "eu-west-1", "ap-south-1"), "eu-west-1\nap-south-1")
	if err != nil {
		t.Fatal(err)
	}
	if got := regionsOf(t, reg); got != "us-east-1,eu-west-1,ap-south-1" {
		t.Errorf("regions = %s", got)
	}
	// ... and nothing for a single-region key, whose replicas do not exist.
	single := e.createKMSKey(t, cpRegion, nil)
	if _, err := register("single", single, "us-east-2\nus-west-2"); !errors.As(err, &ve) || ve.Field != "extra_arns" {
		t.Errorf("region names for a single-region key: %v", err)
	}

	_, err = e.svc.UpdateProviderSettings(ctx, e.by, ProviderSettingsInput{ReplicaFailover: "sometimes"})
	if !errors.As(err, &ve) || ve.Field != "replica_failover" {
		t.Errorf("replica_failover sometimes: %v", err)
	}
	for in, want := range map[string]string{"": FailoverUnavailable, FailoverNever: FailoverNever, FailoverRevoked: FailoverRevoked} {
		if _, err := e.svc.UpdateProviderSettings(ctx, e.by, ProviderSettingsInput{ReplicaFailover: in}); err != nil {
			t.Fatal(err)
		}
		if ps, _ := e.svc.ProviderSettings(ctx); ps.ReplicaFailover != want {
			t.Errorf("replica_failover %q stored as %q, want %q", in, ps.ReplicaFailover, want)
		}
	}
}
