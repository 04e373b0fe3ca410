package models

// migration44TenantDataKeys records which keys run on data keys their
// tenant supplies (InCountry style: a GenerateDataKeyWithoutPlaintext
// blob), so keyport never replaces one by itself, and which wrapped data
// keys KMS made without keyport's encryption context (the blob of `aws kms
// generate-data-key-without-plaintext` with no --encryption-context), so
// keyport asks KMS to unwrap them without one.
var migration44TenantDataKeys = migration{
	version: 44,
	name:    "add tenant_data_keys to keys and no_context to data_key_wraps",
	stmts: []string{
		`ALTER TABLE keys ADD COLUMN tenant_data_keys boolean NOT NULL DEFAULT FALSE`,
		`ALTER TABLE data_key_wraps ADD COLUMN no_context boolean NOT NULL DEFAULT FALSE`,
	},
}
