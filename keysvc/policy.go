package keysvc

import (
	"encoding/json"
	"fmt"
	"keyport/keysvc/awskms"
	"sort"
	"strings"
)

// UsageActions are the KMS actions keyport calls on a customer-managed key
// registered with it, and no more: DescribeKey to check the key, and the
// data-key actions, which always carry keyport's encryption context.
var UsageActions = []string{"kms:DescribeKey", "kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext"}

// contextActions are the usage actions that carry keyport's encryption
// context (DescribeKey has none), so their grant can be bound to it.
var contextActions = UsageActions[1:]

// TenantContextCondition is the condition key that binds the grant to the
// tenant's own encryption context (KMSContext's keyport:tenant): with it,
// the key policy lets keyport's principal use the key only for data keys
// of that tenant.
const TenantContextCondition = "kms:EncryptionContext:keyport:tenant"

// Principals returns the principals keyport acts as when it uses a key
// through conn, which are the ones the key policy must name: the role
// keyport assumes for a role connection; for an access-key connection, the
// tenant's account, whose IAM policies the key policy delegates to (the IAM
// user's own policy must then allow the usage actions). keyport never calls
// a tenant's key with the provider's own credentials, so the provider's
// principal is never named.
func Principals(conn awskms.Connection) []string {
	if conn.Kind == awskms.KindAssumeRole && conn.RoleARN != "" {
		return []string{conn.RoleARN}
	}
	if conn.AccountID != "" {
		return []string{"arn:aws:iam::" + conn.AccountID + ":root"}
	}
	return nil
}

// providerPrincipal is the principal keyport runs as, as the operator set
// it (the principal, or else the account's root), or "".
func providerPrincipal(ps ProviderSettings) string {
	switch {
	case ps.PrincipalARN != "":
		return ps.PrincipalARN
	case ps.AccountID != "":
		return "arn:aws:iam::" + ps.AccountID + ":root"
	}
	return ""
}

// policyStatement is one IAM policy statement, in the order people write
// them (a map would sort the keys).
type policyStatement struct {
	Sid       string         `json:"Sid,omitempty"`
	Effect    string         `json:"Effect"`
	Principal map[string]any `json:"Principal"`
	Action    any            `json:"Action"`
	Resource  string         `json:"Resource,omitempty"` // never in a trust policy: IAM refuses it there
	Condition map[string]any `json:"Condition,omitempty"`
}

type policyDoc struct {
	Version   string            `json:"Version"`
	Statement []policyStatement `json:"Statement"`
}

// keyportStatements grant principals what keyport needs on a tenant's key:
// DescribeKey, and the data-key actions only under the tenant's encryption
// context.
func keyportStatements(principals []string, tenantID string) []policyStatement {
	if len(principals) == 0 {
		principals = []string{"arn:aws:iam::YOUR_ACCOUNT_ID:role/YOUR_KEYPORT_ROLE"}
	}
	if tenantID == "" {
		tenantID = "YOUR_KEYPORT_TENANT_ID"
	}
	var who any = principals
	if len(principals) == 1 {
		who = principals[0]
	}
	return []policyStatement{
		{Sid: "AllowKeyportDescribeKey", Effect: "Allow", Principal: map[string]any{"AWS": who}, Action: "kms:DescribeKey", Resource: "*"},
		{Sid: "AllowKeyportDataKeysForThisTenant", Effect: "Allow", Principal: map[string]any{"AWS": who}, Action: contextActions, Resource: "*",
			Condition: map[string]any{"StringEquals": map[string]any{TenantContextCondition: tenantID}}},
	}
}

// PolicyStatement is the key policy statements for keyport, as indented
// JSON objects to paste into the key policy's Statement list.
func PolicyStatement(principals []string, tenantID string) string {
	var parts []string
	for _, st := range keyportStatements(principals, tenantID) {
		b, _ := json.MarshalIndent(st, "", "  ") // plain strings always marshal
		parts = append(parts, string(b))
	}
	return strings.Join(parts, ",\n")
}

