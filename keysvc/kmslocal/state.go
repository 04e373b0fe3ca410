package kmslocal

import (
	"strings"
	"time"
)

// Key states and other enum values as they appear on the wire.
const (
	stateEnabled                = "Enabled"
	stateDisabled               = "Disabled"
	statePendingDeletion        = "PendingDeletion"
	statePendingReplicaDeletion = "PendingReplicaDeletion"
	statePendingImport          = "PendingImport"

	originAWS      = "AWS_KMS"
	originExternal = "EXTERNAL"

	matCurrent         = "CURRENT"
	matNonCurrent      = "NON_CURRENT"
	matPendingRotation = "PENDING_ROTATION"

	expires       = "KEY_MATERIAL_EXPIRES"
	doesNotExpire = "KEY_MATERIAL_DOES_NOT_EXPIRE"

	symmetricDefault = "SYMMETRIC_DEFAULT"
)

// state is everything the server remembers and persists. Fields are
// exported only for encoding/json.
type state struct {
	Keys     map[string]*key     `json:"keys"`     // by keyRef
	Aliases  map[string]*alias   `json:"aliases"`  // by aliasRef
	Sessions map[string]*session `json:"sessions"` // by access key id
	// Deleted remembers the ARNs of deleted keys so Decrypt of their old
	// ciphertexts says NotFound rather than InvalidCiphertext.
	Deleted map[string]bool `json:"deleted"`
}

func newState() *state {
	return &state{Keys: map[string]*key{}, Aliases: map[string]*alias{}, Sessions: map[string]*session{}, Deleted: map[string]bool{}}
}

type key struct {
	ID            string     `json:"id"`
	ARN           string     `json:"arn"`
	Account       string     `json:"account"`
	Region        string     `json:"region"`
	Description   string     `json:"description"`
	Origin        string     `json:"origin"`
	State         string     `json:"state"`
	Created       time.Time  `json:"created"`
	DeletionDate  *time.Time `json:"deletionDate,omitempty"`
	PendingWindow int32      `json:"pendingWindow,omitempty"`
	// PrimaryRegion is set on multi-Region keys; the primary keeps the list
	// of its replicas' Regions.
	MultiRegion    bool        `json:"multiRegion"`
	PrimaryRegion  string      `json:"primaryRegion,omitempty"`
	ReplicaRegions []string    `json:"replicaRegions,omitempty"`
	Policy         string      `json:"policy"`
	Tags           []tag       `json:"tags,omitempty"`
	Materials      []*material `json:"materials"`
	// Rotation settings; OnDemandRotations counts toward the AWS limit of 25.
	RotationEnabled   bool       `json:"rotationEnabled"`
	RotationPeriod    int32      `json:"rotationPeriod,omitempty"`
	NextRotation      *time.Time `json:"nextRotation,omitempty"`
	OnDemandRotations int        `json:"onDemandRotations,omitempty"`

	policy *policyDoc // parsed Policy, rebuilt lazily after load
}

// material is one version of a key's key material. Bytes is nil while
// imported material is absent (deleted, expired or lost); its ID, derived
// from the bytes, is how a re-import is recognised as the same material.
type material struct {
	ID              string     `json:"id"`
	Bytes           []byte     `json:"bytes,omitempty"`
	State           string     `json:"state"`
	Created         time.Time  `json:"created"`
	RotationDate    *time.Time `json:"rotationDate,omitempty"`
	RotationType    string     `json:"rotationType,omitempty"`
	ExpirationModel string     `json:"expirationModel,omitempty"`
	ValidTo         *time.Time `json:"validTo,omitempty"`
	Description     string     `json:"description,omitempty"`
	// Imported is false until material first arrives for EXTERNAL keys.
	Imported bool `json:"imported,omitempty"`
}

type tag struct {
	Key   string `json:"TagKey"`
	Value string `json:"TagValue"`
}

type alias struct {
	Name        string    `json:"name"`
	Account     string    `json:"account"`
	Region      string    `json:"region"`
	TargetKeyID string    `json:"targetKeyId"`
	Created     time.Time `json:"created"`
	Updated     time.Time `json:"updated"`
}

type session struct {
	AccessKeyID     string    `json:"accessKeyId"`
	SecretAccessKey string    `json:"secretAccessKey"`
	SessionToken    string    `json:"sessionToken"`
	ARN             string    `json:"arn"`
	RoleARN         string    `json:"roleArn"`
	Account         string    `json:"account"`
	Expiration      time.Time `json:"expiration"`
}

func keyRef(region, account, id string) string { return region + "/" + account + "/" + id }

func aliasRef(region, account, name string) string { return region + "/" + account + "/" + name }

func keyARN(region, account, id string) string {
	return "arn:aws:kms:" + region + ":" + account + ":key/" + id
}

