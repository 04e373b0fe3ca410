package views

// Page is what the layout needs on every page.
type Page struct {
	Title     string
	Nav       string // which navigation entry is current
	User      *UserInfo
	Tenant    *TenantInfo
	Tenants   []TenantInfo // every tenant the user belongs to, for the switcher
	CSRFToken string
	Dev       bool
	Flash     string
	Operator  bool     // provider operator: the Provider page is in the navigation
	DemoAWS   *DemoAWS // development only: the kmslocal demo account
	// Closing is the tenant's closure while it is pending or under way:
	// every page shows it to every member.
	Closing *ClosureInfo
	// RefreshSeconds reloads the page by itself while something it shows
	// is still running (a key operation); 0 never. A meta refresh works
	// without scripts under the CSP.
	RefreshSeconds int
}

// UserInfo is the signed-in user as the layout shows them.
type UserInfo struct {
	Name  string
	Email string
}

// TenantInfo names a tenant and the viewer's role in it.
type TenantInfo struct {
	ID   string
	Name string
	Role string
}

// DemoAWS is the development stand-in AWS account (kmslocal) a new user can
// connect and register a key from. Its credentials are the stand-in's, not
// secrets.
type DemoAWS struct {
	AccountID       string
	Region          string
	AccessKeyID     string
	SecretAccessKey string
	RoleARN         string
	KeyARN          string
}
