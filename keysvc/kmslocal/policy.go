package kmslocal

import (
	"encoding/json"
	"strings"
)

// policyDoc is the part of an IAM policy document that kmslocal evaluates.
type policyDoc struct {
	Statements []statement
}

type statement struct {
	Effect       string
	Principals   []string // "*" or ARNs / account ids
	Actions      []string // lowercased, as IAM matches actions case-insensitively
	HasCondition bool
}

// stringOrList decodes the IAM "one string or a list of strings" shape.
type stringOrList []string

func (l *stringOrList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*l = many
	return nil
}

func parsePolicy(text string) (*policyDoc, *apiError) {
	malformed := func(why string) *apiError {
		return newError("MalformedPolicyDocumentException", "The policy is malformed: %s", why)
	}
	if len(text) == 0 || len(text) > 32768 {
		return nil, malformed("a key policy must be 1 to 32768 characters")
	}
	var raw struct {
		Statement json.RawMessage
	}
	if err := json.Unmarshal([]byte(text), &raw); err != nil {
		return nil, malformed(err.Error())
	}
	type rawStatement struct {
		Effect       string
		Principal    json.RawMessage
		NotPrincipal json.RawMessage
		Action       stringOrList
		NotAction    json.RawMessage
		Condition    json.RawMessage
	}
	var stmts []rawStatement
	if err := json.Unmarshal(raw.Statement, &stmts); err != nil {
		var one rawStatement
		if err := json.Unmarshal(raw.Statement, &one); err != nil {
			return nil, malformed("Statement must be an object or a list of objects")
		}
		stmts = []rawStatement{one}
	}
	if len(stmts) == 0 {
		return nil, malformed("Statement is required")
	}
	doc := &policyDoc{}
	for _, rs := range stmts {
		if rs.NotPrincipal != nil || rs.NotAction != nil {
			return nil, malformed("kmslocal does not evaluate NotPrincipal or NotAction")
		}
		if rs.Effect != "Allow" && rs.Effect != "Deny" {
			return nil, malformed("Effect must be Allow or Deny")
		}
		if len(rs.Action) == 0 {
			return nil, malformed("Action is required")
		}
		st := statement{Effect: rs.Effect, HasCondition: len(rs.Condition) > 0 && string(rs.Condition) != "{}"}
		for _, a := range rs.Action {
			st.Actions = append(st.Actions, strings.ToLower(a))
		}
		var star string
		if err := json.Unmarshal(rs.Principal, &star); err == nil && star == "*" {
			st.Principals = []string{"*"}
		} else {
			var p struct{ AWS stringOrList }
			if err := json.Unmarshal(rs.Principal, &p); err != nil || len(p.AWS) == 0 {
				return nil, malformed("Principal must be \"*\" or {\"AWS\": ...}")
			}
			st.Principals = p.AWS
		}
		doc.Statements = append(doc.Statements, st)
	}
	return doc, nil
}

// allowed evaluates the key policy: an explicit Deny wins, then any Allow,
// otherwise deny. Conditions are not evaluated, so they are read in the
// safe direction: a conditional Allow grants nothing, a conditional Deny
// always applies.
func (s *Server) allowed(k *key, p principal, action string) bool {
	if k.policy == nil {
		doc, aerr := parsePolicy(k.Policy)
		if aerr != nil {
			return false
		}
		k.policy = doc
	}
	return k.policy.allows(p, action)
}

func (d *policyDoc) allows(p principal, action string) bool {
	action = strings.ToLower(action)
	allow := false
	for _, st := range d.Statements {
		if !st.matches(p, action) {
			continue
		}
		if st.Effect == "Deny" {
			return false
		}
		if !st.HasCondition {
			allow = true
		}
	}
	return allow
}

// matches takes action lowercased.
func (st statement) matches(p principal, action string) bool {
	actionOK := false
	for _, a := range st.Actions {
		if globMatch(a, action) {
			actionOK = true
			break
		}
	}
	if !actionOK {
		return false
	}
	for _, who := range st.Principals {
		if principalMatches(who, p) {
			return true
		}
	}
	return false
}

