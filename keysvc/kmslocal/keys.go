package kmslocal

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"
)

type keyMetadata struct {
	AWSAccountId                string             `json:"AWSAccountId"`
	KeyId                       string             `json:"KeyId"`
	Arn                         string             `json:"Arn"`
	CreationDate                *awsTime           `json:"CreationDate"`
	Enabled                     bool               `json:"Enabled"`
	Description                 string             `json:"Description"`
	KeyUsage                    string             `json:"KeyUsage"`
	KeyState                    string             `json:"KeyState"`
	DeletionDate                *awsTime           `json:"DeletionDate,omitempty"`
	ValidTo                     *awsTime           `json:"ValidTo,omitempty"`
	Origin                      string             `json:"Origin"`
	ExpirationModel             string             `json:"ExpirationModel,omitempty"`
	KeyManager                  string             `json:"KeyManager"`
	CustomerMasterKeySpec       string             `json:"CustomerMasterKeySpec"`
	KeySpec                     string             `json:"KeySpec"`
	EncryptionAlgorithms        []string           `json:"EncryptionAlgorithms"`
	MultiRegion                 bool               `json:"MultiRegion"`
	MultiRegionConfiguration    *multiRegionConfig `json:"MultiRegionConfiguration,omitempty"`
	PendingDeletionWindowInDays *int32             `json:"PendingDeletionWindowInDays,omitempty"`
	CurrentKeyMaterialId        string             `json:"CurrentKeyMaterialId,omitempty"`
}

type multiRegionConfig struct {
	MultiRegionKeyType string           `json:"MultiRegionKeyType"`
	PrimaryKey         *multiRegionKey  `json:"PrimaryKey"`
	ReplicaKeys        []multiRegionKey `json:"ReplicaKeys"`
}

type multiRegionKey struct {
	Arn    string `json:"Arn"`
	Region string `json:"Region"`
}

func (s *Server) metadata(k *key) *keyMetadata {
	md := &keyMetadata{
		AWSAccountId: k.Account, KeyId: k.ID, Arn: k.ARN, CreationDate: tsOf(k.Created),
		Enabled: k.State == stateEnabled, Description: k.Description, KeyUsage: "ENCRYPT_DECRYPT",
		KeyState: k.State, DeletionDate: tsPtr(k.DeletionDate), Origin: k.Origin, KeyManager: "CUSTOMER",
		CustomerMasterKeySpec: symmetricDefault, KeySpec: symmetricDefault,
		EncryptionAlgorithms: []string{symmetricDefault}, MultiRegion: k.MultiRegion,
	}
	if k.State == statePendingDeletion || k.State == statePendingReplicaDeletion {
		w := k.PendingWindow
		md.PendingDeletionWindowInDays = &w
	}
	if cur := k.current(); cur != nil {
		md.CurrentKeyMaterialId = cur.ID
		if k.Origin == originExternal {
			md.ExpirationModel = cur.ExpirationModel
			md.ValidTo = tsPtr(cur.ValidTo)
		}
	}
	if k.MultiRegion {
		cfg := &multiRegionConfig{MultiRegionKeyType: "PRIMARY", ReplicaKeys: []multiRegionKey{}}
		if k.isReplica() {
			cfg.MultiRegionKeyType = "REPLICA"
		}
		cfg.PrimaryKey = &multiRegionKey{Arn: keyARN(k.PrimaryRegion, k.Account, k.ID), Region: k.PrimaryRegion}
		if p := s.st.Keys[keyRef(k.PrimaryRegion, k.Account, k.ID)]; p != nil {
			for _, r := range p.ReplicaRegions {
				cfg.ReplicaKeys = append(cfg.ReplicaKeys, multiRegionKey{Arn: keyARN(r, k.Account, k.ID), Region: r})
			}
		}
		md.MultiRegionConfiguration = cfg
	}
	return md
}

// materialID derives the key material id from the key id and the material,
// as AWS does, so re-importing the same bytes is recognised without keeping
// them.
func materialID(keyID string, b []byte) string {
	m := hmac.New(sha256.New, b)
	m.Write([]byte("kmslocal key material id\x00" + keyID))
	return hex.EncodeToString(m.Sum(nil))
}

