// Package views holds keyport's templ pages, partials and email bodies. Views
// take their own small structs, never database models, so a template cannot
// reach a field it was not meant to show.
package views

import "time"

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

// SignIn is the sign-in page.
type SignIn struct {
	ReturnTo string
	Dev      bool
}

// Problem is a page that explains why something was refused or failed,
// with only words that are safe to show.
type Problem struct {
	Status    int
	Heading   string
	Message   string
	RequestID string
	Action    *Link // the one next step, if there is one
}

// Link is a labelled href.
type Link struct {
	Label string
	Href  string
}

// Dashboard is the tenant's home page.
type Dashboard struct {
	TenantName  string
	Role        string
	MemberCount int
	Steps       []Step
	Activity    []ActivityRow
	KeyHealth   []HealthCount // keys by health, worst first; empty when there are no keys
}

// Step is one of the "getting started" steps on the dashboard.
type Step struct {
	Title  string
	Detail string
	Done   bool
	Link   *Link
}

// ActivityRow is one audit event in a short list.
type ActivityRow struct {
	At     time.Time
	Actor  string
	Action string
	Target string
}

// MailSummary is one caught message in the development mail list.
type MailSummary struct {
	ID         string
	ReceivedAt time.Time
	From       string
	To         string
	Subject    string
}

// Mail is one caught message in full.
type Mail struct {
	MailSummary
	Text string
	HTML string
}

// Members is the members page of a tenant.
type Members struct {
	CanManage   bool   // the viewer may invite, change roles and remove
	Notice      string // a warning to act on, e.g. an invitation whose email failed
	Members     []MemberRow
	Invitations []InvitationRow
	Invite      InviteForm
}

// MemberRow is one member in the members table.
type MemberRow struct {
	UserID     string
	Name       string
	Email      string
	Role       string
	InvitedBy  string // who invited them, "" for the tenant's creator
	JoinedAt   time.Time
	LastSignIn *time.Time
	You        bool // the row is the viewer
}

// InvitationRow is one open invitation.
type InvitationRow struct {
	ID        string
	Email     string
	Role      string
	InvitedBy string
	CreatedAt time.Time
	ExpiresAt time.Time
	Expired   bool
}

// InviteForm is the invitation form with what was typed and what was wrong.
type InviteForm struct {
	Email  string
	Role   string
	Errors map[string]string // by field: "email", "role"
	Error  string            // about the form as a whole
}

// InvitationLanding is the page an invitation link leads to.
type InvitationLanding struct {
	TenantName  string
	InviterName string
	Role        string
	ExpiresAt   time.Time
	SignedInAs  string // "" when nobody is signed in
}

// InviteEmail is the content of an invitation email.
type InviteEmail struct {
	TenantName   string
	InviterName  string
	InviterEmail string
	Role         string
	Link         string
	ExpiresAt    time.Time
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

// HealthCount is how many keys have one health, with what it means.
type HealthCount struct {
	Health string
	Label  string
	Advice string
	Count  int
	OK     bool
}

// CheckRow is one connection-test or key-validation check.
type CheckRow struct {
	Name     string
	Detail   string
	OK       bool
	Required bool
	Skipped  bool
}

// Option is one choice of a select box.
type Option struct {
	Value string
	Label string
}

// Connections is the AWS connections page.
type Connections struct {
	CanManage bool
	Rows      []ConnectionRow
}

// ConnectionRow is one connection in the list.
type ConnectionRow struct {
	ID         string
	Name       string
	AccountID  string
	Region     string
	Credential string // "access key …ABCD" or the role ARN
	Tested     bool
	TestOK     bool
	TestAt     time.Time
	Summary    string
}

// ConnectionForm is the "add AWS connection" form with what was typed (never
// the secret) and what was wrong.
type ConnectionForm struct {
	Name            string
	AccountID       string
	DefaultRegion   string
	Kind            string
	AccessKeyID     string
	RoleARN         string
	Regions         []string
	ProviderAccount string
	Errors          map[string]string
}

// ConnectionDetail is one connection's page.
type ConnectionDetail struct {
	ID          string
	Name        string
	AccountID   string
	Region      string
	Kind        string // "access_key" or "assume_role"
	AccessKey   string // "…ABCD"
	RoleARN     string
	ExternalID  string
	TrustPolicy string // for role connections
	CreatedAt   time.Time
	Tested      bool
	TestOK      bool
	TestAt      time.Time
	Summary     string
	Checks      []CheckRow // of the test just run, if any
	KeyCount    int
	CanManage   bool
}

// Keys is the keys page.
type Keys struct {
	CanManage      bool
	HasConnections bool
	Rows           []KeyRow
}

// KeyRow is one key in the list.
type KeyRow struct {
	ID          string
	Name        string
	State       string
	Health      string
	HealthLabel string
	HealthOK    bool
	Regions     string
	Version     int64
}

// KeyDetail is one key's page.
type KeyDetail struct {
	ID           string
	Name         string
	State        string
	Health       string
	HealthLabel  string
	HealthAdvice string
	HealthDetail string
	HealthOK     bool
	Connection   Link
	Regions      []KeyRegionRow
	Versions     []KeyVersionRow
	ValidatedAt  *time.Time
	Checks       []CheckRow
	Policy       string // the key policy statement keyport needs
	CanManage    bool
}

// KeyRegionRow is one region's KMS key of a key.
type KeyRegionRow struct {
	Region  string
	ARN     string
	Primary bool
}

// KeyVersionRow is one data-key version.
type KeyVersionRow struct {
	Version   int64
	Reason    string
	CreatedAt time.Time
	Current   bool
}

// RegisterForm is the guided "register a customer-managed key" page.
type RegisterForm struct {
	Connections      []Option
	ConnectionID     string
	Name             string
	KeyARN           string
	ExtraARNs        string
	EncryptedDataKey string
	KeyID            string // reserved id, named in the encryption context
	Errors           map[string]string
	Checks           []CheckRow // of a refused attempt
	PolicyStatement  string
	KeyPolicy        string
	CLI              string
	DataKeyCommand   string
	ReplicaRegions   []string
	DRRegions        int
	OneKeyPerTenant  bool
}

// ProviderForm is the operator's provider settings page.
type ProviderForm struct {
	AccountID       string
	PrincipalARN    string
	AllowedRegions  string
	ReplicaRegions  string
	DRRegions       string
	OneKeyPerTenant bool
	Errors          map[string]string
}
