package models

// The key and data-plane schema: AWS connections, keys with one KMS key per
// region, data-key versions and their wrapped copies, validations, service
// tokens.
var migration6Keys = migration{
	version: 6,
	name:    "create connections, keys, data keys and service tokens",
	stmts: []string{
		// revision is a provider-wide change counter: replicas poll for rows
		// with a revision above the last one they saw, so a purge, a
		// revocation or a state change reaches every replica's memory
		// without a database read per data-API request.
		`CREATE TABLE change_counter (
			id integer PRIMARY KEY CHECK (id = 1),
			revision bigint NOT NULL
		)`,
		`INSERT INTO change_counter (id, revision) VALUES (1, 0)`,
		`CREATE TABLE aws_connections (
			id varchar(64) PRIMARY KEY,
			tenant_id varchar(64) NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
			name text NOT NULL,
			account_id varchar(12) NOT NULL,
			default_region varchar(32) NOT NULL,
			kind varchar(16) NOT NULL CHECK (kind IN ('access_key', 'assume_role')),
			access_key_id varchar(128) NOT NULL DEFAULT '',
			secret_sealed {{bytes}} NULL,
			role_arn text NOT NULL DEFAULT '',
			external_id varchar(128) NOT NULL DEFAULT '',
			created_by varchar(64) NOT NULL DEFAULT '',
			created_at {{time}} NOT NULL,
			last_test_at {{time}} NULL,
			last_test_ok boolean NOT NULL DEFAULT FALSE,
			last_test_summary text NOT NULL DEFAULT '',
			revision bigint NOT NULL DEFAULT 0,
			CONSTRAINT aws_connections_tenant_name_key UNIQUE (tenant_id, name)
		)`,
		`CREATE TABLE keys (
			id varchar(64) PRIMARY KEY,
			tenant_id varchar(64) NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
			connection_id varchar(64) NOT NULL REFERENCES aws_connections (id),
			name text NOT NULL,
			mode varchar(16) NOT NULL CHECK (mode IN ('cmk', 'generated', 'imported')),
			state varchar(24) NOT NULL CHECK (state IN ('PENDING', 'ENABLED', 'DISABLED', 'PENDING_DELETION', 'DELETED')),
			health varchar(32) NOT NULL DEFAULT 'UNKNOWN',
			health_detail text NOT NULL DEFAULT '',
			current_version bigint NOT NULL DEFAULT 0,
			cache_epoch bigint NOT NULL DEFAULT 0,
			created_by varchar(64) NOT NULL DEFAULT '',
			created_at {{time}} NOT NULL,
			updated_at {{time}} NOT NULL,
			validated_at {{time}} NULL,
			revision bigint NOT NULL DEFAULT 0,
			CONSTRAINT keys_tenant_name_key UNIQUE (tenant_id, name)
		)`,
		`CREATE INDEX keys_revision_idx ON keys (revision)`,
		`CREATE TABLE key_regions (
			key_id varchar(64) NOT NULL REFERENCES keys (id) ON DELETE CASCADE,
			region varchar(32) NOT NULL,
			kms_key_arn text NOT NULL,
			priority integer NOT NULL,
			PRIMARY KEY (key_id, region)
		)`,
		`CREATE TABLE data_key_versions (
			key_id varchar(64) NOT NULL REFERENCES keys (id) ON DELETE CASCADE,
			version bigint NOT NULL,
			reason varchar(32) NOT NULL,
			created_by varchar(64) NOT NULL DEFAULT '',
			created_at {{time}} NOT NULL,
			messages_reserved bigint NOT NULL DEFAULT 0,
			PRIMARY KEY (key_id, version)
		)`,
		`CREATE TABLE data_key_wraps (
			key_id varchar(64) NOT NULL,
			version bigint NOT NULL,
			region varchar(32) NOT NULL,
			kms_key_arn text NOT NULL,
			ciphertext {{bytes}} NOT NULL,
			PRIMARY KEY (key_id, version, region),
			FOREIGN KEY (key_id, version) REFERENCES data_key_versions (key_id, version) ON DELETE CASCADE
		)`,
		`CREATE TABLE key_validations (
			id varchar(64) PRIMARY KEY,
			key_id varchar(64) NOT NULL REFERENCES keys (id) ON DELETE CASCADE,
			tenant_id varchar(64) NOT NULL,
			ok boolean NOT NULL,
			checks text NOT NULL,
			created_at {{time}} NOT NULL
		)`,
		`CREATE INDEX key_validations_key_idx ON key_validations (key_id, created_at)`,
		`CREATE TABLE service_tokens (
			id varchar(64) PRIMARY KEY,
			tenant_id varchar(64) NOT NULL DEFAULT '',
			name text NOT NULL,
			secret_hash {{bytes}} NOT NULL,
			created_by varchar(64) NOT NULL DEFAULT '',
			created_at {{time}} NOT NULL,
			revoked_at {{time}} NULL,
			last_used_at {{time}} NULL,
			revision bigint NOT NULL DEFAULT 0
		)`,
		`CREATE INDEX service_tokens_revision_idx ON service_tokens (revision)`,
		`CREATE TABLE key_usage (
			key_id varchar(64) NOT NULL REFERENCES keys (id) ON DELETE CASCADE,
			period varchar(16) NOT NULL,
			encrypts bigint NOT NULL DEFAULT 0,
			decrypts bigint NOT NULL DEFAULT 0,
			datakeys bigint NOT NULL DEFAULT 0,
			kms_calls bigint NOT NULL DEFAULT 0,
			cache_hits bigint NOT NULL DEFAULT 0,
			PRIMARY KEY (key_id, period)
		)`,
		`CREATE TABLE provider_settings (
			name varchar(64) PRIMARY KEY,
			value text NOT NULL,
			updated_by varchar(64) NOT NULL DEFAULT '',
			updated_at {{time}} NOT NULL
		)`,
	},
}

