package models

// migration46TenantClosure records the closing of a tenant (issue 16,
// Cryptomathic): the request with its waiting window, its cancellation,
// and the durable job's progress once the window ends. At most one
// closure of a tenant is not cancelled (the partial unique index), so a
// tenant is closed once. closed_memberships keeps who belonged to a
// closed tenant: their memberships end with it, and a later sign-in is
// told the tenant was closed instead of getting access back.
var migration46TenantClosure = migration{
	version: 46,
	name:    "create tenant closures and closed memberships",
	stmts: []string{
		`CREATE TABLE tenant_closures (
			id varchar(64) PRIMARY KEY,
			tenant_id varchar(64) NOT NULL REFERENCES tenants (id),
			state varchar(16) NOT NULL CHECK (state IN ('pending', 'closing', 'closed', 'cancelled')),
			window_days integer NOT NULL,
			close_at {{time}} NOT NULL,
			requested_by varchar(64) NOT NULL,
			requested_at {{time}} NOT NULL,
			cancelled_by varchar(64) NOT NULL DEFAULT '',
			cancelled_at {{time}} NULL,
			closed_at {{time}} NULL,
			step varchar(32) NOT NULL DEFAULT '',
			job_id varchar(64) NOT NULL DEFAULT '',
			kms_keys_scheduled integer NOT NULL DEFAULT 0,
			detail text NOT NULL DEFAULT ''
		)`,
		`CREATE UNIQUE INDEX tenant_closures_live_key ON tenant_closures (tenant_id) WHERE state <> 'cancelled'`,
		`CREATE TABLE closed_memberships (
			tenant_id varchar(64) NOT NULL REFERENCES tenants (id),
			user_id varchar(64) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
			role varchar(16) NOT NULL,
			closed_at {{time}} NOT NULL,
			PRIMARY KEY (tenant_id, user_id)
		)`,
		`CREATE INDEX closed_memberships_user_idx ON closed_memberships (user_id)`,
	},
}
