package models

// migration41Webhooks holds tenants' signed webhooks (issue 15): the
// endpoints with their sealed signing secrets, the deliveries the
// transactional outbox writes in the same transaction as the audit event
// that causes them, and one row per delivery attempt. Deliveries and
// attempts carry the tenant id so every read is scoped like the rest.
var migration41Webhooks = migration{
	version: 41,
	name:    "webhook endpoints, deliveries and attempts",
	stmts: []string{
		`CREATE TABLE webhook_endpoints (
			id varchar(64) PRIMARY KEY,
			tenant_id varchar(64) NOT NULL,
			url text NOT NULL,
			events text NOT NULL,
			secret_sealed {{bytes}} NOT NULL,
			enabled boolean NOT NULL DEFAULT TRUE,
			created_by varchar(64) NOT NULL DEFAULT '',
			created_at {{time}} NOT NULL,
			updated_at {{time}} NOT NULL
		)`,
		// The outbox asks "which enabled endpoints has this tenant" on
		// every mapped audit event: one index range.
		`CREATE INDEX webhook_endpoints_tenant_idx ON webhook_endpoints (tenant_id, enabled)`,
		`CREATE TABLE webhook_deliveries (
			id varchar(64) PRIMARY KEY,
			endpoint_id varchar(64) NOT NULL,
			tenant_id varchar(64) NOT NULL,
			event_type varchar(64) NOT NULL,
			payload text NOT NULL,
			state varchar(16) NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
			attempts integer NOT NULL DEFAULT 0,
			next_attempt_at {{time}} NULL,
			created_at {{time}} NOT NULL,
			finished_at {{time}} NULL
		)`,
		`CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (tenant_id, endpoint_id, created_at)`,
		`CREATE TABLE webhook_attempts (
			delivery_id varchar(64) NOT NULL,
			tenant_id varchar(64) NOT NULL,
			number integer NOT NULL,
			attempted_at {{time}} NOT NULL,
			status_code integer NOT NULL DEFAULT 0,
			error text NOT NULL DEFAULT '',
			duration_ms bigint NOT NULL DEFAULT 0,
			PRIMARY KEY (delivery_id, number)
		)`,
		`CREATE INDEX webhook_attempts_tenant_idx ON webhook_attempts (tenant_id, delivery_id)`,
	},
}
