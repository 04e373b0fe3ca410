package keysvc

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"keyport/keysvc/awskms"
)

// TestRecommendedPolicyBindsTenant: the recommended key statements, on a
// key whose policy has no root delegation to blur them, let keyport
// register and use the key for the tenant they name, and not for another
// (issue 17 #11); the policy lint accepts them.
func TestRecommendedPolicyBindsTenant(t *testing.T) {
	e := newCPEnv(t)
	ctx := context.Background()
	conn := e.roleConn(t, "role", cpRoleARN)
	policyFor := func(tenantID string) string {
		// The tenant's admin keeps control in place of the account root.
		return strings.Replace(KeyPolicy(cpTenantAcct, Principals(awskms.ConnectionFromModel(conn)), tenantID),
			`"arn:aws:iam::`+cpTenantAcct+`:root"`, `"arn:aws:iam::`+cpTenantAcct+`:user/admin"`, 1)
	}
	mine := policyFor(e.tenant.ID)
	if missing, err := LintPolicy(mine, ActingPrincipals(awskms.ConnectionFromModel(conn))); err != nil || len(missing) != 0 {
		t.Fatalf("lint of the recommended policy: missing %v, %v", missing, err)
	}
	arn := e.createKMSKey(t, cpRegion, &kms.CreateKeyInput{Policy: aws.String(mine)})
	reg, err := e.svc.RegisterKey(ctx, e.tenant.ID, e.by, RegisterInput{ConnectionID: conn.ID, Name: "bound", KeyARN: arn})
	if err != nil {
		t.Fatalf("register under the recommended policy: %v", err)
	}
	// A fresh service has no cached data key: it unwraps it through KMS,
	// under the tenant's encryption context.
	fresh := NewService(Deps{DB: e.db, Sealer: e.svc.sealer, Clients: e.svc.Clients()})
	if _, err := fresh.Encrypt(ctx, e.tenant.ID, reg.Key.ID, []byte("hello"), nil); err != nil {
		t.Errorf("encrypt under the recommended policy: %v", err)
	}

	// Bound to another tenant, the same statements give keyport nothing
	// but DescribeKey: the round trip is refused.
	other := e.createKMSKey(t, cpRegion, &kms.CreateKeyInput{Policy: aws.String(policyFor("tnt_someone_else"))})
	if _, err := e.svc.RegisterKey(ctx, e.tenant.ID, e.by, RegisterInput{ConnectionID: conn.ID, Name: "elsewhere", KeyARN: other}); err == nil {
		t.Error("a key bound to another tenant's context was registered")
	}
}
