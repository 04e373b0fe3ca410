package views

import "time"

// UpcomingRow is one key on the upcoming-rotations page.
type UpcomingRow struct {
	TenantName     string
	KeyID          string
	KeyName        string
	NextRotationAt time.Time
	Automatic      bool
	Overdue        bool
	Health         string
	PeriodDays     int
}

// Upcoming is the upcoming-rotations page.
type Upcoming struct {
	AllTenants bool // the operator's view across tenants
	CanManage  bool
	Rows       []UpcomingRow
	Defaults   PolicyForm
	Feed       CalendarFeedInfo
	Flash      string
	// MaxPostpone is the provider's bound on postponing one rotation, in
	// days (operator's view); MaxPostponeError says why a new value was refused.
	MaxPostpone      int
	MaxPostponeError string
}

// CalendarFeedInfo is the state of a tenant's calendar feed. URL is set
// only right after the feed was made: it is a capability, shown once.
type CalendarFeedInfo struct {
	Exists    bool
	CreatedAt time.Time
	URL       string
}

// OutboxPage is the operator's page of email that is stuck or failed.
type OutboxPage struct {
	Counts []Option // state -> count, as label/value
	Rows   []OutboxRow
}

// OutboxRow is one message on the outbox page; never its body.
type OutboxRow struct {
	ID        string
	TenantID  string
	Kind      string
	Recipient string
	Subject   string
	State     string
	Attempts  int
	LastError string
	CreatedAt time.Time
}

// NotificationPrefs is a member's email preferences in one tenant.
type NotificationPrefs struct {
	Kinds []PrefRow
	Saved bool
}

// PrefRow is one kind of optional email.
type PrefRow struct {
	Kind     string
	Label    string
	Detail   string
	Receives bool
}
