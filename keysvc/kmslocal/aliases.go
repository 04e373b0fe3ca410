package kmslocal

import (
	"sort"
	"strings"
)

// maxAliasesPerKey mirrors the AWS quota "aliases per KMS key".
const maxAliasesPerKey = 50

// aliasPattern is the AliasName constraint of the KMS API model; a name
// that breaks it fails request validation (ValidationException) before KMS
// looks at it, as on AWS.
const aliasPattern = "^alias/[a-zA-Z0-9/_-]+$"

func validateAliasName(name string) *apiError {
	if len(name) < 1 || len(name) > 256 {
		return errValidation("1 validation error detected: Value '%s' at 'aliasName' failed to satisfy constraint: Member must have length less than or equal to 256", name)
	}
	rest, ok := strings.CutPrefix(name, "alias/")
	bad := !ok || rest == ""
	for _, c := range rest {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '/' || c == '_' || c == '-') {
			bad = true
		}
	}
	if bad {
		return errValidation("1 validation error detected: Value '%s' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: %s", name, aliasPattern)
	}
	// AWS refuses the reserved prefix as an authorization failure, not as
	// a malformed name: the name is well formed, only AWS may use it.
	if strings.HasPrefix(name, "alias/aws/") {
		return newError("NotAuthorizedException", "Cannot create, update or delete an alias with the reserved prefix alias/aws/ (%s)", name)
	}
	return nil
}

// aliasTarget resolves the TargetKeyId of CreateAlias / UpdateAlias, which
// must name a key, never another alias.
func (s *Server) aliasTarget(c *call, id, action string) (*key, *apiError) {
	if strings.HasPrefix(id, "alias/") || strings.Contains(id, ":alias/") {
		return nil, errValidation("TargetKeyId must be a key ID or key ARN, not an alias")
	}
	k, aerr := s.resolveKey(c, id, action)
	if aerr != nil {
		return nil, aerr
	}
	if aerr := checkNotDeleting(k); aerr != nil {
		return nil, aerr
	}
	n := 0
	for _, a := range s.st.Aliases {
		if a.Region == k.Region && a.Account == k.Account && a.TargetKeyID == k.ID {
			n++
		}
	}
	if n >= maxAliasesPerKey {
		return nil, newError("LimitExceededException", "%s already has %d aliases", k.ARN, n)
	}
	return k, nil
}

func (s *Server) createAlias(c *call, body []byte) (any, *apiError) {
	var in struct{ AliasName, TargetKeyId string }
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	if aerr := validateAliasName(in.AliasName); aerr != nil {
		return nil, aerr
	}
	k, aerr := s.aliasTarget(c, in.TargetKeyId, "kms:CreateAlias")
	if aerr != nil {
		return nil, aerr
	}
	ref := aliasRef(c.region, c.caller.Account, in.AliasName)
	if a, exists := s.st.Aliases[ref]; exists {
		return nil, newError("AlreadyExistsException", "An alias with the name %s already exists", aliasARN(a))
	}
	s.st.Aliases[ref] = &alias{Name: in.AliasName, Account: k.Account, Region: k.Region, TargetKeyID: k.ID, Created: c.now, Updated: c.now}
	s.dirty = true
	return struct{}{}, nil
}

func (s *Server) existingAlias(c *call, name string) (*alias, *apiError) {
	if aerr := validateAliasName(name); aerr != nil {
		return nil, aerr
	}
	a, ok := s.st.Aliases[aliasRef(c.region, c.caller.Account, name)]
	if !ok {
		return nil, errNotFound("Alias arn:aws:kms:%s:%s:%s is not found.", c.region, c.caller.Account, name)
	}
	return a, nil
}

func (s *Server) updateAlias(c *call, body []byte) (any, *apiError) {
	var in struct{ AliasName, TargetKeyId string }
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	a, aerr := s.existingAlias(c, in.AliasName)
	if aerr != nil {
		return nil, aerr
	}
	// Moving an alias needs permission on the key it leaves, too.
	if old, ok := s.st.Keys[keyRef(a.Region, a.Account, a.TargetKeyID)]; ok && !s.allowed(old, c.caller, "kms:UpdateAlias") {
		return nil, errAccessDenied(c, "kms:UpdateAlias", old.ARN)
	}
	k, aerr := s.aliasTarget(c, in.TargetKeyId, "kms:UpdateAlias")
	if aerr != nil {
		return nil, aerr
	}
	a.TargetKeyID, a.Updated = k.ID, c.now
	s.dirty = true
	return struct{}{}, nil
}

func (s *Server) deleteAlias(c *call, body []byte) (any, *apiError) {
	var in struct{ AliasName string }
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	a, aerr := s.existingAlias(c, in.AliasName)
	if aerr != nil {
		return nil, aerr
	}
	if k, ok := s.st.Keys[keyRef(a.Region, a.Account, a.TargetKeyID)]; ok && !s.allowed(k, c.caller, "kms:DeleteAlias") {
		return nil, errAccessDenied(c, "kms:DeleteAlias", k.ARN)
	}
	delete(s.st.Aliases, aliasRef(a.Region, a.Account, a.Name))
	s.dirty = true
	return struct{}{}, nil
}

func (s *Server) listAliases(c *call, body []byte) (any, *apiError) {
	var in struct {
		KeyId *string
		page
	}
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	keyID := ""
	if in.KeyId != nil {
		k, aerr := s.findKey(c, *in.KeyId)
		if aerr != nil {
			return nil, aerr
		}
		keyID = k.ID
	}
	type entry struct {
		AliasName, AliasArn, TargetKeyId string
		CreationDate, LastUpdatedDate    *awsTime
	}
	var all []entry
	for _, a := range s.st.Aliases {
		if a.Region != c.region || a.Account != c.caller.Account || (keyID != "" && a.TargetKeyID != keyID) {
			continue
		}
		all = append(all, entry{a.Name, aliasARN(a), a.TargetKeyID, tsOf(a.Created), tsOf(a.Updated)})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].AliasName < all[j].AliasName })
	items, next, more, aerr := paginate(all, in.page)
	if aerr != nil {
		return nil, aerr
	}
	return listOutput("Aliases", items, next, more), nil
}
