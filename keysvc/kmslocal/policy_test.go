package kmslocal_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"keyport/keysvc/kmslocal"
)

// tenantPolicy is the policy a tenant writes for mode 1: its own root keeps
// full control, the provider gets the listed actions.
func tenantPolicy(providerActions string, extra ...string) string {
	stmts := []string{
		`{"Sid":"tenant","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}`,
		`{"Sid":"provider","Effect":"Allow","Principal":{"AWS":["` + providerARN + `"]},"Action":` + providerActions + `,"Resource":"*"}`,
	}
	stmts = append(stmts, extra...)
	return `{"Version":"2012-10-17","Statement":[` + strings.Join(stmts, ",") + `]}`
}

func strictClients(tb testing.TB) (*kmslocal.Server, *kms.Client, *kms.Client) {
	tb.Helper()
	srv := startServer(tb, strictConfig(kmslocal.NewManualClock(t0)))
	return srv, kmsClient(tb, srv, region, "AKIAEXAMPLEALICE", "alice-secret"),
		kmsClient(tb, srv, region, "AKIAEXAMPLEPROVIDER", "provider-secret")
}

func TestCrossAccountAndRevocation(t *testing.T) {
	_, tenant, provider := strictClients(t)
	k := createKey(t, tenant, &kms.CreateKeyInput{Policy: aws.String(tenantPolicy(`["kms:Encrypt","kms:Decrypt","kms:GenerateDataKey*","kms:DescribeKey"]`))})
	if *k.AWSAccountId != tenantAcct {
		t.Fatalf("key made in account %s, want the caller's %s", *k.AWSAccountId, tenantAcct)
	}
	ec := map[string]string{"tenant": "t1"}
	dk, err := provider.GenerateDataKey(ctx(), &kms.GenerateDataKeyInput{KeyId: k.Arn, KeySpec: types.DataKeySpecAes256, EncryptionContext: ec})
	if err != nil {
		t.Fatalf("provider GenerateDataKey by ARN: %v", err)
	}
	if got := decrypt(t, provider, dk.CiphertextBlob, ec); len(got) != 32 {
		t.Fatalf("provider Decrypt gave %d bytes", len(got))
	}
	describe(t, provider, *k.Arn)

	_, err = provider.DescribeKey(ctx(), &kms.DescribeKeyInput{KeyId: k.KeyId})
	wantErr[*types.NotFoundException](t, err) // a bare id looks in the caller's own account
	_, err = provider.DisableKey(ctx(), &kms.DisableKeyInput{KeyId: k.Arn})
	wantCode(t, err, "AccessDeniedException")
	_, err = provider.ReEncrypt(ctx(), &kms.ReEncryptInput{CiphertextBlob: dk.CiphertextBlob, SourceEncryptionContext: ec, DestinationKeyId: k.Arn})
	wantCode(t, err, "AccessDeniedException") // ReEncrypt* was not granted

	own := createKey(t, provider, nil)
	if *own.AWSAccountId != providerAcct {
		t.Fatalf("provider's key is in account %s", *own.AWSAccountId)
	}

	// The tenant revokes: the very next provider call is refused.
	if _, err := tenant.PutKeyPolicy(ctx(), &kms.PutKeyPolicyInput{KeyId: k.KeyId, Policy: aws.String(defaultPolicyFor(tenantAcct))}); err != nil {
		t.Fatal(err)
	}
	_, err = provider.Decrypt(ctx(), &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob, EncryptionContext: ec})
	wantCode(t, err, "AccessDeniedException")
	decrypt(t, tenant, dk.CiphertextBlob, ec)
}

func defaultPolicyFor(account string) string {
	return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + account + `:root"},"Action":"kms:*","Resource":"*"}]}`
}

