package keysvc

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"keyport/keysvc/awskms"
	"keyport/models"
)

// TestRoleSTSFailureNamesSTS: when keyport cannot assume a role
// connection's role, the describe check says STS refused the role (and
// what to fix), not that KMS refused kms:DescribeKey (issue 17 #29).
func TestRoleSTSFailureNamesSTS(t *testing.T) {
	e := newCPEnv(t)
	ctx := context.Background()
	conn := e.roleConn(t, "cold", cpColdRoleARN)
	arn := e.createKMSKey(t, cpRegion, nil)
	_, err := e.svc.RegisterKey(ctx, e.tenant.ID, e.by, RegisterInput{ConnectionID: conn.ID, Name: "orders", KeyARN: arn})
	var re *RegisterError
	if !errors.As(err, &re) || len(re.Checks) == 0 {
		t.Fatalf("register through a role keyport may not assume: %v", err)
	}
	c := re.Checks[0]
	if c.OK || strings.Contains(c.Detail, "kms:DescribeKey") || strings.Contains(c.Detail, "key policy") ||
		!strings.Contains(c.Detail, "STS") || !strings.Contains(c.Detail, "sts:AssumeRole") || !strings.Contains(c.Detail, "trust policy") {
		t.Errorf("describe check = %+v", c)
	}
	if c.Health != models.HealthAccessDenied {
		t.Errorf("health = %s", c.Health)
	}
	if strings.Contains(c.Detail, "not authorized") {
		t.Errorf("detail passes AWS's message on: %q", c.Detail)
	}
}

// TestDescribeWordingWithoutKeyUsage: a key whose DescribeKey answer has
// no KeyUsage (or KeySpec) is refused in words, not "for ;" (issue 17 #29).
func TestDescribeWordingWithoutKeyUsage(t *testing.T) {
	conn := awskms.Connection{AccountID: cpTenantAcct}
	for _, md := range []types.KeyMetadata{
		{KeyManager: types.KeyManagerTypeCustomer, KeySpec: types.KeySpecSymmetricDefault},
		{KeyManager: types.KeyManagerTypeCustomer},
		{KeyManager: types.KeyManagerTypeCustomer, KeySpec: types.KeySpecRsa2048, KeyUsage: types.KeyUsageTypeSignVerify},
	} {
		_, detail, ok := judgeKeyKind(&md, conn)
		if ok || strings.Contains(detail, "for ;") || strings.Contains(detail, "  ") || strings.Contains(detail, "is  ") ||
			!strings.Contains(detail, "keyport needs a symmetric key (SYMMETRIC_DEFAULT) for ENCRYPT_DECRYPT") {
			t.Errorf("%s/%s: %q", md.KeySpec, md.KeyUsage, detail)
		}
	}
	if _, _, ok := judgeKeyKind(&types.KeyMetadata{KeyManager: types.KeyManagerTypeCustomer, KeySpec: types.KeySpecSymmetricDefault,
		KeyUsage: types.KeyUsageTypeEncryptDecrypt}, conn); !ok {
		t.Error("a symmetric ENCRYPT_DECRYPT key was refused")
	}
}
