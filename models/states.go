package models

// Mode is how a key's material came to be (DESIGN.md's three BYOK modes).
type Mode string

// Key modes.
const (
	ModeCMK       Mode = "cmk"       // customer-managed KMS key, registered by ARN
	ModeGenerated Mode = "generated" // keyport-generated material imported into the tenant's KMS
	ModeImported  Mode = "imported"  // tenant-supplied material
)

// KeyState is where a key is in its life: whether keyport may use it.
type KeyState string

// Key states.
const (
	StatePending         KeyState = "PENDING"
	StateEnabled         KeyState = "ENABLED"
	StateDisabled        KeyState = "DISABLED"
	StatePendingDeletion KeyState = "PENDING_DELETION"
	StateDeleted         KeyState = "DELETED"
)

// Health is what keyport last saw of a key in KMS, kept per key from
// validations and from data-path failures.
type Health string

// Key health values.
const (
	HealthUnknown         Health = "UNKNOWN"
	HealthOK              Health = "OK"
	HealthAccessDenied    Health = "ACCESS_DENIED"
	HealthKMSDisabled     Health = "KMS_DISABLED"
	HealthPendingDeletion Health = "PENDING_DELETION" // the KMS key is scheduled for deletion
	HealthPendingImport   Health = "PENDING_IMPORT"
	HealthMaterialExpired Health = "MATERIAL_EXPIRED"
	HealthDrift           Health = "DRIFT"
	HealthUnreachable     Health = "UNREACHABLE"
	// HealthPrimaryRevoked: the tenant revoked the primary region's KMS
	// key and the provider lets keyport fail over, so a replica serves.
	HealthPrimaryRevoked Health = "PRIMARY_REVOKED"
)
