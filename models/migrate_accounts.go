package models

// The first migrations: tenants, users and their memberships, sessions and
// login flows, the audit log, sealed secrets and invitations.

var migration1Accounts = migration{
	version: 1,
	name:    "create tenants, users and memberships",
	stmts: []string{
		`CREATE TABLE tenants (
			id varchar(64) PRIMARY KEY,
			name text NOT NULL,
			created_at {{time}} NOT NULL
		)`,
		`CREATE TABLE users (
			id varchar(64) PRIMARY KEY,
			issuer text NOT NULL,
			subject text NOT NULL,
			email text NOT NULL DEFAULT '',
			name text NOT NULL DEFAULT '',
			created_at {{time}} NOT NULL,
			last_sign_in_at {{time}} NULL,
			CONSTRAINT users_issuer_subject_key UNIQUE (issuer, subject)
		)`,
		`CREATE TABLE memberships (
			tenant_id varchar(64) NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
			user_id varchar(64) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
			role varchar(16) NOT NULL CHECK (role IN ('owner', 'admin', 'auditor')),
			invited_by varchar(64) NOT NULL DEFAULT '',
			created_at {{time}} NOT NULL,
			PRIMARY KEY (tenant_id, user_id)
		)`,
		`CREATE INDEX memberships_user_id_idx ON memberships (user_id)`,
	},
}

var migration2Sessions = migration{
	version: 2,
	name:    "create sessions and login flows",
	stmts: []string{
		// tenant_id has no foreign key: "" means no tenant chosen yet, and the
		// membership is re-checked on every request anyway.
		`CREATE TABLE sessions (
			id varchar(64) PRIMARY KEY,
			secret_hash {{bytes}} NOT NULL,
			user_id varchar(64) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
			tenant_id varchar(64) NOT NULL DEFAULT '',
			created_at {{time}} NOT NULL,
			last_seen_at {{time}} NOT NULL,
			expires_at {{time}} NOT NULL,
			auth_time {{time}} NOT NULL,
			mfa boolean NOT NULL DEFAULT FALSE
		)`,
		`CREATE INDEX sessions_user_id_idx ON sessions (user_id)`,
		`CREATE INDEX sessions_expires_at_idx ON sessions (expires_at)`,
		`CREATE TABLE login_flows (
			id varchar(64) PRIMARY KEY,
			secret_hash {{bytes}} NOT NULL,
			state text NOT NULL,
			nonce text NOT NULL,
			return_to text NOT NULL DEFAULT '',
			created_at {{time}} NOT NULL,
			expires_at {{time}} NOT NULL
		)`,
	},
}

var migration3Audit = migration{
	version: 3,
	name:    "create audit events",
	stmts: []string{
		// seq is assigned by the store (max+1 inside the append transaction), not
		// by the database, so that the chain has no gaps by construction.
		`CREATE TABLE audit_events (
			seq bigint PRIMARY KEY,
			tenant_id varchar(64) NOT NULL DEFAULT '',
			actor text NOT NULL DEFAULT '',
			action text NOT NULL,
			target_type text NOT NULL DEFAULT '',
			target_id text NOT NULL DEFAULT '',
			details text NOT NULL,
			request_id text NOT NULL DEFAULT '',
			created_at {{time}} NOT NULL,
			prev_hash {{bytes}} NOT NULL,
			hash {{bytes}} NOT NULL
		)`,
		`CREATE INDEX audit_events_tenant_seq_idx ON audit_events (tenant_id, seq)`,
	},
}

var migration4SealedSecrets = migration{
	version: 4,
	name:    "create sealed secrets",
	stmts: []string{
		`CREATE TABLE sealed_secrets (
			name varchar(200) PRIMARY KEY,
			blob {{bytes}} NOT NULL,
			created_at {{time}} NOT NULL
		)`,
	},
}

var migration5Invitations = migration{
	version: 5,
	name:    "create invitations",
	stmts: []string{
		// token_hash is SHA-256 of the emailed token: the table never holds a
		// usable link. email is stored lowercased so matching is exact.
		`CREATE TABLE invitations (
			id varchar(64) PRIMARY KEY,
			tenant_id varchar(64) NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
			email text NOT NULL,
			role varchar(16) NOT NULL CHECK (role IN ('owner', 'admin', 'auditor')),
			token_hash {{bytes}} NOT NULL,
			invited_by varchar(64) NOT NULL,
			created_at {{time}} NOT NULL,
			expires_at {{time}} NOT NULL,
			accepted_at {{time}} NULL,
			accepted_by varchar(64) NOT NULL DEFAULT '',
			revoked_at {{time}} NULL,
			CONSTRAINT invitations_token_hash_key UNIQUE (token_hash)
		)`,
		`CREATE INDEX invitations_tenant_created_idx ON invitations (tenant_id, created_at)`,
		`CREATE INDEX invitations_tenant_email_idx ON invitations (tenant_id, email)`,
	},
}

var migration15StepUp = migration{
	version: 15,
	name:    "record which signed-in user a step-up sign-in is for",
	stmts: []string{
		`ALTER TABLE login_flows ADD COLUMN step_up_user_id varchar(64) NOT NULL DEFAULT ''`,
	},
}
