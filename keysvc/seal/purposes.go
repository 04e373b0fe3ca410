package seal

// The seal purposes of keyport's sealed columns. A purpose is bound into
// each blob as associated data, so a blob copied to another row or column
// does not open. They live here, beside the registry of sealed columns that
// a KEK rotation walks, so that every purpose has exactly one spelling.

// SecretPurpose is the purpose of a connection's sealed IAM secret key.
func SecretPurpose(connID string) string { return "iam-secret/" + connID }

// MaterialPurpose is the purpose of sealed key material.
func MaterialPurpose(materialID string) string { return "key-material/" + materialID }

// OutboxPurpose is the purpose of a sealed outbox message body.
func OutboxPurpose(id string) string { return "outbox:" + id }

// ImportPurpose is the purpose of an import request's sealed private key.
func ImportPurpose(id string) string { return "import-request/" + id }

// IdempotencyPurpose is the purpose of a management API answer kept for
// replays of the same Idempotency-Key.
func IdempotencyPurpose(id string) string { return "idempotency/" + id }

// WebhookSecretPurpose is the purpose of a webhook endpoint's sealed
// signing secret.
func WebhookSecretPurpose(endpointID string) string { return "webhook-secret/" + endpointID }

// KMSKEKSecret is the sealed_secrets name under which the provider's KEK is
// kept wrapped by the provider's KMS key (it is KMS ciphertext, not a sealer
// blob).
const KMSKEKSecret = "kek-kms-wrapped"
