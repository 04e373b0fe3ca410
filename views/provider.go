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
	KMSPricePer10k  string // USD per 10,000 KMS requests, for the cache's savings
	Errors          map[string]string
}
