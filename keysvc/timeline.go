package keysvc

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strconv"
	"time"

	"keyport/models"
)

// Timeline entry kinds: what happened to the key.
const (
	TimelineCreated    = "created"     // the key was made by keyport (first material, first KMS key)
	TimelineImported   = "imported"    // the key was made from material the tenant imported
	TimelineRegistered = "registered"  // a customer-managed KMS key was registered
	TimelineDataKey    = "data_key"    // a new data key under the same KMS key (Rotate now, the schedule)
	TimelineTenantKey  = "tenant_key"  // a data key the tenant supplied
	TimelineRenewal    = "renewal"     // new material in a new KMS key, alias moved
	TimelineUndo       = "undo"        // alias moved back to the KMS key a renewal replaced
	TimelineInPlace    = "in_place"    // new material in the same KMS key
	TimelineReupload   = "reupload"    // the same material imported again into its KMS key
	TimelineKMSRotated = "kms_rotated" // KMS rotated a customer-managed key's own material
	TimelineKMSAuto    = "kms_auto"    // KMS-managed automatic rotation turned on
	TimelineFailed     = "failed"      // an operation that failed and was rolled back
	TimelineRunning    = "running"     // an operation under way
)

// TimelineEntry is one event in a key's versions timeline. Version is the
// data-key version it made (0: none); Material the material sequence
// number it used or made (0: none, e.g. a customer-managed key) and
// KMSKeyARN that material's (or the key's) KMS key.
type TimelineEntry struct {
	At          time.Time
	Kind        string
	Version     int64
	Material    int
	Fingerprint string
	KMSKeyARN   string
	Actor       string
	Detail      string
	Current     bool // Version is the key's current data-key version
}

// timelineLimit bounds the operations and audit events one timeline reads.
const timelineLimit = 500

// KeyTimeline is the tenant key's history of versions, oldest first: every
// data-key version, material, KMS key, renewal, undo, in-place rotation,
// import and re-upload, with its number. It reads a fixed number of
// queries (the key, its data-key versions, materials, operations and the
// audit events they do not cover), whatever the key's history.
func (s *Service) KeyTimeline(ctx context.Context, tenantID, keyID string) ([]TimelineEntry, error) {
	k, err := s.db.GetKey(ctx, tenantID, keyID)
	if errors.Is(err, models.ErrNotFound) {
		return nil, ErrKeyNotFound
	}
	if err != nil {
		return nil, err
	}
	vs, err := s.db.DataKeyVersions(ctx, tenantID, keyID)
	if err != nil {
		return nil, err
	}
	rs, err := s.db.KeyRegions(ctx, tenantID, keyID)
	if err != nil {
		return nil, err
	}
	return s.KeyTimelineOf(ctx, k, vs, rs)
}

// KeyTimelineOf is KeyTimeline of a key whose versions (newest first) and
// regions the caller loaded already, as the key page has.
func (s *Service) KeyTimelineOf(ctx context.Context, k *models.Key, vs []models.DataKeyVersion, rs []models.KeyRegion) ([]TimelineEntry, error) {
	tenantID, keyID := k.TenantID, k.ID
	ms, err := s.db.KeyMaterials(ctx, tenantID, keyID)
	if err != nil {
		return nil, err
	}
	ops, err := s.db.KeyOperations(ctx, tenantID, keyID, timelineLimit)
	if err != nil {
		return nil, err
	}
	evs, err := s.db.KeyTimelineEvents(ctx, tenantID, keyID, timelineLimit)
	if err != nil {
		return nil, err
	}
	var arn string
	if len(rs) > 0 {
		arn = rs[0].KMSKeyARN
	}
	return BuildTimeline(k, vs, ms, ops, evs, arn), nil
}

// versionKinds maps a data-key version's reason to its timeline kind and
// the operation kind that made it (if any).
var versionKinds = map[string][2]string{
	"create":          {TimelineCreated, models.OpCreate},
	"renewal":         {TimelineRenewal, models.OpRenew},
	"undo renewal":    {TimelineUndo, models.OpUndo},
	"rotate material": {TimelineInPlace, models.OpRotate},
	"register":        {TimelineRegistered, ""},
	"tenant":          {TimelineTenantKey, ""},
}

