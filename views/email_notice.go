package views

import "time"

// NoticeEmail is the content of an email about a key: a rotation coming
// up, one that needs confirming, one that happened, or bad health.
type NoticeEmail struct {
	Kind         string // before_rotation, confirm_rotation, rotated, health, material_expiring
	TenantName   string
	KeyName      string
	ScheduleURL  string
	RotationAt   time.Time
	LeadDays     int
	Automatic    bool
	PeriodDays   int
	FromVersion  int64
	NewVersion   int64
	Manual       bool // the rotation was asked for, not scheduled
	RotatedAt    time.Time
	KMSDetail    string
	Health       string
	HealthDetail string
	// Material expiry: the reminders (material_expiring) and the expired
	// health notice, which has ValidTo set.
	ValidTo         time.Time
	MaterialVersion int
	Fingerprint     string
	MaterialActive  bool
	AutoReupload    bool
	KeyURL          string
}
