package views

// ProviderForm is the operator's provider settings page.
type ProviderForm struct {
	AccountID       string
	PrincipalARN    string
	AllowedRegions  string
	ReplicaRegions  string
	DRRegions       string
	OneKeyPerTenant bool
	ImportedKeyUse  string // "kms" or "provider"
	ReplicaFailover string // "never", "unavailable" or "revoked"
	Errors          map[string]string
}
