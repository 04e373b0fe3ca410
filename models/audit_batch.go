package models

import (
	"context"
	"fmt"

	"gorm.io/gorm"
)

// AppendAuditBatch appends several events in one transaction: all are
// written, or none. Hot paths (data-key fetches) group their events into one
// commit instead of one write transaction each.
func (db *DB) AppendAuditBatch(ctx context.Context, ins []AuditInput) error {
	if len(ins) == 0 {
		return nil
	}
	err := db.g.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		_, err := db.appendAuditEventsTx(tx, ins)
		return err
	})
	if err != nil {
		return fmt.Errorf("append audit batch: %w", mapErr(err))
	}
	return nil
}