func TestPolicyActionMatching(t *testing.T) {
	_, tenant, provider := strictClients(t)
	deny := `{"Effect":"Deny","Principal":{"AWS":"` + providerARN + `"},"Action":"kms:Decrypt","Resource":"*"}`
	conditional := `{"Effect":"Allow","Principal":{"AWS":"` + providerARN + `"},"Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"kms:CallerAccount":"999988887777"}}}`
	type op func(k *types.KeyMetadata, blob []byte) error
	encryptOp := func(k *types.KeyMetadata, _ []byte) error {
		_, err := provider.Encrypt(ctx(), &kms.EncryptInput{KeyId: k.Arn, Plaintext: []byte("x")})
		return err
	}
	decryptOp := func(_ *types.KeyMetadata, blob []byte) error {
		_, err := provider.Decrypt(ctx(), &kms.DecryptInput{CiphertextBlob: blob})
		return err
	}
	gdkOp := func(k *types.KeyMetadata, _ []byte) error {
		_, err := provider.GenerateDataKeyWithoutPlaintext(ctx(), &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: k.Arn, NumberOfBytes: aws.Int32(32)})
		return err
	}
	reencOp := func(k *types.KeyMetadata, blob []byte) error {
		_, err := provider.ReEncrypt(ctx(), &kms.ReEncryptInput{CiphertextBlob: blob, DestinationKeyId: k.Arn})
		return err
	}
	tests := []struct {
		name    string
		policy  string
		op      op
		allowed bool
	}{
		{"kms:* allows Decrypt", tenantPolicy(`"kms:*"`), decryptOp, true},
		{"GenerateDataKey* allows WithoutPlaintext", tenantPolicy(`"kms:GenerateDataKey*"`), gdkOp, true},
		{"GenerateDataKey* does not allow Encrypt", tenantPolicy(`"kms:GenerateDataKey*"`), encryptOp, false},
		{"ReEncrypt* allows ReEncrypt", tenantPolicy(`["kms:ReEncrypt*"]`), reencOp, true},
		{"ReEncryptFrom alone is not enough", tenantPolicy(`"kms:ReEncryptFrom"`), reencOp, false},
		{"action names are case-insensitive", tenantPolicy(`"KMS:decrypt"`), decryptOp, true},
		{"explicit Deny wins over kms:*", tenantPolicy(`"kms:*"`, deny), decryptOp, false},
		{"Deny of Decrypt leaves Encrypt", tenantPolicy(`"kms:*"`, deny), encryptOp, true},
		{"conditional Allow grants nothing", tenantPolicy(`"kms:Encrypt"`, conditional), decryptOp, false},
		{"principal star", strings.Replace(tenantPolicy(`"kms:Decrypt"`), `{"AWS":["`+providerARN+`"]}`, `"*"`, 1), decryptOp, true},
		{"provider account root", strings.Replace(tenantPolicy(`"kms:Decrypt"`), providerARN, "arn:aws:iam::999988887777:root", 1), decryptOp, true},
		{"other user of provider account", strings.Replace(tenantPolicy(`"kms:Decrypt"`), providerARN, "arn:aws:iam::999988887777:user/someone", 1), decryptOp, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := createKey(t, tenant, &kms.CreateKeyInput{Policy: aws.String(tt.policy)})
			blob := encrypt(t, tenant, *k.KeyId, []byte("secret"), nil)
			err := tt.op(k, blob)
			if tt.allowed && err != nil {
				t.Fatalf("want allowed, got %v", err)
			}
			if !tt.allowed {
				wantCode(t, err, "AccessDeniedException")
			}
		})
	}
}

func TestGetPutKeyPolicy(t *testing.T) {
	_, tenant, _ := strictClients(t)
	k := createKey(t, tenant, nil)
	out, err := tenant.GetKeyPolicy(ctx(), &kms.GetKeyPolicyInput{KeyId: k.KeyId})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(*out.Policy, "arn:aws:iam::111122223333:root") || !strings.Contains(*out.Policy, `"kms:*"`) || aws.ToString(out.PolicyName) != "default" {
		t.Fatalf("default policy = %s", *out.Policy)
	}
	_, err = tenant.GetKeyPolicy(ctx(), &kms.GetKeyPolicyInput{KeyId: k.KeyId, PolicyName: aws.String("other")})
	wantErr[*types.NotFoundException](t, err)
	_, err = tenant.PutKeyPolicy(ctx(), &kms.PutKeyPolicyInput{KeyId: k.KeyId, Policy: aws.String(`{"Statement":[]}`)})
	wantErr[*types.MalformedPolicyDocumentException](t, err)
	_, err = tenant.PutKeyPolicy(ctx(), &kms.PutKeyPolicyInput{KeyId: k.KeyId, Policy: aws.String(defaultPolicyFor(providerAcct))})
	wantErr[*types.MalformedPolicyDocumentException](t, err) // would lock the tenant out
	names, err := tenant.ListKeyPolicies(ctx(), &kms.ListKeyPoliciesInput{KeyId: k.KeyId})
	if err != nil || len(names.PolicyNames) != 1 {
		t.Fatalf("ListKeyPolicies = %v, %v", names, err)
	}
}
