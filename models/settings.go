package models

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// ProviderSettings returns every provider-wide setting by name. Settings
// never set are absent; keysvc supplies the defaults.
func (db *DB) ProviderSettings(ctx context.Context) (map[string]string, error) {
	var rows []struct{ Name, Value string }
	if err := db.g.WithContext(ctx).Table("provider_settings").Select("name, value").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("read provider settings: %w", mapErr(err))
	}
	out := make(map[string]string, len(rows))
	for _, r := range rows {
		out[r.Name] = r.Value
	}
	return out, nil
}

// SetProviderSettings writes the given settings (name -> value) in one
// transaction. When any value changed it writes one audit event naming the
// changed settings and their new values (settings are never secret), and
// returns the names that changed; an unchanged form writes nothing.
func (db *DB) SetProviderSettings(ctx context.Context, values map[string]string, audit AuditInput) ([]string, error) {
	var changed []string
	err := db.change(ctx, "set provider settings", func(tx *gorm.DB) (*AuditInput, error) {
		var rows []struct{ Name, Value string }
		if err := tx.Table("provider_settings").Select("name, value").Find(&rows).Error; err != nil {
			return nil, err
		}
		old := map[string]string{}
		for _, r := range rows {
			old[r.Name] = r.Value
		}
		details := map[string]string{}
		now := db.now()
		for name, v := range values {
			if prev, ok := old[name]; ok && prev == v {
				continue
			}
			row := map[string]any{"name": name, "value": v, "updated_by": audit.Actor, "updated_at": now}
			err := tx.Table("provider_settings").Clauses(clause.OnConflict{
				Columns:   []clause.Column{{Name: "name"}},
				DoUpdates: clause.AssignmentColumns([]string{"value", "updated_by", "updated_at"}),
			}).Create(row).Error
			if err != nil {
				return nil, err
			}
			changed = append(changed, name)
			details[name] = v
		}
		if len(changed) == 0 {
			return nil, nil
		}
		sort.Strings(changed)
		details["changed"] = strings.Join(changed, ",")
		audit.Details = details
		audit.TargetType, audit.TargetID = "provider", "settings"
		return &audit, nil
	})
	if err != nil {
		return nil, err
	}
	return changed, nil
}