func aliasARN(a *alias) string {
	return "arn:aws:kms:" + a.Region + ":" + a.Account + ":" + a.Name
}

func (k *key) current() *material {
	for _, m := range k.Materials {
		if m.State == matCurrent {
			return m
		}
	}
	return nil
}

func (k *key) materialByID(id string) *material {
	for _, m := range k.Materials {
		if m.ID == id {
			return m
		}
	}
	return nil
}

// pendingRotation is the imported material waiting to become current
// (imported as NEW_KEY_MATERIAL), or nil; a key holds at most one.
func (k *key) pendingRotation() *material {
	for _, m := range k.Materials {
		if m.State == matPendingRotation {
			return m
		}
	}
	return nil
}

// missingMaterial reports whether any material that ciphertexts may use is
// absent, which is what keeps an EXTERNAL key in PendingImport.
func (k *key) missingMaterial() bool {
	if len(k.Materials) == 0 {
		return true
	}
	for _, m := range k.Materials {
		if m.State != matPendingRotation && m.Bytes == nil {
			return true
		}
	}
	return false
}

func (k *key) isReplica() bool { return k.MultiRegion && k.PrimaryRegion != k.Region }

// resolveKey finds the key a KeyId parameter names - key id, key ARN, alias
// name or alias ARN - and checks the caller may perform action on it.
// Cross-account use requires a full ARN, as in AWS.
func (s *Server) resolveKey(c *call, id, action string) (*key, *apiError) {
	k, aerr := s.findKey(c, id)
	if aerr != nil {
		return nil, aerr
	}
	if k.Account != c.caller.Account && !crossAccountActions[action] {
		return nil, newError("AccessDeniedException", "%s does not allow cross-account use of %s", action, k.ARN)
	}
	if !s.allowedWith(k, c.caller, action, c.encCtx) {
		return nil, errAccessDenied(c, action, k.ARN)
	}
	s.stats.countKey(k.ID, c.op)
	return k, nil
}

// keyFromBody resolves the key of a request whose only parameter is KeyId.
func (s *Server) keyFromBody(c *call, body []byte, action string) (*key, *apiError) {
	var in struct{ KeyId string }
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	return s.resolveKey(c, in.KeyId, action)
}

// crossAccountActions are the operations AWS allows on another account's key.
var crossAccountActions = map[string]bool{
	"kms:Decrypt": true, "kms:Encrypt": true, "kms:DescribeKey": true,
	"kms:GenerateDataKey": true, "kms:GenerateDataKeyWithoutPlaintext": true,
	"kms:ReEncryptFrom": true, "kms:ReEncryptTo": true, "kms:GetKeyRotationStatus": true,
}

func (s *Server) findKey(c *call, id string) (*key, *apiError) {
	if id == "" {
		return nil, errValidation("1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null")
	}
	region, account := c.region, c.caller.Account
	if strings.HasPrefix(id, "arn:") {
		parts := strings.SplitN(id, ":", 6)
		if len(parts) != 6 || parts[1] != "aws" || parts[2] != "kms" || !isAccountID(parts[4]) {
			return nil, newError("NotFoundException", "Invalid arn %s", id)
		}
		if parts[3] != c.region {
			return nil, errNotFound("Invalid arn %s: the Region must match the endpoint's Region %s", id, c.region)
		}
		account, id = parts[4], parts[5]
		if kid, ok := strings.CutPrefix(id, "key/"); ok {
			id = kid
		} else if !strings.HasPrefix(id, "alias/") {
			return nil, errNotFound("Invalid arn %s", id)
		}
	}
	if strings.HasPrefix(id, "alias/") {
		a, ok := s.st.Aliases[aliasRef(region, account, id)]
		if !ok {
			return nil, errNotFound("Alias arn:aws:kms:%s:%s:%s is not found.", region, account, id)
		}
		id = a.TargetKeyID
	}
	k, ok := s.st.Keys[keyRef(region, account, id)]
	if !ok {
		return nil, errNotFound("Key '%s' does not exist", keyARN(region, account, id))
	}
	return k, nil
}

// checkUsable is the key-state rule for cryptographic operations.
func checkUsable(k *key) *apiError {
	switch k.State {
	case stateEnabled:
		return nil
	case stateDisabled:
		return newError("DisabledException", "%s is disabled.", k.ARN)
	case statePendingImport:
		return errInvalidState("%s is pending import.", k.ARN)
	default:
		return errInvalidState("%s is pending deletion.", k.ARN)
	}
}

// checkNotDeleting is the key-state rule for most management operations.
func checkNotDeleting(k *key) *apiError {
	if k.State == statePendingDeletion || k.State == statePendingReplicaDeletion {
		return errInvalidState("%s is pending deletion.", k.ARN)
	}
	return nil
}
