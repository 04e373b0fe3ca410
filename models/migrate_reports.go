package models

// Indexes for the audit page's filters. Every filter is an equality on a
// tenant's column followed by seq, so a page is an index range walked
// backwards from the cursor and stops after one page: its cost does not grow
// with the size of the log. created_at rides along in the default index so a
// time range is checked without reading the row.
var migration10AuditIndexes = migration{
	version: 10,
	name:    "index audit events for filtered, paginated queries",
	stmts: []string{
		`CREATE INDEX audit_events_tenant_seq_time_idx ON audit_events (tenant_id, seq, created_at)`,
		`CREATE INDEX audit_events_tenant_actor_idx ON audit_events (tenant_id, actor, seq)`,
		`CREATE INDEX audit_events_tenant_action_idx ON audit_events (tenant_id, action, seq)`,
		`CREATE INDEX audit_events_tenant_target_idx ON audit_events (tenant_id, target_type, target_id, seq)`,
		// Operators filter across tenants; without these a rare actor or
		// action would be found by walking the whole log.
		`CREATE INDEX audit_events_actor_idx ON audit_events (actor, seq)`,
		`CREATE INDEX audit_events_action_idx ON audit_events (action, seq)`,
	},
}
