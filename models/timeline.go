package models

import (
	"context"
	"fmt"
)

// MaterialOperations lists a tenant key's finished operations that changed
// its active material (create, renew, undo, rotate), oldest first: the
// history an undo is judged against. They are ordered by the data-key
// version each made (operations from before migration 53 have none, came
// first, and are ordered by time: only one operation of a key runs at a
// time, so start order is commit order).
func (db *DB) MaterialOperations(ctx context.Context, tenantID, keyID string) ([]KeyOperation, error) {
	var out []KeyOperation
	err := db.g.WithContext(ctx).Table("key_operations").
		Where("tenant_id = ? AND key_id = ? AND state = ? AND kind IN ?", tenantID, keyID, OpDone, []string{OpCreate, OpRenew, OpUndo, OpRotate}).
		Order("version, created_at, id").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("material operations: %w", mapErr(err))
	}
	for i := range out {
		out[i].CreatedAt, out[i].UpdatedAt = out[i].CreatedAt.UTC(), out[i].UpdatedAt.UTC()
	}
	return out, nil
}

// timelineAuditActions are the audit events a key's versions timeline
// shows besides what its versions, materials and operations record: KMS
// changes to a customer-managed key's material that keyport asked for.
var timelineAuditActions = []string{"key.kms_material_rotated", "key.kms_auto_rotation_enabled"}

// KeyTimelineEvents lists the audit events of a tenant's key that its
// versions timeline shows, oldest first (at most limit).
func (db *DB) KeyTimelineEvents(ctx context.Context, tenantID, keyID string, limit int) ([]AuditEvent, error) {
	var out []AuditEvent
	err := db.g.WithContext(ctx).Table("audit_events").
		Select("seq, tenant_id, actor_kind, actor, action, target_type, target_id, details, created_at, tenant_seq").
		Where("tenant_id = ? AND target_type = ? AND target_id = ? AND action IN ?", tenantID, "key", keyID, timelineAuditActions).
		Order("seq").Limit(max(limit, 1)).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("key timeline events: %w", mapErr(err))
	}
	for i := range out {
		out[i].CreatedAt = out[i].CreatedAt.UTC()
	}
	return out, nil
}
