package models

// migration45ImportWrappingReports lets an import request name its RSA-OAEP
// hash (SHA-1 for tenants whose tools default to it, SHA-256 otherwise) and
// the existing key whose material it re-imports from the tenant's backup;
// and records tenants' scheduled reports (one row per tenant and report;
// no row is "not scheduled"). last_period names the period whose report
// was last queued, so a planning pass skips tenants already served.
var migration45ImportWrappingReports = migration{
	version: 45,
	name:    "add wrapping and re-import target to import requests; report schedules",
	stmts: []string{
		`ALTER TABLE import_requests ADD COLUMN wrapping varchar(32) NOT NULL DEFAULT 'RSAES_OAEP_SHA_256'`,
		`ALTER TABLE import_requests ADD COLUMN reimport_key_id varchar(64) NOT NULL DEFAULT ''`,
		`CREATE TABLE report_schedules (
			tenant_id varchar(64) NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
			report varchar(64) NOT NULL,
			period varchar(16) NOT NULL CHECK (period IN ('weekly', 'monthly')),
			last_period varchar(16) NOT NULL DEFAULT '',
			updated_by varchar(64) NOT NULL DEFAULT '',
			updated_at {{time}} NOT NULL,
			PRIMARY KEY (tenant_id, report)
		)`,
	},
}
