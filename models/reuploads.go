package models

import (
	"context"
	"fmt"
	"time"
)

// ReuploadCandidate is a managed key that asks for automatic re-upload,
// with its active material's expiry in KMS.
type ReuploadCandidate struct {
	TenantID, KeyID, MaterialID string
	ValidTo                     time.Time
}

// ReuploadCandidates lists, in one query, every live managed key (of every
// tenant) that asks for automatic re-upload and whose active material
// expires in KMS: the scheduler's pass reads it on every tick of every
// replica, so it must not read rows per key.
func (db *DB) ReuploadCandidates(ctx context.Context) ([]ReuploadCandidate, error) {
	var rows []struct {
		TenantID, KeyID, MaterialID string
		ValidTo                     time.Time
	}
	err := db.g.WithContext(ctx).Table("managed_keys AS m").
		Select("m.tenant_id, m.key_id, km.id AS material_id, km.valid_to").
		Joins("JOIN keys k ON k.id = m.key_id").
		Joins("JOIN key_materials km ON km.tenant_id = m.tenant_id AND km.key_id = m.key_id AND km.state = ?", MaterialActive).
		Where("k.state IN ? AND m.auto_reupload AND m.valid_days > 0 AND km.valid_to IS NOT NULL", []KeyState{StateEnabled, StateDisabled}).
		Order("m.key_id").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("reupload candidates: %w", mapErr(err))
	}
	out := make([]ReuploadCandidate, len(rows))
	for i, r := range rows {
		out[i] = ReuploadCandidate{TenantID: r.TenantID, KeyID: r.KeyID, MaterialID: r.MaterialID, ValidTo: r.ValidTo.UTC()}
	}
	return out, nil
}

// ExistingRunKeys reports which of runKeys name a job that exists (in any
// state), a few hundred per query, so that a planning pass enqueues only
// what is new instead of trying every job again on every tick.
func (db *DB) ExistingRunKeys(ctx context.Context, runKeys []string) (map[string]bool, error) {
	out := make(map[string]bool, len(runKeys))
	for start := 0; start < len(runKeys); start += 500 {
		var found []string
		err := db.g.WithContext(ctx).Table("jobs").Where("run_key IN ?", runKeys[start:min(start+500, len(runKeys))]).
			Pluck("run_key", &found).Error
		if err != nil {
			return nil, fmt.Errorf("existing run keys: %w", mapErr(err))
		}
		for _, k := range found {
			out[k] = true
		}
	}
	return out, nil
}
