package models

// The schema of the key lifecycle (issue 5): key stores, keys whose
// material keyport holds (modes 2 and 3), their material versions, the
// recorded multi-step operations on them, import requests, approvals and
// drift.
var migration12Lifecycle = migration{
	version: 12,
	name:    "create key stores, material, operations, import requests, approvals and drift",
	stmts: []string{
		`CREATE TABLE key_stores (
			id varchar(64) PRIMARY KEY,
			tenant_id varchar(64) NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
			connection_id varchar(64) NOT NULL REFERENCES aws_connections (id),
			region varchar(32) NOT NULL,
			name text NOT NULL,
			created_by varchar(64) NOT NULL DEFAULT '',
			created_at {{time}} NOT NULL,
			updated_at {{time}} NOT NULL,
			CONSTRAINT key_stores_tenant_name_key UNIQUE (tenant_id, name)
		)`,
		// One row per key whose material keyport holds. store_id has no
		// foreign key: a store may be deleted once all its keys are DELETED,
		// and those keys keep their history.
		`CREATE TABLE managed_keys (
			key_id varchar(64) PRIMARY KEY REFERENCES keys (id) ON DELETE CASCADE,
			tenant_id varchar(64) NOT NULL,
			store_id varchar(64) NOT NULL,
			alias_name text NOT NULL,
			valid_days integer NOT NULL DEFAULT 0,
			auto_reupload boolean NOT NULL DEFAULT FALSE,
			deletion_at {{time}} NULL,
			updated_at {{time}} NOT NULL
		)`,
		`CREATE INDEX managed_keys_store_idx ON managed_keys (tenant_id, store_id)`,
		// Material is sealed under the provider KEK (purpose names the
		// material id); the fingerprint is a key check value, never the
		// material. kms_key_arn is the EXTERNAL KMS key it was imported into.
		`CREATE TABLE key_materials (
			id varchar(64) PRIMARY KEY,
			key_id varchar(64) NOT NULL REFERENCES keys (id) ON DELETE CASCADE,
			tenant_id varchar(64) NOT NULL,
			seq integer NOT NULL,
			source varchar(16) NOT NULL CHECK (source IN ('generated', 'tenant')),
			sealed {{bytes}} NOT NULL,
			fingerprint varchar(64) NOT NULL,
			kms_key_arn text NOT NULL DEFAULT '',
			state varchar(16) NOT NULL CHECK (state IN ('pending', 'active', 'previous', 'discarded')),
			data_key_version bigint NOT NULL DEFAULT 0,
			valid_to {{time}} NULL,
			imported_at {{time}} NULL,
			created_by varchar(64) NOT NULL DEFAULT '',
			created_at {{time}} NOT NULL,
			CONSTRAINT key_materials_key_seq_key UNIQUE (key_id, seq)
		)`,
		// An operation is written before any of its side effects, and its
		// step before each one, so a restarted process resumes it from
		// the row (the job named job_id drives it under a lease).
		`CREATE TABLE key_operations (
			id varchar(64) PRIMARY KEY,
			tenant_id varchar(64) NOT NULL,
			key_id varchar(64) NOT NULL REFERENCES keys (id) ON DELETE CASCADE,
			kind varchar(24) NOT NULL,
			step varchar(32) NOT NULL,
			state varchar(16) NOT NULL CHECK (state IN ('running', 'done', 'failed')),
			material_id varchar(64) NOT NULL DEFAULT '',
			kms_key_arn text NOT NULL DEFAULT '',
			from_version bigint NOT NULL DEFAULT 0,
			job_id varchar(64) NOT NULL DEFAULT '',
			detail text NOT NULL DEFAULT '',
			actor varchar(64) NOT NULL DEFAULT '',
			created_at {{time}} NOT NULL,
			updated_at {{time}} NOT NULL
		)`,
		`CREATE INDEX key_operations_key_idx ON key_operations (key_id, created_at)`,
		`CREATE INDEX key_operations_state_idx ON key_operations (state)`,
		// Only the SHA-256 of an import token is kept; the private key is
		// sealed and dropped (NULL) as soon as the request is used or ends.
		`CREATE TABLE import_requests (
			id varchar(64) PRIMARY KEY,
			tenant_id varchar(64) NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
			store_id varchar(64) NOT NULL,
			key_name text NOT NULL,
			token_hash {{bytes}} NOT NULL,
			public_key_pem text NOT NULL,
			private_sealed {{bytes}} NULL,
			state varchar(16) NOT NULL CHECK (state IN ('open', 'used', 'expired')),
			key_id varchar(64) NOT NULL DEFAULT '',
			created_by varchar(64) NOT NULL DEFAULT '',
			created_at {{time}} NOT NULL,
			expires_at {{time}} NOT NULL,
			used_at {{time}} NULL,
			CONSTRAINT import_requests_token_hash_key UNIQUE (token_hash)
		)`,
		`CREATE TABLE key_approvals (
			id varchar(64) PRIMARY KEY,
			tenant_id varchar(64) NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
			key_id varchar(64) NOT NULL REFERENCES keys (id) ON DELETE CASCADE,
			action varchar(16) NOT NULL CHECK (action IN ('export', 'delete')),
			state varchar(16) NOT NULL CHECK (state IN ('pending', 'approved', 'denied', 'executed')),
			requested_by varchar(64) NOT NULL,
			decided_by varchar(64) NOT NULL DEFAULT '',
			created_at {{time}} NOT NULL,
			expires_at {{time}} NOT NULL,
			decided_at {{time}} NULL,
			executed_at {{time}} NULL
		)`,
		`CREATE INDEX key_approvals_key_idx ON key_approvals (tenant_id, key_id, created_at)`,
		`CREATE TABLE key_drift (
			key_id varchar(64) NOT NULL REFERENCES keys (id) ON DELETE CASCADE,
			tenant_id varchar(64) NOT NULL,
			field varchar(32) NOT NULL,
			recorded text NOT NULL,
			actual text NOT NULL,
			detected_at {{time}} NOT NULL,
			PRIMARY KEY (key_id, field)
		)`,
	},
}

// Deletion and deactivation are recorded operations like the others (so a
// crash between keyport's change and KMS's is resumed): an operation
// remembers the state the key had, to put it back when a deletion fails,
// and a deletion's waiting period.
var migration22StateOperations = migration{
	version: 22,
	name:    "record the prior key state and deletion window of key operations",
	stmts: []string{
		`ALTER TABLE key_operations ADD COLUMN from_state text NOT NULL DEFAULT ''`,
		`ALTER TABLE key_operations ADD COLUMN window_days integer NOT NULL DEFAULT 0`,
	},
}
