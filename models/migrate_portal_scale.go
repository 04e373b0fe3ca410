package models

// The portal at scale (issue 18): the key page shows the KMS automatic
// rotation that validation last read instead of asking KMS on every view,
// and the audit page's actor, action and key filters sort with seq.
var migration64KMSRotationStatus = migration{
	version: 64,
	name:    "remember each region's KMS automatic rotation",
	stmts: []string{
		`CREATE TABLE key_kms_rotation (
			key_id varchar(64) NOT NULL REFERENCES keys (id) ON DELETE CASCADE,
			region varchar(32) NOT NULL,
			tenant_id varchar(64) NOT NULL,
			kms_key_arn text NOT NULL,
			verifiable boolean NOT NULL,
			enabled boolean NOT NULL,
			period_days integer NOT NULL DEFAULT 0,
			next_rotation_at {{time}} NULL,
			detail text NOT NULL DEFAULT '',
			checked_at {{time}} NOT NULL,
			PRIMARY KEY (key_id, region)
		)`,
	},
}
