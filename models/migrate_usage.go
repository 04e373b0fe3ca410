package models

// migration51TenantUsage keeps a tenant's hourly use summed over its keys,
// written by the same flush as key_usage, so that the dashboard's chart
// reads at most 90 days of hours for a tenant however many keys it has
// (summing key_usage would read every key's hours). Rows are filled from
// key_usage as it stands; use of keys deleted later stays in the tenant's
// history.
var migration51TenantUsage = migration{
	version: 51,
	name:    "tenant hourly usage",
	stmts: []string{
		`CREATE TABLE tenant_usage (
			tenant_id varchar(64) NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
			period varchar(16) NOT NULL,
			encrypts bigint NOT NULL DEFAULT 0,
			decrypts bigint NOT NULL DEFAULT 0,
			datakeys bigint NOT NULL DEFAULT 0,
			kms_calls bigint NOT NULL DEFAULT 0,
			cache_hits bigint NOT NULL DEFAULT 0,
			PRIMARY KEY (tenant_id, period)
		)`,
		`INSERT INTO tenant_usage (tenant_id, period, encrypts, decrypts, datakeys, kms_calls, cache_hits)
			SELECT k.tenant_id, u.period, SUM(u.encrypts), SUM(u.decrypts), SUM(u.datakeys), SUM(u.kms_calls), SUM(u.cache_hits)
			FROM key_usage u JOIN keys k ON k.id = u.key_id
			GROUP BY k.tenant_id, u.period`,
	},
}
