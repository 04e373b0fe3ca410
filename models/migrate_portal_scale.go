package models

// The portal at scale (issue 18): the key page shows the KMS automatic
// rotation that validation last read instead of asking KMS on every view.
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

// The dashboard counts a tenant's keys by state and health, and its
// expiring material, from indexes alone.
var migration65KeyStatusIndexes = migration{
	version: 65,
	name:    "index keys by tenant, state and health, and active material by expiry",
	stmts: []string{
		`CREATE INDEX keys_tenant_state_health_idx ON keys (tenant_id, state, health)`,
		`CREATE INDEX key_materials_tenant_expiry_idx ON key_materials (tenant_id, state, valid_to)`,
	},
}

// The keys list sorted by last use reads each key's newest use off an
// index instead of its version rows.
var migration66VersionUseIndex = migration{
	version: 66,
	name:    "index data-key versions by key and last use",
	stmts: []string{
		`CREATE INDEX data_key_versions_key_used_idx ON data_key_versions (key_id, last_used_at)`,
	},
}

// The keys list's search reads each key's ARNs off an index that holds
// them beside the key id, instead of visiting the region rows.
var migration69RegionARNIndex = migration{
	version: 69,
	name:    "index key regions by key and KMS key ARN",
	stmts: []string{
		`CREATE INDEX key_regions_key_arn_idx ON key_regions (key_id, kms_key_arn)`,
	},
}