// KeyPolicy is a complete key policy: the account root keeps full control
// (so the tenant can never lock itself out) and keyport gets the usage
// actions, bound to the tenant's encryption context.
func KeyPolicy(account string, principals []string, tenantID string) string {
	if account == "" {
		account = "YOUR_ACCOUNT_ID"
	}
	doc := policyDoc{Version: "2012-10-17", Statement: append([]policyStatement{
		{Sid: "EnableIAMUserPermissions", Effect: "Allow", Principal: map[string]any{"AWS": "arn:aws:iam::" + account + ":root"},
			Action: "kms:*", Resource: "*"},
	}, keyportStatements(principals, tenantID)...)}
	b, _ := json.MarshalIndent(doc, "", "  ")
	return string(b)
}

// CLICommands are the AWS CLI commands that create a suitable key in region
// (multi-region when replicas are wanted), its replicas and an alias, with
// the key policy in key-policy.json.
func CLICommands(region string, replicas []string, alias string) string {
	if region == "" {
		region = "us-east-1"
	}
	if alias == "" {
		alias = "keyport"
	}
	var b strings.Builder
	multi := ""
	if len(replicas) > 0 {
		multi = " \\\n    --multi-region"
	}
	fmt.Fprintf(&b, "# 1. Save the key policy above as key-policy.json, then create the key:\n")
	fmt.Fprintf(&b, "aws kms create-key --region %s \\\n    --description \"keyport customer-managed key\" \\\n    --key-spec SYMMETRIC_DEFAULT --key-usage ENCRYPT_DECRYPT%s \\\n    --policy file://key-policy.json \\\n    --query KeyMetadata.Arn --output text\n", region, multi)
	fmt.Fprintf(&b, "\n# 2. Give it a name (replace KEY_ID with the id from the ARN printed above):\n")
	fmt.Fprintf(&b, "aws kms create-alias --region %s --alias-name alias/%s --target-key-id KEY_ID\n", region, alias)
	for _, r := range replicas {
		fmt.Fprintf(&b, "\n# Replica in %s for disaster recovery:\n", r)
		fmt.Fprintf(&b, "aws kms replicate-key --region %s --key-id KEY_ID \\\n    --replica-region %s --policy file://key-policy.json\n", region, r)
	}
	return b.String()
}

// DataKeyCommand is the AWS CLI command a tenant runs to make its own
// encrypted data key for keyport, under the encryption context keyport will
// use.
func DataKeyCommand(keyARN string, context map[string]string) string {
	if keyARN == "" {
		keyARN = "YOUR_KEY_ARN"
	}
	names := make([]string, 0, len(context))
	for k := range context {
		names = append(names, k)
	}
	sort.Strings(names)
	var pairs []string
	for _, k := range names {
		pairs = append(pairs, k+"="+context[k])
	}
	return "aws kms generate-data-key-without-plaintext \\\n    --key-id " + keyARN + " --key-spec AES_256 \\\n    --encryption-context " +
		strings.Join(pairs, ",") + " \\\n    --query CiphertextBlob --output text"
}

// LintPolicy checks that a key policy allows every usage action to one of
// the principals (or to "*" / the principal's account root), and returns
// the actions no statement allows. An explicit Deny of an action to a
// principal counts as missing. Conditions are not evaluated: the
// validation's round trip, made under keyport's encryption context, shows
// whether a conditional grant (such as TenantContextCondition) holds.
func LintPolicy(policy string, principals []string) ([]string, error) {
	var doc struct {
		Statement json.RawMessage
	}
	if err := json.Unmarshal([]byte(policy), &doc); err != nil {
		return nil, fmt.Errorf("parse key policy: %w", err)
	}
	type stmt struct {
		Effect    string
		Principal json.RawMessage
		Action    json.RawMessage
	}
	var stmts []stmt
	if err := json.Unmarshal(doc.Statement, &stmts); err != nil {
		var one stmt
		if err := json.Unmarshal(doc.Statement, &one); err != nil {
			return nil, fmt.Errorf("parse key policy statements: %w", err)
		}
		stmts = []stmt{one}
	}
	var missing []string
	for _, action := range UsageActions {
		allowed, denied := false, false
		for _, st := range stmts {
			if !matchesAny(stringList(st.Action), action) || !principalListed(st.Principal, principals) {
				continue
			}
			switch st.Effect {
			case "Allow":
				allowed = true
			case "Deny":
				denied = true
			}
		}
		if !allowed || denied {
			missing = append(missing, action)
		}
	}
	return missing, nil
}

