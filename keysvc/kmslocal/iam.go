package kmslocal

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Identity-based (IAM) policies of configured principals. A principal
// configured with Policies is held to them as AWS holds an IAM user to its
// attached policies: a key policy statement that names the principal itself
// (or "*") grants on its own, one that names the principal's account (the
// default key policy's "Enable IAM User Permissions") only delegates to
// IAM, so the action must also be allowed by one of the principal's
// policies on the key's ARN; a principal of another account always needs
// both. An explicit Deny in either wins. Principals configured without
// Policies act as administrators of their account, as before.
//
// kmslocal applies IAM policies to actions on a key (those that name one);
// account-level actions such as CreateKey and ListKeys are not gated.

// iamPolicy is one principal's identity-based policies, merged.
type iamPolicy struct {
	Statements []iamStatement
}

type iamStatement struct {
	Effect      string
	Actions     []string // lowercased
	Resources   []string // ARN patterns
	Conditions  []contextCondition
	Unevaluated bool
}

// parseIAMPolicies reads a principal's policy documents (IAM JSON with
// Effect, Action and Resource; NotAction and NotResource are refused).
func parseIAMPolicies(docs []json.RawMessage) (*iamPolicy, error) {
	out := &iamPolicy{}
	for _, d := range docs {
		var raw struct {
			Statement json.RawMessage
		}
		if err := json.Unmarshal(d, &raw); err != nil {
			return nil, fmt.Errorf("kmslocal: IAM policy: %w", err)
		}
		type rawStatement struct {
			Effect      string
			Action      stringOrList
			Resource    stringOrList
			NotAction   json.RawMessage
			NotResource json.RawMessage
			Principal   json.RawMessage
			Condition   json.RawMessage
		}
		var stmts []rawStatement
		if err := json.Unmarshal(raw.Statement, &stmts); err != nil {
			var one rawStatement
			if err := json.Unmarshal(raw.Statement, &one); err != nil {
				return nil, fmt.Errorf("kmslocal: IAM policy: Statement must be an object or a list of objects")
			}
			stmts = []rawStatement{one}
		}
		for _, rs := range stmts {
			switch {
			case rs.NotAction != nil || rs.NotResource != nil:
				return nil, fmt.Errorf("kmslocal: IAM policy: NotAction and NotResource are not evaluated")
			case rs.Principal != nil:
				return nil, fmt.Errorf("kmslocal: IAM policy: an identity-based policy has no Principal")
			case rs.Effect != "Allow" && rs.Effect != "Deny":
				return nil, fmt.Errorf("kmslocal: IAM policy: Effect must be Allow or Deny")
			case len(rs.Action) == 0 || len(rs.Resource) == 0:
				return nil, fmt.Errorf("kmslocal: IAM policy: Action and Resource are required")
			}
			conds, unevaluated, ok := parseConditions(rs.Condition)
			if !ok {
				return nil, fmt.Errorf("kmslocal: IAM policy: Condition must map operators to {\"key\": value or values}")
			}
			st := iamStatement{Effect: rs.Effect, Resources: rs.Resource, Conditions: conds, Unevaluated: unevaluated}
			for _, a := range rs.Action {
				st.Actions = append(st.Actions, strings.ToLower(a))
			}
			out.Statements = append(out.Statements, st)
		}
	}
	return out, nil
}

// decide evaluates the policies for an action (lowercased) on a key ARN.
func (p *iamPolicy) decide(action, resource string, encCtx map[string]string) (allow, deny bool) {
	for _, st := range p.Statements {
		if !st.applies(action, resource) || !st.met(encCtx) {
			continue
		}
		if st.Effect == "Deny" {
			return false, true
		}
		if !st.Unevaluated {
			allow = true
		}
	}
	return allow, false
}

func (st iamStatement) applies(action, resource string) bool {
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
	for _, r := range st.Resources {
		if globMatch(r, resource) {
			return true
		}
	}
	return false
}

func (st iamStatement) met(encCtx map[string]string) bool {
	return statement{Conditions: st.Conditions}.met(encCtx)
}

// grants evaluates a key policy and says how it allows: directly (the
// statement names the principal, its role, or "*") or only through the
// principal's account.
func (d *policyDoc) grants(p principal, action string, encCtx map[string]string) (deny, direct, viaAccount bool) {
	action = strings.ToLower(action)
	for _, st := range d.Statements {
		if !st.matches(p, action) || !st.met(encCtx) {
			continue
		}
		if st.Effect == "Deny" {
			return true, false, false
		}
		if st.Unevaluated {
			continue
		}
		for _, who := range st.Principals {
			switch {
			case who == "*" || who == p.ARN || (p.RoleARN != "" && who == p.RoleARN):
				direct = true
			case principalMatches(who, p):
				viaAccount = true
			}
		}
	}
	return false, direct, viaAccount
}

// allowedWithIAM is the decision for a principal held to IAM policies.
func (k *key) allowedWithIAM(p principal, ids *iamPolicy, action string, encCtx map[string]string) bool {
	deny, direct, viaAccount := k.policy.grants(p, action, encCtx)
	if deny {
		return false
	}
	iamAllow, iamDeny := ids.decide(strings.ToLower(action), k.ARN, encCtx)
	switch {
	case iamDeny:
		return false
	case direct && p.Account == k.Account:
		return true
	}
	return (direct || viaAccount) && iamAllow
}

// AddPrincipal creates an IAM identity with its access key (and its IAM
// policies) on a running server, as a tenant creates an IAM user for a
// provider after creating the key its policy names (InCountry's steps:
// key, then policy, then user). The access key must be new.
func (s *Server) AddPrincipal(p Principal) error {
	if p.AccessKeyID == "" || p.SecretAccessKey == "" {
		return fmt.Errorf("kmslocal: principal %q needs an access key id and secret", p.ARN)
	}
	who, err := parsePrincipalARN(p.ARN)
	if err != nil {
		return err
	}
	who.AccessKeyID = p.AccessKeyID
	var ids *iamPolicy
	if p.Policies != nil {
		if ids, err = parseIAMPolicies(p.Policies); err != nil {
			return fmt.Errorf("%w (principal %s)", err, p.ARN)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.principals[p.AccessKeyID]; dup {
		return fmt.Errorf("kmslocal: access key %s configured twice", p.AccessKeyID)
	}
	s.principals[p.AccessKeyID] = credential{secret: p.SecretAccessKey, who: who}
	if ids != nil {
		s.iam[p.AccessKeyID] = ids
	}
	return nil
}