// migration26NamesIgnoreCase makes one rule of name uniqueness for keys,
// key stores and connections: unique per tenant ignoring case (keys were
// unique only as typed). Names that already differ only by case are not
// refused: the oldest keeps its name and each later one is renamed to
// "name (id)", which is unique because its id is, so the upgrade never
// stops on a tenant's data and every row keeps a name its owner recognises.
// Each unique index on lower(name) is one both SQLite and PostgreSQL build.
var migration26NamesIgnoreCase = migration{
	version: 26,
	name:    "make key, key store and connection names unique per tenant ignoring case",
	stmts: []string{
		renameCaseDuplicates("keys"),
		renameCaseDuplicates("key_stores"),
		renameCaseDuplicates("aws_connections"),
		`CREATE UNIQUE INDEX keys_tenant_lower_name_key ON keys (tenant_id, lower(name))`,
		`CREATE UNIQUE INDEX key_stores_tenant_lower_name_key ON key_stores (tenant_id, lower(name))`,
		`CREATE UNIQUE INDEX aws_connections_tenant_lower_name_key ON aws_connections (tenant_id, lower(name))`,
	},
}

// renameCaseDuplicates renames every row of table whose name an older row
// of the same tenant has, ignoring case, to "name (id)".
func renameCaseDuplicates(table string) string {
	return `UPDATE ` + table + ` SET name = name || ' (' || id || ')' WHERE EXISTS (
		SELECT 1 FROM ` + table + ` o WHERE o.tenant_id = ` + table + `.tenant_id AND lower(o.name) = lower(` + table + `.name)
		AND (o.created_at < ` + table + `.created_at OR (o.created_at = ` + table + `.created_at AND o.id < ` + table + `.id)))`
}

// migration30VersionRetirement records how far back a key still decrypts
// (Vault transit's min_decryption_version; 1 retires nothing) and each
// data-key version's use, so a tenant can see which old versions nothing
// reads any more before retiring them.
var migration30VersionRetirement = migration{
	version: 30,
	name:    "add min_decryption_version to keys and per-version use to data_key_versions",
	stmts: []string{
		`ALTER TABLE keys ADD COLUMN min_decryption_version bigint NOT NULL DEFAULT 1`,
		`ALTER TABLE data_key_versions ADD COLUMN encrypts bigint NOT NULL DEFAULT 0`,
		`ALTER TABLE data_key_versions ADD COLUMN decrypts bigint NOT NULL DEFAULT 0`,
		`ALTER TABLE data_key_versions ADD COLUMN last_used_at {{time}}`,
		`ALTER TABLE data_key_versions ADD COLUMN last_decrypt_at {{time}}`,
	},
}
