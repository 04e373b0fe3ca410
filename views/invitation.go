package views

import "time"

// InvitationLanding is the page an invitation link leads to.
type InvitationLanding struct {
	TenantName  string
	InviterName string
	Role        string
	ExpiresAt   time.Time
	SignedInAs  string // "" when nobody is signed in
}
