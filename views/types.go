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
