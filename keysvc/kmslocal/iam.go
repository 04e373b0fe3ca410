package kmslocal

import (
	"encoding/json"
	"fmt"
)

// addIdentityPolicies attaches each of docs (IAM JSON) to arn, as AWS
// attaches several policies to one user: their statements count together.
func (s *Server) addIdentityPolicies(arn string, docs []json.RawMessage) error {
	for _, d := range docs {
		if err := s.addIdentityPolicy(arn, string(d)); err != nil {
			return err
		}
	}
	return nil
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
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.principals[p.AccessKeyID]; dup {
		return fmt.Errorf("kmslocal: access key %s configured twice", p.AccessKeyID)
	}
	if err := s.addIdentityPolicies(p.ARN, p.Policies); err != nil {
		return err
	}
	if err := s.addIdentityPolicy(p.ARN, p.IdentityPolicy); err != nil {
		return err
	}
	s.principals[p.AccessKeyID] = credential{secret: p.SecretAccessKey, who: who}
	return nil
}