// stringList decodes IAM's "one string or a list" shape.
func stringList(raw json.RawMessage) []string {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}
	}
	var many []string
	_ = json.Unmarshal(raw, &many)
	return many
}

// matchesAny reports whether a policy's action patterns cover action, which
// may itself end in * (kms:ReEncrypt* is covered by kms:* or kms:ReEncrypt*,
// or by both kms:ReEncryptFrom and kms:ReEncryptTo).
func matchesAny(patterns []string, action string) bool {
	if base, ok := strings.CutSuffix(action, "*"); ok {
		var need []string
		switch base {
		case "kms:ReEncrypt":
			need = []string{"kms:ReEncryptFrom", "kms:ReEncryptTo"}
		case "kms:GenerateDataKey":
			need = []string{"kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext"}
		}
		for _, p := range patterns {
			if strings.EqualFold(p, action) || globMatchFold(p, action) {
				return true
			}
		}
		for _, n := range need {
			if !matchesAny(patterns, n) {
				return false
			}
		}
		return len(need) > 0
	}
	for _, p := range patterns {
		if globMatchFold(p, action) {
			return true
		}
	}
	return false
}

// globMatchFold matches IAM action patterns (* any run, ? one character),
// case-insensitively as IAM does for actions.
func globMatchFold(pattern, s string) bool {
	pattern, s = strings.ToLower(pattern), strings.ToLower(s)
	for len(pattern) > 0 {
		switch pattern[0] {
		case '*':
			for i := 0; i <= len(s); i++ {
				if globMatchFold(pattern[1:], s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
		default:
			if s == "" || s[0] != pattern[0] {
				return false
			}
		}
		pattern, s = pattern[1:], s[1:]
	}
	return s == ""
}

// principalListed reports whether a statement's Principal names one of
// principals, their account root or account id, or everyone.
func principalListed(raw json.RawMessage, principals []string) bool {
	var star string
	if json.Unmarshal(raw, &star) == nil {
		return star == "*"
	}
	var p struct{ AWS json.RawMessage }
	if json.Unmarshal(raw, &p) != nil {
		return false
	}
	for _, who := range stringList(p.AWS) {
		if who == "*" {
			return true
		}
		for _, want := range principals {
			acct := principalAccount(want)
			if who == want || (acct != "" && (who == acct || who == "arn:aws:iam::"+acct+":root")) {
				return true
			}
		}
	}
	return false
}

// principalAccount is the account of an IAM ARN, or "".
func principalAccount(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) == 6 && awskms.ValidAccountID(parts[4]) {
		return parts[4]
	}
	return ""
}

// TrustPolicy is the trust policy for a role connection: keyport's account
// (or principal) may assume the role only with the connection's external id.
func TrustPolicy(ps ProviderSettings, externalID string) string {
	who := providerPrincipal(ps)
	if who == "" {
		who = "arn:aws:iam::PROVIDER_ACCOUNT_ID:root"
	}
	doc := policyDoc{Version: "2012-10-17", Statement: []policyStatement{{
		Effect: "Allow", Principal: map[string]any{"AWS": who}, Action: "sts:AssumeRole",
		Condition: map[string]any{"StringEquals": map[string]any{"sts:ExternalId": externalID}},
	}}}
	b, _ := json.MarshalIndent(doc, "", "  ")
	return string(b)
}