func (s *Server) newKeyID(multiRegion bool) string {
	b := s.randBytes(16)
	h := hex.EncodeToString(b)
	if multiRegion {
		return "mrk-" + h
	}
	b[6] = b[6]&0x0f | 0x40 // a version 4 UUID, like AWS key ids
	b[8] = b[8]&0x3f | 0x80
	h = hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func (s *Server) checkQuota(region, account string) *apiError {
	n := 0
	prefix := region + "/" + account + "/"
	for ref := range s.st.Keys {
		if strings.HasPrefix(ref, prefix) {
			n++
		}
	}
	if n >= s.cfg.KeyQuota {
		return newError("LimitExceededException", "too many keys in account %s Region %s (quota %d)", account, region, s.cfg.KeyQuota)
	}
	return nil
}

func (s *Server) createKey(c *call, body []byte) (any, *apiError) {
	var in struct {
		Description                    *string
		KeyUsage, KeySpec              string
		CustomerMasterKeySpec, Origin  string
		MultiRegion                    bool
		Policy                         *string
		Tags                           []tag
		BypassPolicyLockoutSafetyCheck bool
		CustomKeyStoreId, XksKeyId     *string
	}
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	if in.KeyUsage != "" && in.KeyUsage != "ENCRYPT_DECRYPT" {
		return nil, errUnsupported("kmslocal supports only symmetric ENCRYPT_DECRYPT keys, not KeyUsage %s", in.KeyUsage)
	}
	for _, spec := range []string{in.KeySpec, in.CustomerMasterKeySpec} {
		if spec != "" && spec != symmetricDefault {
			return nil, errUnsupported("kmslocal supports only SYMMETRIC_DEFAULT keys, not %s", spec)
		}
	}
	if in.CustomKeyStoreId != nil || in.XksKeyId != nil {
		return nil, errUnsupported("kmslocal has no custom key stores")
	}
	origin := in.Origin
	switch origin {
	case "":
		origin = originAWS
	case originAWS, originExternal:
	case "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE":
		return nil, errUnsupported("kmslocal does not support Origin %s", origin)
	default:
		return nil, errValidation("1 validation error detected: Value '%s' at 'origin' failed to satisfy constraint: Member must satisfy enum value set: [AWS_CLOUDHSM, EXTERNAL, AWS_KMS, EXTERNAL_KEY_STORE]", origin)
	}
	desc := ""
	if in.Description != nil {
		desc = *in.Description
	}
	if len(desc) > 8192 {
		return nil, errValidation("Description must be at most 8192 characters")
	}
	if aerr := validateTags(in.Tags); aerr != nil {
		return nil, aerr
	}
	if aerr := s.checkQuota(c.region, c.caller.Account); aerr != nil {
		return nil, aerr
	}
	policyText := defaultPolicy(c.caller.Account)
	if in.Policy != nil {
		policyText = *in.Policy
	}
	doc, aerr := s.checkNewPolicy(policyText, c.caller, in.BypassPolicyLockoutSafetyCheck)
	if aerr != nil {
		return nil, aerr
	}
	id := s.newKeyID(in.MultiRegion)
	k := &key{
		ID: id, ARN: keyARN(c.region, c.caller.Account, id), Account: c.caller.Account, Region: c.region,
		Description: desc, Origin: origin, State: stateEnabled, Created: c.now,
		MultiRegion: in.MultiRegion, Policy: policyText, policy: doc, Tags: mergeTags(nil, in.Tags),
	}
	if in.MultiRegion {
		k.PrimaryRegion = c.region
	}
	if origin == originExternal {
		k.State = statePendingImport
	} else {
		k.Materials = []*material{s.newMaterial(k.ID, c.now)}
	}
	s.st.Keys[keyRef(k.Region, k.Account, k.ID)] = k
	s.dirty = true
	s.stats.countKey(k.ID, c.op)
	return map[string]any{"KeyMetadata": s.metadata(k)}, nil
}

// newMaterial makes KMS-generated material, current from now on.
func (s *Server) newMaterial(keyID string, now time.Time) *material {
	b := s.randBytes(32)
	return &material{ID: materialID(keyID, b), Bytes: b, State: matCurrent, Created: now}
}

func (s *Server) describeKey(c *call, body []byte) (any, *apiError) {
	k, aerr := s.keyFromBody(c, body, "kms:DescribeKey")
	if aerr != nil {
		return nil, aerr
	}
	return map[string]any{"KeyMetadata": s.metadata(k)}, nil
}

type page struct {
	Limit  *int32
	Marker *string
}

// paginate slices a sorted list the way KMS List* calls do: Marker is an
// opaque position, Truncated says whether another page follows.
func paginate[T any](items []T, p page) ([]T, string, bool, *apiError) {
	limit := 100
	if p.Limit != nil {
		if *p.Limit < 1 || *p.Limit > 1000 {
			return nil, "", false, errValidation("Limit must be between 1 and 1000")
		}
		limit = int(*p.Limit)
	}
	start := 0
	if p.Marker != nil {
		if _, err := fmt.Sscanf(*p.Marker, "kmslocal-%d", &start); err != nil || start < 0 || start > len(items) {
			return nil, "", false, newError("InvalidMarkerException", "invalid marker")
		}
	}
	end := min(start+limit, len(items))
	if end < len(items) {
		return items[start:end], fmt.Sprintf("kmslocal-%d", end), true, nil
	}
	return items[start:end], "", false, nil
}

// listOutput is the body of a List* answer; an empty page is [], never
// null, as in AWS.
func listOutput[T any](field string, items []T, next string, truncated bool) map[string]any {
	if items == nil {
		items = []T{}
	}
	out := map[string]any{field: items, "Truncated": truncated}
	if truncated {
		out["NextMarker"] = next
	}
	return out
}

func (s *Server) listKeys(c *call, body []byte) (any, *apiError) {
	var in page
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	type entry struct{ KeyId, KeyArn string }
	var all []entry
	for _, k := range s.st.Keys {
		if k.Region == c.region && k.Account == c.caller.Account {
			all = append(all, entry{k.ID, k.ARN})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].KeyId < all[j].KeyId })
	items, next, more, aerr := paginate(all, in)
	if aerr != nil {
		return nil, aerr
	}
	return listOutput("Keys", items, next, more), nil
}

