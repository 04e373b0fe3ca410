package kmslocal

import (
	"encoding/json"
	"slices"
	"strings"
)

// policyDoc is the part of an IAM policy document that kmslocal evaluates.
type policyDoc struct {
	Statements []statement
}

type statement struct {
	Effect     string
	Principals []string // "*" or ARNs / account ids
	Actions    []string // lowercased, as IAM matches actions case-insensitively
	// Conditions kmslocal evaluates, all of which must hold; Unevaluated
	// is set when the statement has any other condition.
	Conditions  []contextCondition
	Unevaluated bool
}

// contextCondition is StringEquals on kms:EncryptionContext:<key>: the
// request's encryption context has Key (matched case-insensitively, as AWS
// matches the key in the condition key's name) with one of Values (case-
// sensitive). A request without the key does not meet it.
type contextCondition struct {
	Key    string // lowercased
	Values []string
}

const encryptionContextPrefix = "kms:encryptioncontext:"

// parseConditions reads a statement's Condition block: the conditions
// kmslocal evaluates, and whether any other was there.
func parseConditions(raw json.RawMessage) (conds []contextCondition, unevaluated bool, ok bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, false, true
	}
	var block map[string]map[string]stringOrList
	if err := json.Unmarshal(raw, &block); err != nil {
		return nil, false, false
	}
	for op, keys := range block {
		for name, values := range keys {
			ctxKey, isCtx := strings.CutPrefix(strings.ToLower(name), encryptionContextPrefix)
			if op != "StringEquals" || !isCtx || ctxKey == "" {
				unevaluated = true
				continue
			}
			conds = append(conds, contextCondition{Key: ctxKey, Values: values})
		}
	}
	return conds, unevaluated, true
}

// met reports whether the request's encryption context meets every
// condition.
func (st statement) met(encCtx map[string]string) bool {
	for _, c := range st.Conditions {
		found := false
		for k, v := range encCtx {
			if strings.ToLower(k) == c.Key && slices.Contains(c.Values, v) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
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
		conds, unevaluated, ok := parseConditions(rs.Condition)
		if !ok {
			return nil, malformed("Condition must map operators to {\"key\": value or values}")
		}
		st := statement{Effect: rs.Effect, Conditions: conds, Unevaluated: unevaluated}
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

// allowed evaluates the key policy for a request without an encryption
// context.
func (s *Server) allowed(k *key, p principal, action string) bool {
	return s.allowedWith(k, p, action, nil)
}

// allowedWith evaluates the key policy: an explicit Deny wins, then any
// Allow, otherwise deny. StringEquals on kms:EncryptionContext:<key> is
// evaluated against the request's encryption context, as AWS does; other
// conditions are not, so they are read in the safe direction: an Allow
// with one grants nothing, a Deny with one applies (when its evaluated
// conditions hold).
//
// As in AWS, a statement that names the caller's account (its root)
// rather than the caller delegates to the caller's identity policy
// (Principal.IdentityPolicy, Role.IdentityPolicy), and a caller from
// another account needs its identity policy to allow the action too. An
// identity configured without one may do anything its account may.
func (s *Server) allowedWith(k *key, p principal, action string, encCtx map[string]string) bool {
	if k.policy == nil {
		doc, aerr := parsePolicy(k.Policy)
		if aerr != nil {
			return false
		}
		k.policy = doc
	}
	direct, viaAccount, denied := k.policy.grants(p, action, encCtx)
	if denied {
		return false
	}
	iamAllow, iamDeny := s.identityOf(p).decide(action, k.ARN, encCtx)
	switch {
	case iamDeny:
		return false
	case p.Account == k.Account:
		return direct || (viaAccount && iamAllow)
	default:
		return (direct || viaAccount) && iamAllow
	}
}

// allows evaluates the key policy alone, for a caller of the key's own
// account with no identity policy: the lockout safety check.
func (d *policyDoc) allows(p principal, action string, encCtx map[string]string) bool {
	direct, viaAccount, denied := d.grants(p, action, encCtx)
	return !denied && (direct || viaAccount)
}

// grants reports whether a statement allows action to the caller by name
// (or to everyone), whether one allows it to the caller's account, and
// whether one denies it.
func (d *policyDoc) grants(p principal, action string, encCtx map[string]string) (direct, viaAccount, denied bool) {
	action = strings.ToLower(action)
	for _, st := range d.Statements {
		if !st.matches(p, action) || !st.met(encCtx) {
			continue
		}
		if st.Effect == "Deny" {
			return false, false, true
		}
		if st.Unevaluated {
			continue
		}
		for _, who := range st.Principals {
			switch {
			case !principalMatches(who, p):
			case who == p.Account || who == "arn:aws:iam::"+p.Account+":root":
				viaAccount = true
			default:
				direct = true
			}
		}
	}
	return direct, viaAccount, false
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
	if !bypass && !doc.allows(p, "kms:PutKeyPolicy", nil) {
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
