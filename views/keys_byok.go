package views

import "time"

// KeyBYOK is what the key page shows of a customer-managed key's own KMS
// side (issue 16): the next data key when the tenant supplies them
// (InCountry), and KMS automatic rotation of the KMS keys (CleverTap).
type KeyBYOK struct {
	CanManage bool
	// TenantDataKeys: the tenant supplies the data keys; DataKeyDue says
	// the rotation was due at DueAt and keyport asked for the next one.
	TenantDataKeys bool
	DataKeyDue     bool
	DueAt          time.Time
	CurrentVersion int64
	DataKeyCommand string // how to make the next data key
	KMSRotation    []KMSRotationRow
}

// KMSRotationRow is the KMS automatic rotation of one region's KMS key.
type KMSRotationRow struct {
	Region       string
	ARN          string
	Verifiable   bool
	Enabled      bool
	PeriodDays   int
	NextRotation *time.Time
	Detail       string
	// CheckedAt is when validation read it from KMS; nil: not yet.
	CheckedAt *time.Time
}