// BuildTimeline assembles a key's timeline from its rows (any order): a
// data-key version made by an operation is matched with the operation that
// recorded it (or, for operations from before they recorded versions, the
// n-th one of its kind), which names its material; a
// version made without an operation (a new data key) is under the
// material that was active then. primaryARN is the key's KMS key, for
// keys without materials.
func BuildTimeline(k *models.Key, vs []models.DataKeyVersion, ms []models.KeyMaterial, ops []models.KeyOperation, evs []models.AuditEvent, primaryARN string) []TimelineEntry {
	sort.Slice(vs, func(i, j int) bool { return vs[i].Version < vs[j].Version })
	sort.Slice(ops, func(i, j int) bool {
		if ops[i].Version != ops[j].Version {
			return ops[i].Version < ops[j].Version
		}
		if !ops[i].CreatedAt.Equal(ops[j].CreatedAt) {
			return ops[i].CreatedAt.Before(ops[j].CreatedAt)
		}
		return ops[i].ID < ops[j].ID
	})
	mats := map[string]*models.KeyMaterial{}
	for i := range ms {
		mats[ms[i].ID] = &ms[i]
	}
	done := map[string][]models.KeyOperation{} // by kind, for operations that did not record their version
	byVersion := map[int64]models.KeyOperation{}
	var out []TimelineEntry
	for _, op := range ops {
		switch {
		case op.State == models.OpDone && op.Kind == models.OpReupload:
			e := TimelineEntry{At: op.UpdatedAt, Kind: TimelineReupload, Actor: op.Actor}
			if m := mats[op.MaterialID]; m != nil {
				e.Material, e.Fingerprint, e.KMSKeyARN = m.Seq, m.Fingerprint, m.KMSKeyARN
			}
			out = append(out, e)
		case op.State == models.OpDone && op.Version > 0:
			byVersion[op.Version] = op
		case op.State == models.OpDone:
			done[op.Kind] = append(done[op.Kind], op)
		case op.Kind == models.OpDelete || op.Kind == models.OpDeactivate:
			// state changes, not versions: the key's status shows them
		case op.State == models.OpFailed || op.State == models.OpRunning:
			kind := TimelineFailed
			if op.State == models.OpRunning {
				kind = TimelineRunning
			}
			e := TimelineEntry{At: op.CreatedAt, Kind: kind, Actor: op.Actor, Detail: op.Kind}
			if m := mats[op.MaterialID]; m != nil {
				e.Material, e.Fingerprint, e.KMSKeyARN = m.Seq, m.Fingerprint, m.KMSKeyARN
			}
			out = append(out, e)
		}
	}
	var cur *models.KeyMaterial
	for _, v := range vs {
		e := TimelineEntry{At: v.CreatedAt, Kind: TimelineDataKey, Version: v.Version, Actor: v.CreatedBy, Detail: v.Reason,
			Current: v.Version == k.CurrentVersion}
		if vk, ok := versionKinds[v.Reason]; ok {
			e.Kind = vk[0]
			op, ok := byVersion[v.Version]
			if list := done[vk[1]]; !ok && vk[1] != "" && len(list) > 0 {
				op, ok = list[0], true
				done[vk[1]] = list[1:]
			}
			if m := mats[op.MaterialID]; ok && m != nil {
				cur = m
			}
		}
		if e.Kind == TimelineCreated && cur != nil && cur.Source == models.SourceTenant {
			e.Kind = TimelineImported
		}
		if cur != nil {
			e.Material, e.Fingerprint, e.KMSKeyARN = cur.Seq, cur.Fingerprint, cur.KMSKeyARN
		} else if len(ms) == 0 {
			e.KMSKeyARN = primaryARN
		}
		out = append(out, e)
	}
	for _, ev := range evs {
		var d map[string]string
		_ = json.Unmarshal([]byte(ev.Details), &d)
		e := TimelineEntry{At: ev.CreatedAt, Kind: TimelineKMSRotated, Actor: ev.Actor, KMSKeyARN: d["kms_key_arn"], Detail: d["region"]}
		if ev.Action == "key.kms_auto_rotation_enabled" {
			e.Kind = TimelineKMSAuto
			if days := d["period_days"]; days != "" {
				e.Detail = "every " + days + " days"
			}
		}
		if e.KMSKeyARN == "" {
			e.KMSKeyARN = primaryARN
		}
		out = append(out, e)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].At.Equal(out[j].At) {
			return out[i].At.Before(out[j].At)
		}
		return out[i].Version < out[j].Version
	})
	return out
}

// QuotableVersion is how the timeline writes a data-key version: "v7".
func QuotableVersion(v int64) string { return "v" + strconv.FormatInt(v, 10) }
