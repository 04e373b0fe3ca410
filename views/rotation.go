package views

import "time"

// RotationSchedule is a key's rotation schedule: what the RotationPanel
// partial (included by the key page) and the rotation page show.
type RotationSchedule struct {
	KeyID           string
	KeyName         string
	CanManage       bool // owners and admins: change the policy, rotate, postpone, acknowledge
	CanRotate       bool // the key's mode can be rotated from keyport
	CanRotateKMS    bool // a customer-managed key on its rotation page: "Rotate KMS key material now"
	CurrentVersion  int64
	NextRotationAt  time.Time
	Overdue         bool // the date passed and the rotation waits (for confirmation, or a retry)
	Automatic       bool
	PeriodDays      int
	NoticeDays      []int
	WindowStartHour int
	WindowHours     int
	OnDemand        bool // KMS RotateKeyOnDemand too
	PostponedDays   int
	MaxPostpone     int // days still allowed for this rotation
	Planned         []NoticeRow
	Sent            []NoticeRow
}

// NoticeRow is one notice on the schedule.
type NoticeRow struct {
	ID             string
	Label          string
	DueAt          time.Time
	SentAt         *time.Time
	AcknowledgedBy string
	Acknowledged   bool
}

// PolicyForm is the rotation policy form with what was typed.
type PolicyForm struct {
	PeriodDays      string
	NoticeDays      string
	WindowStartHour string
	WindowHours     string
	Automatic       bool
	OnDemand        bool
	Errors          map[string]string
}

// RotationPage is a key's rotation page.
type RotationPage struct {
	Panel RotationSchedule
	Form  PolicyForm
	// KMSOnDemand: the key is a customer-managed KMS key, whose policy may
	// also rotate the KMS material (keys in a key store rotate theirs from
	// the key page).
	KMSOnDemand bool
	Versions    []KeyVersionRow
	Flash       string
	Error       string
}
