package keysvc

import (
	"encoding/json"
	"keyport/keysvc/awskms"
	"slices"
	"strings"
	"testing"
)

func TestLintPolicy(t *testing.T) {
	role := "arn:aws:iam::111122223333:role/keyport-access"
	stmt := func(effect, who, actions string) string {
		return `{"Effect":"` + effect + `","Principal":{"AWS":` + who + `},"Action":` + actions + `,"Resource":"*"}`
	}
	doc := func(stmts ...string) string {
		return `{"Version":"2012-10-17","Statement":[` + strings.Join(stmts, ",") + `]}`
	}
	tests := []struct {
		name    string
		policy  string
		missing []string
	}{
		{"snippet", KeyPolicy("111122223333", []string{role}, "tnt_a"), nil},
		{"keyport statements alone", doc(PolicyStatement([]string{role}, "tnt_a")), nil},
		{"root delegation", doc(stmt("Allow", `"arn:aws:iam::111122223333:root"`, `"kms:*"`)), nil},
		{"other principal only", doc(stmt("Allow", `"arn:aws:iam::111122223333:user/admin"`, `"kms:*"`)), UsageActions},
		{"some actions", doc(stmt("Allow", `"`+role+`"`, `["kms:Decrypt","kms:GenerateDataKey","kms:DescribeKey"]`)),
			[]string{"kms:Encrypt", "kms:GenerateDataKeyWithoutPlaintext"}},
		{"wildcards", doc(stmt("Allow", `"`+role+`"`, `["kms:Encrypt","kms:Decrypt","kms:GenerateDataKey*","kms:Describe*"]`)), nil},
		{"expanded wildcards", doc(stmt("Allow", `["`+role+`"]`, `["kms:Encrypt","kms:Decrypt","kms:ReEncryptFrom","kms:ReEncryptTo","kms:GenerateDataKey","kms:GenerateDataKeyWithoutPlaintext","kms:DescribeKey"]`)), nil},
		{"deny wins", doc(stmt("Allow", `"*"`, `"kms:*"`), stmt("Deny", `"`+role+`"`, `"kms:Decrypt"`)), []string{"kms:Decrypt"}},
		{"single statement object", `{"Statement":` + stmt("Allow", `"111122223333"`, `"kms:*"`) + `}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LintPolicy(tt.policy, []string{role})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.missing) {
				t.Errorf("missing = %v, want %v", got, tt.missing)
			}
		})
	}
	if _, err := LintPolicy("{", nil); err == nil {
		t.Error("malformed policy accepted")
	}
}

func TestPolicySnippetAndCommands(t *testing.T) {
	conn := awskms.Connection{Kind: awskms.KindAssumeRole, RoleARN: "arn:aws:iam::111122223333:role/keyport-access", AccountID: "111122223333"}
	// The statements name only the role keyport acts as (never the
	// provider's principal or account), grant DescribeKey, and grant the
	// data-key actions only under the tenant's encryption context (issue
	// 17 #11).
	var sts []struct {
		Principal struct{ AWS string }
		Action    any
		Condition map[string]map[string]string
	}
	text := PolicyStatement(Principals(conn), "tnt_a")
	if err := json.Unmarshal([]byte("["+text+"]"), &sts); err != nil {
		t.Fatal(err)
	}
	if len(sts) != 2 || strings.Contains(text, "999988887777") || strings.Contains(text, "kms:ReEncrypt") {
		t.Fatalf("statements = %s", text)
	}
	if sts[0].Principal.AWS != conn.RoleARN || sts[0].Action != "kms:DescribeKey" || sts[0].Condition != nil {
		t.Errorf("describe statement = %+v", sts[0])
	}
	data := sts[1]
	if data.Principal.AWS != conn.RoleARN || data.Condition["StringEquals"][TenantContextCondition] != "tnt_a" ||
		TenantContextCondition != "kms:EncryptionContext:keyport:tenant" {
		t.Errorf("data statement = %+v", data)
	}
	if _, ok := KMSContext("tnt_a", "key_b")[strings.TrimPrefix(TenantContextCondition, "kms:EncryptionContext:")]; !ok {
		t.Error("the condition names a key KMSContext does not set")
	}
	if got := Principals(awskms.Connection{Kind: awskms.KindAccessKey, AccountID: "111122223333"}); !slices.Equal(got, []string{"arn:aws:iam::111122223333:root"}) {
		t.Errorf("access-key principals = %v", got)
	}
	cli := CLICommands("us-east-1", []string{"us-east-2", "us-west-2"}, "orders")
	for _, want := range []string{"--multi-region", "--replica-region us-east-2", "--replica-region us-west-2", "alias/orders", "SYMMETRIC_DEFAULT"} {
		if !strings.Contains(cli, want) {
			t.Errorf("cli lacks %q:\n%s", want, cli)
		}
	}
	cmd := DataKeyCommand("arn:x", KMSContext("tnt_a", "key_b"))
	if !strings.Contains(cmd, "keyport:key=key_b,keyport:tenant=tnt_a") || !strings.Contains(cmd, "AES_256") {
		t.Errorf("data key command = %s", cmd)
	}
}

// TestTrustPolicyHasNoResource: IAM refuses "Resource" in a role's trust
// policy (MalformedPolicyDocument), so the one keyport shows has none; it
// lets the provider assume the role only with the external id.
func TestTrustPolicyHasNoResource(t *testing.T) {
	text := TrustPolicy(ProviderSettings{AccountID: "999988887777"}, "ext-123")
	var doc struct {
		Statement []map[string]json.RawMessage
	}
	if err := json.Unmarshal([]byte(text), &doc); err != nil || len(doc.Statement) != 1 {
		t.Fatalf("trust policy %s: %v", text, err)
	}
	st := doc.Statement[0]
	if _, ok := st["Resource"]; ok || strings.Contains(text, "Resource") {
		t.Errorf("the trust policy has a Resource:\n%s", text)
	}
	var cond map[string]map[string]string
	_ = json.Unmarshal(st["Condition"], &cond)
	if cond["StringEquals"]["sts:ExternalId"] != "ext-123" || !strings.Contains(string(st["Principal"]), "arn:aws:iam::999988887777:root") {
		t.Errorf("trust policy = %s", text)
	}
}