func (s *Server) enableKey(c *call, body []byte) (any, *apiError) {
	return s.setEnabled(c, body, "kms:EnableKey", stateEnabled)
}

func (s *Server) disableKey(c *call, body []byte) (any, *apiError) {
	return s.setEnabled(c, body, "kms:DisableKey", stateDisabled)
}

func (s *Server) setEnabled(c *call, body []byte, action, to string) (any, *apiError) {
	k, aerr := s.keyFromBody(c, body, action)
	if aerr != nil {
		return nil, aerr
	}
	switch k.State {
	case stateEnabled, stateDisabled:
		if k.State != to {
			k.State = to
			s.dirty = true
		}
		return struct{}{}, nil
	case statePendingImport:
		return nil, errInvalidState("%s is pending import.", k.ARN)
	default:
		return nil, errInvalidState("%s is pending deletion.", k.ARN)
	}
}

func (s *Server) updateKeyDescription(c *call, body []byte) (any, *apiError) {
	var in struct{ KeyId, Description string }
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	k, aerr := s.resolveKey(c, in.KeyId, "kms:UpdateKeyDescription")
	if aerr != nil {
		return nil, aerr
	}
	if aerr := checkNotDeleting(k); aerr != nil {
		return nil, aerr
	}
	k.Description = in.Description
	s.dirty = true
	return struct{}{}, nil
}

func (s *Server) replicateKey(c *call, body []byte) (any, *apiError) {
	var in struct {
		KeyId, ReplicaRegion           string
		Description, Policy            *string
		Tags                           []tag
		BypassPolicyLockoutSafetyCheck bool
	}
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	k, aerr := s.resolveKey(c, in.KeyId, "kms:ReplicateKey")
	if aerr != nil {
		return nil, aerr
	}
	switch {
	case !k.MultiRegion:
		return nil, errUnsupported("%s is not a multi-Region key", k.ARN)
	case k.isReplica():
		return nil, errUnsupported("%s is a replica key; replicate the primary key", k.ARN)
	case in.ReplicaRegion == "" || in.ReplicaRegion == k.Region:
		return nil, errValidation("ReplicaRegion must be a Region other than the primary key's Region %s", k.Region)
	}
	if aerr := checkNotDeleting(k); aerr != nil {
		return nil, aerr
	}
	ref := keyRef(in.ReplicaRegion, k.Account, k.ID)
	if _, exists := s.st.Keys[ref]; exists {
		return nil, newError("AlreadyExistsException", "Replica key %s already exists", keyARN(in.ReplicaRegion, k.Account, k.ID))
	}
	if aerr := validateTags(in.Tags); aerr != nil {
		return nil, aerr
	}
	if aerr := s.checkQuota(in.ReplicaRegion, k.Account); aerr != nil {
		return nil, aerr
	}
	policyText := defaultPolicy(k.Account)
	if in.Policy != nil {
		policyText = *in.Policy
	}
	doc, aerr := s.checkNewPolicy(policyText, c.caller, in.BypassPolicyLockoutSafetyCheck)
	if aerr != nil {
		return nil, aerr
	}
	r := &key{
		ID: k.ID, ARN: keyARN(in.ReplicaRegion, k.Account, k.ID), Account: k.Account, Region: in.ReplicaRegion,
		Description: k.Description, Origin: k.Origin, State: stateEnabled, Created: c.now,
		MultiRegion: true, PrimaryRegion: k.Region, Policy: policyText, policy: doc, Tags: mergeTags(nil, in.Tags),
	}
	if in.Description != nil {
		r.Description = *in.Description
	}
	for _, m := range k.Materials {
		if m.State == matPendingRotation {
			continue
		}
		cp := *m
		cp.ExpirationModel, cp.ValidTo = "", nil
		if k.Origin == originExternal {
			// Imported material is never copied across Regions: the replica
			// waits for the same material to be imported into it.
			cp.Bytes = nil
		}
		r.Materials = append(r.Materials, &cp)
	}
	if r.missingMaterial() {
		r.State = statePendingImport
	}
	s.st.Keys[ref] = r
	k.ReplicaRegions = append(k.ReplicaRegions, in.ReplicaRegion)
	s.dirty = true
	return map[string]any{"ReplicaKeyMetadata": s.metadata(r), "ReplicaPolicy": policyText, "ReplicaTags": nonNilTags(r.Tags)}, nil
}

// replicas returns the replica keys of a multi-Region primary key.
func (s *Server) replicas(k *key) []*key {
	var out []*key
	for _, r := range k.ReplicaRegions {
		if rk := s.st.Keys[keyRef(r, k.Account, k.ID)]; rk != nil {
			out = append(out, rk)
		}
	}
	return out
}
