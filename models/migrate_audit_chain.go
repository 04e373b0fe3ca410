package models

// migration14AuditTenantChains gives every tenant (and the provider-wide
// events, tenant "") a hash chain of its own beside the global one, and
// every event an actor kind (issue 17 #4, #25).
//
// tenant_seq numbers a tenant's events 1, 2, 3, ... with no gaps, so a
// tenant verifies its own events without reading, or learning anything
// of, another tenant's. tenant_prev_hash and tenant_hash link that chain;
// they need the audit key, which migrations do not have, so the rows
// written before this migration get them the first time their tenant
// appends or verifies (chainLegacyTx). Until then, and for ever, the
// global chain (seq, prev_hash, hash) still covers them: the operator's
// verification walks both.
var migration14AuditTenantChains = migration{
	version: 14,
	name:    "chain audit events per tenant and record the actor kind",
	stmts: []string{
		`ALTER TABLE audit_events ADD COLUMN actor_kind text NOT NULL DEFAULT ''`,
		`ALTER TABLE audit_events ADD COLUMN tenant_seq bigint NOT NULL DEFAULT 0`,
		`ALTER TABLE audit_events ADD COLUMN tenant_prev_hash {{bytes}}`,
		`ALTER TABLE audit_events ADD COLUMN tenant_hash {{bytes}}`,
		// Global order within a tenant is its chain's order. The index of
		// migration 3 on (tenant_id, seq) keeps the count cheap.
		`UPDATE audit_events SET tenant_seq = (SELECT COUNT(*) FROM audit_events AS b
			WHERE b.tenant_id = audit_events.tenant_id AND b.seq <= audit_events.seq)`,
		// Old events name their actor by id or by a fixed name; the kind
		// follows from it. Service tokens acted as the data API.
		`UPDATE audit_events SET actor_kind = CASE
			WHEN actor LIKE 'usr\_%' ESCAPE '\' THEN 'user'
			WHEN actor LIKE 'tok\_%' ESCAPE '\' OR actor = 'keyport:data-api' THEN 'service_token'
			ELSE 'system' END`,
		`CREATE UNIQUE INDEX audit_events_tenant_chain_idx ON audit_events (tenant_id, tenant_seq)`,
		`CREATE INDEX audit_events_unchained_idx ON audit_events (tenant_id, tenant_seq) WHERE tenant_hash IS NULL`,
	},
}

// migration31AuditVerifications keeps the last verification of each
// chain (a tenant's own, or the whole log for the operators), so reports
// print its result and time instead of walking the chain on every
// download (issue 17 #4): verifying is a POST, rate-limited.
var migration31AuditVerifications = migration{
	version: 31,
	name:    "record the last verification of each audit chain",
	stmts: []string{
		`CREATE TABLE audit_verifications (
			scope text PRIMARY KEY,
			ok boolean NOT NULL,
			rows_checked bigint NOT NULL,
			first_broken_seq bigint NOT NULL DEFAULT 0,
			reason text NOT NULL DEFAULT '',
			head {{bytes}},
			verified_at {{time}} NOT NULL,
			verified_by text NOT NULL
		)`,
	},
}