// principalMatches applies the IAM reading of a policy principal: "*",
// an account (bare id or its root ARN) meaning every principal of it, or
// one principal; a role ARN also matches the role's sessions.
func principalMatches(who string, p principal) bool {
	switch {
	case who == "*":
		return true
	case isAccountID(who):
		return who == p.Account
	case who == "arn:aws:iam::"+p.Account+":root":
		return true
	case who == p.ARN:
		return true
	case p.RoleARN != "" && who == p.RoleARN:
		return true
	}
	return false
}

// globMatch matches IAM action patterns, where * is any run and ? any one
// character.
func globMatch(pattern, s string) bool {
	if pattern == "" {
		return s == ""
	}
	switch pattern[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if globMatch(pattern[1:], s[i:]) {
				return true
			}
		}
		return false
	case '?':
		return s != "" && globMatch(pattern[1:], s[1:])
	default:
		return s != "" && s[0] == pattern[0] && globMatch(pattern[1:], s[1:])
	}
}

func defaultPolicy(account string) string {
	return `{
  "Version" : "2012-10-17",
  "Id" : "key-default-1",
  "Statement" : [ {
    "Sid" : "Enable IAM User Permissions",
    "Effect" : "Allow",
    "Principal" : {
      "AWS" : "arn:aws:iam::` + account + `:root"
    },
    "Action" : "kms:*",
    "Resource" : "*"
  } ]
}`
}

// checkNewPolicy parses a policy about to be set and applies the AWS
// lockout safety check: the caller must still be able to change the policy
// afterwards, unless it bypasses the check.
func (s *Server) checkNewPolicy(text string, p principal, bypass bool) (*policyDoc, *apiError) {
	doc, aerr := parsePolicy(text)
	if aerr != nil {
		return nil, aerr
	}
	if !bypass && !doc.allows(p, "kms:PutKeyPolicy") {
		return nil, newError("MalformedPolicyDocumentException",
			"The new key policy will not allow you to update the key policy in the future.")
	}
	return doc, nil
}

func checkPolicyName(name *string) *apiError {
	if name != nil && *name != "default" {
		return errNotFound("No such policy exists: %s", *name)
	}
	return nil
}

func (s *Server) getKeyPolicy(c *call, body []byte) (any, *apiError) {
	var in struct {
		KeyId      string
		PolicyName *string
	}
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	k, aerr := s.resolveKey(c, in.KeyId, "kms:GetKeyPolicy")
	if aerr != nil {
		return nil, aerr
	}
	if aerr := checkPolicyName(in.PolicyName); aerr != nil {
		return nil, aerr
	}
	return map[string]any{"Policy": k.Policy, "PolicyName": "default"}, nil
}

func (s *Server) putKeyPolicy(c *call, body []byte) (any, *apiError) {
	var in struct {
		KeyId, Policy                  string
		PolicyName                     *string
		BypassPolicyLockoutSafetyCheck bool
	}
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	k, aerr := s.resolveKey(c, in.KeyId, "kms:PutKeyPolicy")
	if aerr != nil {
		return nil, aerr
	}
	if aerr := checkPolicyName(in.PolicyName); aerr != nil {
		return nil, aerr
	}
	if aerr := checkNotDeleting(k); aerr != nil {
		return nil, aerr
	}
	doc, aerr := s.checkNewPolicy(in.Policy, c.caller, in.BypassPolicyLockoutSafetyCheck)
	if aerr != nil {
		return nil, aerr
	}
	k.Policy, k.policy = in.Policy, doc
	s.dirty = true
	return struct{}{}, nil
}

func (s *Server) listKeyPolicies(c *call, body []byte) (any, *apiError) {
	if _, aerr := s.keyFromBody(c, body, "kms:ListKeyPolicies"); aerr != nil {
		return nil, aerr
	}
	return map[string]any{"PolicyNames": []string{"default"}, "Truncated": false}, nil
}
