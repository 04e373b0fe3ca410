package views

import "time"

// InviteEmail is the content of an invitation email.
type InviteEmail struct {
	TenantName   string
	InviterName  string
	InviterEmail string
	Role         string
	Link         string
	ExpiresAt    time.Time
}
