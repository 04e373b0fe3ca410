package views

import (
	"strconv"
	"time"
)

// Members is the members page of a tenant.
type Members struct {
	CanManage   bool        // the viewer may invite, change roles and remove
	Notice      string      // a warning to act on, e.g. an invitation whose email failed
	Members     []MemberRow // one page of them
	Invitations []InvitationRow
	// Page of Pages (1-based) of the Total members.
	Page, Pages, Total int
	Invite             InviteForm
}

// MemberRow is one member in the members table.
type MemberRow struct {
	UserID     string
	Name       string
	Email      string
	Role       string
	InvitedBy  string // who invited them, "" for the tenant's creator
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

// memberWho names a member for a confirmation: "Name (email)", or the email.
func memberWho(r MemberRow) string {
	if r.Name != "" && r.Name != r.Email {
		return r.Name + " (" + r.Email + ")"
	}
	return r.Email
}

// MembersPageHref links page n of the members.
func MembersPageHref(n int) string {
	if n <= 1 {
		return "/members"
	}
	return "/members?page=" + strconv.Itoa(n)
}
