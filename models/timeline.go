package models

import (
	"context"
	"fmt"
)

// MaterialOperations lists a tenant key's finished operations that changed
// its active material (create, renew, undo, rotate), oldest first: the
// history an undo is judged against. Only one operation of a key runs at a
// time, so start order is commit order.
func (db *DB) MaterialOperations(ctx context.Context, tenantID, keyID string) ([]KeyOperation, error) {
	var out []KeyOperation
	err := db.g.WithContext(ctx).Table("key_operations").
		Where("tenant_id = ? AND key_id = ? AND state = ? AND kind IN ?", tenantID, keyID, OpDone, []string{OpCreate, OpRenew, OpUndo, OpRotate}).
		Order("created_at, id").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("material operations: %w", mapErr(err))
	}
	for i := range out {
		out[i].CreatedAt, out[i].UpdatedAt = out[i].CreatedAt.UTC(), out[i].UpdatedAt.UTC()
	}
	return out, nil
}
