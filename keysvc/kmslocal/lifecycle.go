package kmslocal

import (
	"time"
)

const day = 24 * time.Hour

// daysParam reads an optional number of days with AWS's default and bounds.
func daysParam(v *int32, def, lo, hi int32, field string) (int32, *apiError) {
	d := def
	if v != nil {
		d = *v
	}
	if d < lo || d > hi {
		return 0, errValidation("1 validation error detected: Value '%d' at '%s' failed to satisfy constraint: Member must have value between %d and %d", d, field, lo, hi)
	}
	return d, nil
}

func (s *Server) scheduleKeyDeletion(c *call, body []byte) (any, *apiError) {
	var in struct {
		KeyId               string
		PendingWindowInDays *int32
	}
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	k, aerr := s.resolveKey(c, in.KeyId, "kms:ScheduleKeyDeletion")
	if aerr != nil {
		return nil, aerr
	}
	w, aerr := daysParam(in.PendingWindowInDays, 30, 7, 30, "pendingWindowInDays")
	if aerr != nil {
		return nil, aerr
	}
	if aerr := checkNotDeleting(k); aerr != nil {
		return nil, aerr
	}
	k.PendingWindow = w
	if !k.isReplica() && len(s.replicas(k)) > 0 {
		// AWS holds a primary key until its replicas are gone, then starts
		// the primary's own waiting period.
		k.State, k.DeletionDate = statePendingReplicaDeletion, nil
	} else {
		d := c.now.Add(time.Duration(w) * day)
		k.State, k.DeletionDate = statePendingDeletion, &d
	}
	s.dirty = true
	out := map[string]any{"KeyId": k.ARN, "KeyState": k.State, "PendingWindowInDays": w}
	if k.DeletionDate != nil {
		out["DeletionDate"] = tsOf(*k.DeletionDate)
	}
	return out, nil
}

func (s *Server) cancelKeyDeletion(c *call, body []byte) (any, *apiError) {
	k, aerr := s.keyFromBody(c, body, "kms:CancelKeyDeletion")
	if aerr != nil {
		return nil, aerr
	}
	if k.State != statePendingDeletion && k.State != statePendingReplicaDeletion {
		return nil, errInvalidState("%s is not pending deletion.", k.ARN)
	}
	// A cancelled key comes back disabled, as in AWS, so nothing starts
	// using it again by surprise.
	k.State, k.DeletionDate, k.PendingWindow = stateDisabled, nil, 0
	if k.Origin == originExternal && k.missingMaterial() {
		k.State = statePendingImport
	}
	s.dirty = true
	return map[string]any{"KeyId": k.ARN}, nil
}

// tick applies what the clock says has happened since the last request:
// deletion windows that passed, imported material that expired, automatic
// rotations that fell due. It scans only when the earliest known event is
// due, so a busy Decrypt loop does not walk every key.
func (s *Server) tick(now time.Time) {
	if !s.nextEvent.IsZero() && now.Before(s.nextEvent) {
		return
	}
	next := now.Add(100 * 365 * day)
	soonest := func(t time.Time) {
		if t.Before(next) {
			next = t
		}
	}
	var doomed []*key
	for _, k := range s.st.Keys {
		if k.State == statePendingDeletion && k.DeletionDate != nil {
			if !now.Before(*k.DeletionDate) {
				doomed = append(doomed, k)
				continue
			}
			soonest(*k.DeletionDate)
		}
		for _, m := range k.Materials {
			if m.ValidTo == nil || m.Bytes == nil {
				continue
			}
			if now.Before(*m.ValidTo) {
				soonest(*m.ValidTo)
				continue
			}
			m.Bytes = nil
			s.dirty = true
			if k.State == stateEnabled || k.State == stateDisabled {
				k.State = statePendingImport
			}
		}
		if k.RotationEnabled && k.NextRotation != nil {
			if !now.Before(*k.NextRotation) {
				if k.State == stateEnabled {
					s.rotateLocked(k, *k.NextRotation, "AUTOMATIC")
				}
				n := now.Add(time.Duration(k.RotationPeriod) * day)
				k.NextRotation = &n
				s.dirty = true
			}
			soonest(*k.NextRotation)
		}
	}
	for _, k := range doomed {
		s.deleteKeyLocked(k, now)
	}
	for tok, p := range s.imports {
		if now.After(p.ValidTo) {
			delete(s.imports, tok)
		}
	}
	s.nextEvent = next
}

// deleteKeyLocked removes a key for good, with its aliases, and releases a
// primary key that was waiting for its last replica.
func (s *Server) deleteKeyLocked(k *key, now time.Time) {
	delete(s.st.Keys, keyRef(k.Region, k.Account, k.ID))
	s.st.Deleted[k.ARN] = true
	for ref, a := range s.st.Aliases {
		if a.Region == k.Region && a.Account == k.Account && a.TargetKeyID == k.ID {
			delete(s.st.Aliases, ref)
		}
	}
	if k.isReplica() {
		if p := s.st.Keys[keyRef(k.PrimaryRegion, k.Account, k.ID)]; p != nil {
			kept := p.ReplicaRegions[:0]
			for _, r := range p.ReplicaRegions {
				if r != k.Region {
					kept = append(kept, r)
				}
			}
			p.ReplicaRegions = kept
			if p.State == statePendingReplicaDeletion && len(kept) == 0 {
				d := now.Add(time.Duration(p.PendingWindow) * day)
				p.State, p.DeletionDate = statePendingDeletion, &d
			}
		}
	}
	s.dirty = true
}
