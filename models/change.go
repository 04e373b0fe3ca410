package models

import (
	"context"
	"fmt"

	"gorm.io/gorm"
)

// change is the skeleton of an audited write. In one transaction fn makes
// the change and returns the audit event that records it (nil when there
// is nothing to record), and the event is appended after the change: both
// commit or neither does. The error is mapped (mapErr) and prefixed with
// what, the method's "verb noun".
func (db *DB) change(ctx context.Context, what string, fn func(tx *gorm.DB) (*AuditInput, error)) error {
	err := db.g.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		audit, err := fn(tx)
		if err != nil || audit == nil {
			return err
		}
		_, err = db.appendAuditTx(tx, *audit)
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: %w", what, mapErr(err))
	}
	return nil
}

// changeRev is change for a write that replicas must notice: before fn
// runs, the transaction takes the next revision (see nextRevision), which
// fn stamps on the rows it changes.
func (db *DB) changeRev(ctx context.Context, what string, fn func(tx *gorm.DB, rev int64) (*AuditInput, error)) error {
	return db.change(ctx, what, func(tx *gorm.DB) (*AuditInput, error) {
		rev, err := nextRevision(tx)
		if err != nil {
			return nil, err
		}
		return fn(tx, rev)
	})
}

// optional is audit when it names an event, nil when there is none to write
// (no audit, or no Action).
func optional(audit *AuditInput) *AuditInput {
	if audit == nil || audit.Action == "" {
		return nil
	}
	return audit
}
