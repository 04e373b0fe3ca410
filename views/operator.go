package views

// Operator is the provider's overview of every tenant.
type Operator struct {
	Tenants   []OperatorTenant
	Attention []AttentionKey
}

// OperatorTenant is one tenant with its keys counted by health.
type OperatorTenant struct {
	ID       string
	Name     string
	Owner    string // the owners' emails (or the bound owner's), to tell same-named tenants apart
	Keys     int
	Healthy  int
	ByHealth []HealthCount // the unhealthy ones, worst first
}

// AttentionKey is a key that needs someone to act, with why.
type AttentionKey struct {
	TenantName  string
	TenantID    string
	TenantOwner string
	KeyID       string
	KeyName     string
	State       string
	Health      string
	Reasons     []string
}
