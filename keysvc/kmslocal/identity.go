package kmslocal

import (
	"encoding/json"
	"fmt"
	"strings"
)

// identityDoc is an IAM identity policy attached to a principal or role
// (Principal.IdentityPolicy, Role.IdentityPolicy): what that identity's own
// account lets it do. AWS needs it besides the key policy whenever the key
// policy grants the identity's account (the account root) rather than the
// identity itself, and always for a caller from another account.
type identityDoc struct {
	Statements []identityStatement
}

type identityStatement struct {
	Effect      string
	Actions     []string // lowercased
	Resources   []string // key ARN patterns, * and ? as wildcards
	Conditions  []contextCondition
	Unevaluated bool
}

// parseIdentityPolicy reads an IAM identity policy: statements with Effect,
// Action and Resource, and no Principal (IAM refuses one there).
func parseIdentityPolicy(text string) (*identityDoc, error) {
	var raw struct {
		Statement json.RawMessage
	}
	if err := json.Unmarshal([]byte(text), &raw); err != nil {
		return nil, err
	}
	type rawStatement struct {
		Effect    string
		Principal json.RawMessage
		NotAction json.RawMessage
		Action    stringOrList
		Resource  stringOrList
		Condition json.RawMessage
	}
	var stmts []rawStatement
	if err := json.Unmarshal(raw.Statement, &stmts); err != nil {
		var one rawStatement
		if err := json.Unmarshal(raw.Statement, &one); err != nil {
			return nil, fmt.Errorf("Statement must be an object or a list of objects")
		}
		stmts = []rawStatement{one}
	}
	if len(stmts) == 0 {
		return nil, fmt.Errorf("Statement is required")
	}
	doc := &identityDoc{}
	for _, rs := range stmts {
		switch {
		case rs.Principal != nil:
			return nil, fmt.Errorf("an identity policy has no Principal")
		case rs.NotAction != nil:
			return nil, fmt.Errorf("kmslocal does not evaluate NotAction")
		case rs.Effect != "Allow" && rs.Effect != "Deny":
			return nil, fmt.Errorf("Effect must be Allow or Deny")
		case len(rs.Action) == 0 || len(rs.Resource) == 0:
			return nil, fmt.Errorf("Action and Resource are required")
		}
		conds, unevaluated, ok := parseConditions(rs.Condition)
		if !ok {
			return nil, fmt.Errorf("Condition must map operators to {\"key\": value or values}")
		}
		st := identityStatement{Effect: rs.Effect, Resources: rs.Resource, Conditions: conds, Unevaluated: unevaluated}
		for _, a := range rs.Action {
			st.Actions = append(st.Actions, strings.ToLower(a))
		}
		doc.Statements = append(doc.Statements, st)
	}
	return doc, nil
}

// decide evaluates the identity policy for action on keyARN: whether an
// Allow applies and whether a Deny does. A nil policy allows everything,
// which is how kmslocal treats identities configured without one.
func (d *identityDoc) decide(action, keyARN string, encCtx map[string]string) (allow, deny bool) {
	if d == nil {
		return true, false
	}
	action = strings.ToLower(action)
	for _, st := range d.Statements {
		if !st.applies(action, keyARN) || !(statement{Conditions: st.Conditions}).met(encCtx) {
			continue
		}
		if st.Effect == "Deny" {
			deny = true
		} else if !st.Unevaluated {
			allow = true
		}
	}
	return allow, deny
}

func (st identityStatement) applies(action, keyARN string) bool {
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
		if globMatch(r, keyARN) {
			return true
		}
	}
	return false
}

// identityOf is the identity policy of a caller: its role's for an
// assumed-role session, else its own; nil when none was configured.
func (s *Server) identityOf(p principal) *identityDoc {
	if p.RoleARN != "" {
		return s.identities[p.RoleARN]
	}
	return s.identities[p.ARN]
}

// SetIdentityPolicy attaches an IAM identity policy (JSON) to a user or
// role by ARN, replacing any; "" detaches it. It stands in for IAM's
// PutUserPolicy and PutRolePolicy, which kmslocal does not serve, so a test
// can give the principal keyport acts as exactly the permissions a tenant
// document grants.
func (s *Server) SetIdentityPolicy(arn, policy string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.identities, arn)
	return s.addIdentityPolicy(arn, policy)
}
