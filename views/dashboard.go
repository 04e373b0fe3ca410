package views

import "time"

// Dashboard is the tenant's home page.
type Dashboard struct {
	TenantName  string
	Role        string
	MemberCount int
	Steps       []Step
	Activity    []ActivityRow
	KeyHealth   []HealthCount // keys by health, worst first; empty when there are no keys
	Charts      *UsageCharts  // use of all keys over time; nil hides the section
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
