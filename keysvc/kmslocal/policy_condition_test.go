package kmslocal_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// TestPolicyEncryptionContextCondition: kmslocal evaluates StringEquals on
// kms:EncryptionContext:<key> as AWS does (issue 17 #11): the grant holds
// only for requests whose encryption context carries one of the values
// (the key matched case-insensitively, the value exactly); a request
// without it, or with another value, is refused; a conditional Deny
// applies only when its condition holds.
func TestPolicyEncryptionContextCondition(t *testing.T) {
	_, tenant, provider := strictClients(t)
	bound := `{"Sid":"use","Effect":"Allow","Principal":{"AWS":"` + providerARN + `"},` +
		`"Action":["kms:Encrypt","kms:Decrypt","kms:GenerateDataKey","kms:GenerateDataKeyWithoutPlaintext"],"Resource":"*",` +
		`"Condition":{"StringEquals":{"kms:EncryptionContext:keyport:tenant":["tnt_a","tnt_c"]}}}`
	denyX := `{"Sid":"denyx","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:Decrypt","Resource":"*",` +
		`"Condition":{"StringEquals":{"kms:EncryptionContext:keyport:tenant":"tnt_x"}}}`
	k := createKey(t, tenant, &kms.CreateKeyInput{Policy: aws.String(tenantPolicy(`"kms:DescribeKey"`, bound, denyX))})
	arn := aws.ToString(k.Arn)
	ctxOf := func(k, v string) map[string]string { return map[string]string{k: v, "keyport:key": "key_1"} }

	for _, c := range []struct {
		name string
		ec   map[string]string
		ok   bool
	}{
		{"the tenant's context", ctxOf("keyport:tenant", "tnt_a"), true},
		{"another listed value", ctxOf("keyport:tenant", "tnt_c"), true},
		{"the context key in other case", ctxOf("Keyport:Tenant", "tnt_a"), true},
		{"another tenant", ctxOf("keyport:tenant", "tnt_b"), false},
		{"the value in other case", ctxOf("keyport:tenant", "TNT_A"), false},
		{"no context", nil, false},
	} {
		_, err := provider.Encrypt(ctx(), &kms.EncryptInput{KeyId: k.Arn, Plaintext: []byte("x"), EncryptionContext: c.ec})
		if c.ok && err != nil {
			t.Errorf("Encrypt, %s: %v", c.name, err)
		}
		if !c.ok {
			wantCode(t, err, "AccessDeniedException")
		}
		_, err = provider.GenerateDataKey(ctx(), &kms.GenerateDataKeyInput{KeyId: k.Arn, KeySpec: "AES_256", EncryptionContext: c.ec})
		if c.ok && err != nil {
			t.Errorf("GenerateDataKey, %s: %v", c.name, err)
		}
		if !c.ok {
			wantCode(t, err, "AccessDeniedException")
		}
	}

	// Decrypt: the provider opens what was made under its tenant's context,
	// not what the tenant made under another.
	mine := encrypt(t, tenant, arn, []byte("a"), ctxOf("keyport:tenant", "tnt_a"))
	if got := decrypt(t, provider, mine, ctxOf("keyport:tenant", "tnt_a")); string(got) != "a" {
		t.Errorf("Decrypt = %q", got)
	}
	other := encrypt(t, tenant, arn, []byte("b"), ctxOf("keyport:tenant", "tnt_b"))
	_, err := provider.Decrypt(ctx(), &kms.DecryptInput{CiphertextBlob: other, EncryptionContext: ctxOf("keyport:tenant", "tnt_b")})
	wantCode(t, err, "AccessDeniedException")

	// DescribeKey has no encryption context: the unconditional statement
	// grants it.
	if _, err := provider.DescribeKey(ctx(), &kms.DescribeKeyInput{KeyId: k.Arn}); err != nil {
		t.Errorf("DescribeKey: %v", err)
	}

	// The conditional Deny refuses the tenant only under tnt_x.
	x := encrypt(t, tenant, arn, []byte("x"), ctxOf("keyport:tenant", "tnt_x"))
	_, err = tenant.Decrypt(ctx(), &kms.DecryptInput{CiphertextBlob: x, EncryptionContext: ctxOf("keyport:tenant", "tnt_x")})
	wantCode(t, err, "AccessDeniedException")
	decrypt(t, tenant, other, ctxOf("keyport:tenant", "tnt_b"))
}
