package kmslocal

import (
	"sort"
	"time"
)

// maxOnDemandRotations is the AWS limit of on-demand rotations per key.
const maxOnDemandRotations = 25

// rotateLocked makes new material current: fresh random material for
// AWS_KMS keys, the material imported as NEW_KEY_MATERIAL for EXTERNAL
// ones. Old material stays for decryption. Replicas follow their primary.
func (s *Server) rotateLocked(k *key, when time.Time, how string) {
	var next *material
	if k.Origin == originExternal {
		if next = k.pendingRotation(); next == nil {
			return
		}
	} else {
		next = s.newMaterial(k.ID, when)
		k.Materials = append(k.Materials, next)
	}
	promote(k, next, when, how)
	for _, r := range s.replicas(k) {
		rm := r.materialByID(next.ID)
		if rm == nil {
			cp := *next
			rm = &cp
			r.Materials = append(r.Materials, rm)
		}
		promote(r, rm, when, how)
	}
	s.dirty = true
}

func promote(k *key, next *material, when time.Time, how string) {
	for _, m := range k.Materials {
		if m.State == matCurrent {
			m.State = matNonCurrent
		}
	}
	t := when
	next.State, next.RotationDate, next.RotationType = matCurrent, &t, how
}

func (s *Server) rotatableKey(c *call, id, action string) (*key, *apiError) {
	k, aerr := s.resolveKey(c, id, action)
	if aerr != nil {
		return nil, aerr
	}
	if k.isReplica() {
		return nil, errUnsupported("%s is a replica key; manage rotation on the primary key", k.ARN)
	}
	return k, nil
}

// autoRotatingKey resolves a key for Enable/DisableKeyRotation: a primary
// key whose material KMS generated (imported material never rotates by
// itself).
func (s *Server) autoRotatingKey(c *call, id, action string) (*key, *apiError) {
	k, aerr := s.rotatableKey(c, id, action)
	if aerr != nil {
		return nil, aerr
	}
	if k.Origin == originExternal {
		return nil, errUnsupported("automatic rotation is not supported for keys with imported material (%s)", k.ARN)
	}
	return k, nil
}

func (s *Server) enableKeyRotation(c *call, body []byte) (any, *apiError) {
	var in struct {
		KeyId                string
		RotationPeriodInDays *int32
	}
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	k, aerr := s.autoRotatingKey(c, in.KeyId, "kms:EnableKeyRotation")
	if aerr != nil {
		return nil, aerr
	}
	period, aerr := daysParam(in.RotationPeriodInDays, 365, 90, 2560, "rotationPeriodInDays")
	if aerr != nil {
		return nil, aerr
	}
	if aerr := checkNotDeleting(k); aerr != nil {
		return nil, aerr
	}
	if k.State == stateDisabled {
		// As AWS: rotation is enabled only on an enabled key.
		return nil, newError("DisabledException", "%s is disabled.", k.ARN)
	}
	next := c.now.Add(time.Duration(period) * day)
	k.RotationEnabled, k.RotationPeriod, k.NextRotation = true, period, &next
	s.dirty = true
	return struct{}{}, nil
}

func (s *Server) disableKeyRotation(c *call, body []byte) (any, *apiError) {
	var in struct{ KeyId string }
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	k, aerr := s.autoRotatingKey(c, in.KeyId, "kms:DisableKeyRotation")
	if aerr != nil {
		return nil, aerr
	}
	if aerr := checkNotDeleting(k); aerr != nil {
		return nil, aerr
	}
	k.RotationEnabled, k.NextRotation = false, nil
	s.dirty = true
	return struct{}{}, nil
}

func (s *Server) getKeyRotationStatus(c *call, body []byte) (any, *apiError) {
	k, aerr := s.keyFromBody(c, body, "kms:GetKeyRotationStatus")
	if aerr != nil {
		return nil, aerr
	}
	out := map[string]any{"KeyId": k.ARN, "KeyRotationEnabled": k.RotationEnabled}
	if k.RotationEnabled {
		out["RotationPeriodInDays"] = k.RotationPeriod
		out["NextRotationDate"] = tsPtr(k.NextRotation)
	}
	return out, nil
}

func (s *Server) rotateKeyOnDemand(c *call, body []byte) (any, *apiError) {
	var in struct{ KeyId string }
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	k, aerr := s.rotatableKey(c, in.KeyId, "kms:RotateKeyOnDemand")
	if aerr != nil {
		return nil, aerr
	}
	if aerr := checkUsable(k); aerr != nil {
		return nil, aerr
	}
	if k.OnDemandRotations >= maxOnDemandRotations {
		return nil, newError("LimitExceededException", "%s has reached the limit of %d on-demand rotations", k.ARN, maxOnDemandRotations)
	}
	if k.Origin == originExternal {
		pending := k.pendingRotation()
		if pending == nil {
			return nil, errInvalidState("%s has no key material pending rotation; import NEW_KEY_MATERIAL first", k.ARN)
		}
		for _, r := range s.replicas(k) {
			if rm := r.materialByID(pending.ID); rm == nil || rm.Bytes == nil {
				return nil, errInvalidState("replica %s does not have key material %s yet", r.ARN, pending.ID)
			}
		}
	}
	s.rotateLocked(k, c.now, "ON_DEMAND")
	k.OnDemandRotations++
	return map[string]any{"KeyId": k.ARN}, nil
}

func (s *Server) listKeyRotations(c *call, body []byte) (any, *apiError) {
	var in struct {
		KeyId              string
		IncludeKeyMaterial string
		page
	}
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	k, aerr := s.resolveKey(c, in.KeyId, "kms:ListKeyRotations")
	if aerr != nil {
		return nil, aerr
	}
	all := in.IncludeKeyMaterial == "ALL_KEY_MATERIAL"
	if !all && in.IncludeKeyMaterial != "" && in.IncludeKeyMaterial != "ROTATIONS_ONLY" {
		return nil, errValidation("IncludeKeyMaterial must be ALL_KEY_MATERIAL or ROTATIONS_ONLY")
	}
	type entry struct {
		KeyId, KeyMaterialId, KeyMaterialState string
		KeyMaterialDescription                 string   `json:",omitempty"`
		ImportState, ExpirationModel           string   `json:",omitempty"`
		RotationType                           string   `json:",omitempty"`
		RotationDate, ValidTo                  *awsTime `json:",omitempty"`
	}
	mats := append([]*material(nil), k.Materials...)
	sort.SliceStable(mats, func(i, j int) bool { return mats[i].Created.Before(mats[j].Created) })
	var out []entry
	for _, m := range mats {
		if !all && m.RotationDate == nil {
			continue
		}
		e := entry{KeyId: k.ID, KeyMaterialId: m.ID, KeyMaterialState: m.State, RotationType: m.RotationType,
			RotationDate: tsPtr(m.RotationDate)}
		if k.Origin == originExternal {
			e.KeyMaterialDescription, e.ExpirationModel, e.ValidTo = m.Description, m.ExpirationModel, tsPtr(m.ValidTo)
			e.ImportState = "IMPORTED"
			if m.Bytes == nil {
				e.ImportState = "PENDING_IMPORT"
			}
		}
		out = append(out, e)
	}
	items, next, more, aerr := paginate(out, in.page)
	if aerr != nil {
		return nil, aerr
	}
	return listOutput("Rotations", items, next, more), nil
}
