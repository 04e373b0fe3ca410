package views

import "time"

// Dashboard is the tenant's home page.
type Dashboard struct {
	TenantName  string
	Role        string
	MemberCount int
	Steps       []Step // getting started, for those who set the tenant up
	ShowSteps   bool   // false for auditors and once dismissed
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

// StepsDone reports whether every getting-started step is done.
func (d Dashboard) StepsDone() bool {
	for _, s := range d.Steps {
		if !s.Done {
			return false
		}
	}
	return true
}

func boolText(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
