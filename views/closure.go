package views

import "time"

// TenantClosurePage is the owner's page for closing the tenant: what
// closing does, the downloads to take first, and either the confirmation
// form or the pending closure with its cancel button.
type TenantClosurePage struct {
	TenantName string
	// Pending is the closure waiting for its window to end; nil when none
	// is asked.
	Pending *ClosureInfo
	// Downloads are the audit log and reports to keep, as links to their
	// existing CSV and JSON exports.
	Downloads   []Link
	WindowDays  string
	ConfirmName string
	Errors      map[string]string
}

// ClosureInfo is a tenant's pending closure, for its page and the banner
// every member sees.
type ClosureInfo struct {
	CloseAt     time.Time
	WindowDays  int
	RequestedBy string // the owner's email or name
	Closing     bool   // the window has ended and the tenant is being closed
}
