package kmslocal_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"keyport/keysvc/kmslocal"
)

// A key policy that keeps the account root's kms:* (the AWS default) and
// grants a role of the same account four actions by name: the role may
// do those four, and DescribeKey only if its IAM policy allows it, as in
// AWS. Before identity policies kmslocal let every principal of the
// account do anything the root statement allowed.
func TestIdentityPolicyDecidesWhatTheRootStatementDelegates(t *testing.T) {
	const (
		userARN = "arn:aws:iam::111122223333:user/app"
		usage   = `["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*"]`
	)
	iam := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":` + usage + `,"Resource":"arn:aws:kms:*:111122223333:key/*"}]}`
	cfg := strictConfig(kmslocal.NewManualClock(t0))
	cfg.Principals = append(cfg.Principals, kmslocal.Principal{AccessKeyID: "AKIAEXAMPLEAPPUSER01", SecretAccessKey: "app-secret", ARN: userARN, IdentityPolicy: iam})
	srv := startServer(t, cfg)
	tenant := kmsClient(t, srv, region, "AKIAEXAMPLEALICE", "alice-secret")
	app := kmsClient(t, srv, region, "AKIAEXAMPLEAPPUSER01", "app-secret")

	for _, tt := range []struct {
		name, policy string
		describe     bool // whether DescribeKey is allowed
		use          bool // whether Encrypt and GenerateDataKey are
	}{
		{"root only: the identity policy decides", defaultPolicyFor(tenantAcct), false, true},
		{"user named with DescribeKey", tenantPolicy(`"kms:DescribeKey"`), true, true},
		{"explicit deny of Encrypt to the user", tenantPolicy(`"kms:DescribeKey"`,
			`{"Effect":"Deny","Principal":{"AWS":"`+userARN+`"},"Action":"kms:Encrypt","Resource":"*"}`), true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			policy := tt.policy
			// tenantPolicy names the provider; name the app user instead.
			policy = strings.ReplaceAll(policy, providerARN, userARN)
			k := createKey(t, tenant, &kms.CreateKeyInput{Policy: aws.String(policy)})
			_, err := app.DescribeKey(ctx(), &kms.DescribeKeyInput{KeyId: k.Arn})
			if tt.describe {
				if err != nil {
					t.Fatalf("DescribeKey: %v", err)
				}
			} else {
				wantCode(t, err, "AccessDeniedException")
			}
			_, err = app.Encrypt(ctx(), &kms.EncryptInput{KeyId: k.Arn, Plaintext: []byte("x")})
			if tt.use {
				if err != nil {
					t.Fatalf("Encrypt: %v", err)
				}
				if _, err := app.GenerateDataKey(ctx(), &kms.GenerateDataKeyInput{KeyId: k.Arn, KeySpec: types.DataKeySpecAes256}); err != nil {
					t.Fatalf("GenerateDataKey: %v", err)
				}
			} else {
				wantCode(t, err, "AccessDeniedException")
			}
			// The IAM policy never reaches what it does not list.
			_, err = app.DisableKey(ctx(), &kms.DisableKeyInput{KeyId: k.Arn})
			wantCode(t, err, "AccessDeniedException")
			describe(t, tenant, *k.Arn) // the admin, without an identity policy, keeps everything
		})
	}

	// A cross-account caller needs its own identity policy too.
	cross := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}]}`
	cfg2 := strictConfig(kmslocal.NewManualClock(t0))
	cfg2.Principals[1].IdentityPolicy = cross // the provider's user
	srv2 := startServer(t, cfg2)
	tenant2 := kmsClient(t, srv2, region, "AKIAEXAMPLEALICE", "alice-secret")
	provider2 := kmsClient(t, srv2, region, "AKIAEXAMPLEPROVIDER", "provider-secret")
	k := createKey(t, tenant2, &kms.CreateKeyInput{Policy: aws.String(tenantPolicy(`["kms:Encrypt","kms:Decrypt"]`))})
	_, err := provider2.Encrypt(ctx(), &kms.EncryptInput{KeyId: k.Arn, Plaintext: []byte("x")})
	wantCode(t, err, "AccessDeniedException")
	decrypt(t, provider2, encrypt(t, tenant2, *k.Arn, []byte("x"), nil), nil)

	// A malformed identity policy stops the server from starting.
	bad := strictConfig(kmslocal.NewManualClock(t0))
	bad.Roles[0].IdentityPolicy = `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}]}`
	if _, err := kmslocal.New(bad); err == nil {
		t.Error("an identity policy with a Principal was accepted")
	}
}
