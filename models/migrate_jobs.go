package models

// The schema of durable jobs, the mail outbox and rotation schedules (issue
// 6).
var migration8Jobs = migration{
	version: 8,
	name:    "create jobs, outbox, rotation policies and notices",
	stmts: []string{
		// A job is claimed by bumping lease_token: every later write by the
		// worker names the token it got, so a worker whose lease was taken
		// over cannot complete, retry or renew the job (fencing). run_key is
		// unique, so the same piece of work is never enqueued twice.
		`CREATE TABLE jobs (
			id varchar(64) PRIMARY KEY,
			kind varchar(64) NOT NULL,
			tenant_id varchar(64) NOT NULL DEFAULT '',
			run_key varchar(400) NOT NULL,
			payload text NOT NULL,
			state varchar(16) NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed', 'cancelled')),
			due_at {{time}} NOT NULL,
			attempts integer NOT NULL DEFAULT 0,
			max_attempts integer NOT NULL,
			lease_owner varchar(200) NOT NULL DEFAULT '',
			lease_expires_at {{time}} NULL,
			lease_token bigint NOT NULL DEFAULT 0,
			last_error text NOT NULL DEFAULT '',
			result text NOT NULL DEFAULT '',
			created_at {{time}} NOT NULL,
			updated_at {{time}} NOT NULL,
			finished_at {{time}} NULL,
			CONSTRAINT jobs_run_key_key UNIQUE (run_key)
		)`,
		`CREATE INDEX jobs_state_due_idx ON jobs (state, due_at)`,
		`CREATE INDEX jobs_state_lease_idx ON jobs (state, lease_expires_at)`,
		// The outbox holds each message until the relay accepted it. The
		// bodies are sealed under the KEK (an invitation carries a link
		// with a token); subject and recipients stay readable for the
		// operator's page of stuck messages. dedupe_key makes "the notice
		// for this event to this person" a single row whatever retries.
		`CREATE TABLE outbox (
			id varchar(64) PRIMARY KEY,
			tenant_id varchar(64) NOT NULL DEFAULT '',
			kind varchar(32) NOT NULL,
			dedupe_key varchar(400) NOT NULL,
			recipient text NOT NULL,
			subject text NOT NULL,
			body_sealed {{bytes}} NOT NULL,
			message_id varchar(300) NOT NULL,
			state varchar(16) NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
			attempts integer NOT NULL DEFAULT 0,
			last_error text NOT NULL DEFAULT '',
			created_at {{time}} NOT NULL,
			sent_at {{time}} NULL,
			CONSTRAINT outbox_dedupe_key_key UNIQUE (dedupe_key)
		)`,
		`CREATE INDEX outbox_state_created_idx ON outbox (state, created_at)`,
		`CREATE TABLE rotation_defaults (
			tenant_id varchar(64) PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
			period_days integer NOT NULL,
			notice_days varchar(64) NOT NULL,
			automatic boolean NOT NULL,
			window_start_hour integer NOT NULL,
			window_hours integer NOT NULL,
			updated_by varchar(64) NOT NULL DEFAULT '',
			updated_at {{time}} NOT NULL
		)`,
		// One row per key. next_rotation_at is the date the current cycle
		// rotates on; from_version is the data-key version that rotation
		// replaces, which names the rotation job ("rotate from v3"), so a
		// scheduled run, a click and an API call for the same rotation are
		// one job.
		`CREATE TABLE rotation_policies (
			key_id varchar(64) PRIMARY KEY REFERENCES keys (id) ON DELETE CASCADE,
			tenant_id varchar(64) NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
			period_days integer NOT NULL,
			notice_days varchar(64) NOT NULL,
			automatic boolean NOT NULL,
			window_start_hour integer NOT NULL,
			window_hours integer NOT NULL,
			kms_rotate_on_demand boolean NOT NULL DEFAULT FALSE,
			next_rotation_at {{time}} NOT NULL,
			from_version bigint NOT NULL,
			postponed_days integer NOT NULL DEFAULT 0,
			health_notified varchar(32) NOT NULL DEFAULT '',
			last_rotated_at {{time}} NULL,
			updated_by varchar(64) NOT NULL DEFAULT '',
			updated_at {{time}} NOT NULL
		)`,
		`CREATE INDEX rotation_policies_tenant_next_idx ON rotation_policies (tenant_id, next_rotation_at)`,
		`CREATE INDEX rotation_policies_next_idx ON rotation_policies (next_rotation_at)`,
		`CREATE TABLE notices (
			id varchar(64) PRIMARY KEY,
			tenant_id varchar(64) NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
			key_id varchar(64) NOT NULL REFERENCES keys (id) ON DELETE CASCADE,
			kind varchar(32) NOT NULL,
			dedupe_key varchar(400) NOT NULL,
			rotation_at {{time}} NULL,
			lead_days integer NOT NULL DEFAULT 0,
			due_at {{time}} NOT NULL,
			state varchar(16) NOT NULL CHECK (state IN ('planned', 'sent', 'cancelled')),
			detail text NOT NULL DEFAULT '',
			sent_at {{time}} NULL,
			acknowledged_by varchar(64) NOT NULL DEFAULT '',
			acknowledged_at {{time}} NULL,
			created_at {{time}} NOT NULL,
			CONSTRAINT notices_dedupe_key_key UNIQUE (dedupe_key)
		)`,
		`CREATE INDEX notices_key_due_idx ON notices (key_id, due_at)`,
		// Only the SHA-256 of a calendar feed token is kept; the feed URL is
		// a capability shown once.
		`CREATE TABLE calendar_feeds (
			tenant_id varchar(64) PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
			token_hash {{bytes}} NOT NULL,
			created_by varchar(64) NOT NULL,
			created_at {{time}} NOT NULL,
			CONSTRAINT calendar_feeds_token_hash_key UNIQUE (token_hash)
		)`,
		`CREATE TABLE mail_optouts (
			tenant_id varchar(64) NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
			user_id varchar(64) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
			kind varchar(32) NOT NULL,
			created_at {{time}} NOT NULL,
			PRIMARY KEY (tenant_id, user_id, kind)
		)`,
	},
}

// migration68JobsClaimOrder indexes pending jobs in the order workers
// claim them (due_at, then id), so that a claim reads only the rows it
// takes, in index order, instead of collecting and sorting every due job:
// with 10,000 rotations due at once each claim sorted them all. It
// replaces the (state, due_at) index, which it covers.
var migration68JobsClaimOrder = migration{
	version: 68,
	name:    "index jobs in claim order",
	stmts: []string{
		`CREATE INDEX jobs_state_due_id_idx ON jobs (state, due_at, id)`,
		`DROP INDEX jobs_state_due_idx`,
	},
}
