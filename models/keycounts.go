package models

import (
	"context"
	"fmt"
)

// KeyStateCount is how many keys share one state and health.
type KeyStateCount struct {
	State  KeyState
	Health Health
	Count  int
}

// CountKeysByHealth counts every tenant's keys by state and health: one
// grouped query over the keys table, cheap enough for a metrics scrape.
// Deleted keys are left out; they have no health worth watching.
func (db *DB) CountKeysByHealth(ctx context.Context) ([]KeyStateCount, error) {
	var out []KeyStateCount
	err := db.g.WithContext(ctx).Table("keys").
		Select("state, health, COUNT(*) AS count").
		Where("state <> ?", StateDeleted).
		Group("state, health").Order("state, health").Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("count keys by health: %w", mapErr(err))
	}
	return out, nil
}
