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
		{"snippet", KeyPolicy("111122223333", []string{role}), nil},
		{"root delegation", doc(stmt("Allow", `"arn:aws:iam::111122223333:root"`, `"kms:*"`)), nil},
		{"other principal only", doc(stmt("Allow", `"arn:aws:iam::111122223333:user/admin"`, `"kms:*"`)), UsageActions},
		{"some actions", doc(stmt("Allow", `"`+role+`"`, `["kms:Decrypt","kms:GenerateDataKey","kms:DescribeKey"]`)),
			[]string{"kms:Encrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"}},
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
	ps := ProviderSettings{AccountID: "999988887777", PrincipalARN: "arn:aws:iam::999988887777:user/keyport"}
	var st struct {
		Principal struct{ AWS []string }
		Action    []string
	}
	if err := json.Unmarshal([]byte(PolicyStatement(Principals(conn, ps))), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Principal.AWS) != 2 || st.Principal.AWS[1] != ps.PrincipalARN || !slices.Equal(st.Action, UsageActions) {
		t.Errorf("statement = %+v", st)
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
