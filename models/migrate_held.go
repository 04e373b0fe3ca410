package models

// Keys whose material keyport keeps for the provider's own use instead of
// importing it into the tenant's KMS (mode 3, when the provider setting
// says so): the data keys of such a key are wrapped by keyport under the
// sealed material, and no KMS key exists for it.
var migration13Held = migration{
	version: 13,
	name:    "mark keys whose material keyport keeps instead of importing it",
	stmts: []string{
		`ALTER TABLE managed_keys ADD COLUMN held boolean NOT NULL DEFAULT FALSE`,
	},
}
