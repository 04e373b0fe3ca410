package kmslocal_test

import (
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"keyport/keysvc/kmslocal"
)

// TestIAMIdentityPolicies: a user held to an IAM policy granting
// kms:Decrypt and kms:DescribeKey on one key (InCountry's least-privilege
// policy) gets exactly that through the default key policy's delegation to
// IAM; a key policy statement naming the user grants on its own; a Deny in
// the IAM policy wins; users without policies administer their account.
func TestIAMIdentityPolicies(t *testing.T) {
	const userARN = "arn:aws:iam::" + tenantAcct + ":user/incountry"
	policy := json.RawMessage(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":["kms:Decrypt","kms:DescribeKey"],"Resource":"arn:aws:kms:` + region + `:` + tenantAcct + `:key/*"},
		{"Effect":"Deny","Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:purpose":"forbidden"}}}]}`)
	cfg := strictConfig(kmslocal.NewManualClock(t0))
	cfg.Principals = append(cfg.Principals, kmslocal.Principal{AccessKeyID: "AKIAEXAMPLEINCOUNTRY", SecretAccessKey: "incountry-secret", ARN: userARN,
		Policies: []json.RawMessage{policy}})
	srv := startServer(t, cfg)
	ac := kmsClient(t, srv, region, "AKIAEXAMPLEALICE", "alice-secret")
	uc := kmsClient(t, srv, region, "AKIAEXAMPLEINCOUNTRY", "incountry-secret")
	k := createKey(t, ac, nil)

	blob, err := ac.GenerateDataKeyWithoutPlaintext(ctx(), &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: k.Arn, KeySpec: types.DataKeySpecAes256})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := uc.DescribeKey(ctx(), &kms.DescribeKeyInput{KeyId: k.Arn}); err != nil {
		t.Errorf("DescribeKey granted by IAM: %v", err)
	}
	out, err := uc.Decrypt(ctx(), &kms.DecryptInput{CiphertextBlob: blob.CiphertextBlob, KeyId: k.Arn})
	if err != nil || len(out.Plaintext) != 32 {
		t.Errorf("Decrypt granted by IAM: %v", err)
	}
	_, err = uc.GenerateDataKey(ctx(), &kms.GenerateDataKeyInput{KeyId: k.Arn, KeySpec: types.DataKeySpecAes256})
	wantCode(t, err, "AccessDeniedException")
	_, err = uc.GetKeyPolicy(ctx(), &kms.GetKeyPolicyInput{KeyId: k.Arn, PolicyName: aws.String("default")})
	wantCode(t, err, "AccessDeniedException")

	// The IAM policy's Deny wins over its Allow.
	denied, err := ac.GenerateDataKeyWithoutPlaintext(ctx(), &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: k.Arn, KeySpec: types.DataKeySpecAes256,
		EncryptionContext: map[string]string{"purpose": "forbidden"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = uc.Decrypt(ctx(), &kms.DecryptInput{CiphertextBlob: denied.CiphertextBlob, EncryptionContext: map[string]string{"purpose": "forbidden"}})
	wantCode(t, err, "AccessDeniedException")

	// The Resource is matched: a key in another region is not granted.
	other := createKey(t, kmsClient(t, srv, "us-east-1", "AKIAEXAMPLEALICE", "alice-secret"), nil)
	_, err = kmsClient(t, srv, "us-east-1", "AKIAEXAMPLEINCOUNTRY", "incountry-secret").DescribeKey(ctx(), &kms.DescribeKeyInput{KeyId: other.Arn})
	wantCode(t, err, "AccessDeniedException")

	// A key policy that does not delegate to IAM: the IAM grant alone is
	// not enough; a statement naming the user grants on its own.
	own := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + aliceARN + `"},"Action":"kms:*","Resource":"*"}]}`
	k2 := createKey(t, ac, &kms.CreateKeyInput{Policy: aws.String(own)})
	_, err = uc.DescribeKey(ctx(), &kms.DescribeKeyInput{KeyId: k2.Arn})
	wantCode(t, err, "AccessDeniedException")
	named := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + aliceARN + `"},"Action":"kms:*","Resource":"*"},
		{"Effect":"Allow","Principal":{"AWS":"` + userARN + `"},"Action":"kms:GenerateDataKey","Resource":"*"}]}`
	if _, err := ac.PutKeyPolicy(ctx(), &kms.PutKeyPolicyInput{KeyId: k2.KeyId, PolicyName: aws.String("default"), Policy: aws.String(named)}); err != nil {
		t.Fatal(err)
	}
	if _, err := uc.GenerateDataKey(ctx(), &kms.GenerateDataKeyInput{KeyId: k2.Arn, KeySpec: types.DataKeySpecAes256}); err != nil {
		t.Errorf("a key policy naming the user grants on its own: %v", err)
	}

	// What kmslocal cannot evaluate is refused, not ignored.
	_, err = kmslocal.New(kmslocal.Config{Principals: []kmslocal.Principal{{AccessKeyID: "AKIAX", SecretAccessKey: "s", ARN: userARN,
		Policies: []json.RawMessage{json.RawMessage(`{"Statement":{"Effect":"Allow","NotAction":"kms:Decrypt","Resource":"*"}}`)}}}})
	if err == nil {
		t.Error("a policy with NotAction was accepted")
	}
}

// TestEnableKeyRotationDisabledKey: as AWS, rotation is enabled only on an
// enabled key.
func TestEnableKeyRotationDisabledKey(t *testing.T) {
	srv, _ := openServer(t)
	c := anyClient(t, srv)
	k := createKey(t, c, nil)
	if _, err := c.DisableKey(ctx(), &kms.DisableKeyInput{KeyId: k.KeyId}); err != nil {
		t.Fatal(err)
	}
	_, err := c.EnableKeyRotation(ctx(), &kms.EnableKeyRotationInput{KeyId: k.KeyId, RotationPeriodInDays: aws.Int32(90)})
	wantErr[*types.DisabledException](t, err)
}
