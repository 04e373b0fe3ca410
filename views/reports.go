package views

import "time"

// ChainHead anchors a report to the audit chain: the newest row's seq and
// hash when the report was made.
type ChainHead struct {
	Seq  int64     `json:"seq"`
	Hash string    `json:"hash"`
	At   time.Time `json:"at"`
}

// ReportMeta heads every report.
type ReportMeta struct {
	Report      string    `json:"report"` // key_inventory, activity, configuration_validation
	Title       string    `json:"title"`
	Scope       string    `json:"scope"` // the tenant's name, or "all tenants"
	TenantID    string    `json:"tenant_id,omitempty"`
	GeneratedAt time.Time `json:"generated_at"`
	GeneratedBy string    `json:"generated_by"`
	ChainHead   ChainHead `json:"audit_chain_head"`
}

// Reports is the page that lists the downloadable reports.
type Reports struct {
	Base    string // "/reports" or "/operator/reports"
	Scope   string
	From    string // default activity period, YYYY-MM-DD
	To      string
	Reports []ReportLink
	// Schedule is the tenant's scheduled validation report (nil on the
	// operator's page).
	Schedule *ReportScheduleForm
}

// ReportScheduleForm is the tenant's choice of a scheduled report.
type ReportScheduleForm struct {
	Period    string // "", "weekly" or "monthly"
	CanManage bool
	Errors    map[string]string
}

func scheduleLabel(period string) string {
	switch period {
	case "weekly":
		return "sent weekly"
	case "monthly":
		return "sent monthly"
	}
	return "not sent"
}

// ReportLink is one report with what it holds.
type ReportLink struct {
	Name        string // URL segment: inventory, activity, validation
	Title       string
	Description string
	Period      bool // takes from/to
}

// InventoryReport is the key inventory: every key as keyport knows it.
type InventoryReport struct {
	Meta ReportMeta     `json:"meta"`
	Keys []InventoryKey `json:"keys"`
}

// InventoryKey is one key of the inventory. It never holds key material.
type InventoryKey struct {
	TenantID           string             `json:"tenant_id"`
	TenantName         string             `json:"tenant_name"`
	ID                 string             `json:"id"`
	Name               string             `json:"name"`
	Store              string             `json:"store"`      // the key store of a keyport-held key; "" for a customer-managed key
	Connection         string             `json:"connection"` // the AWS connection the key is used through
	AccountID          string             `json:"aws_account_id"`
	Mode               string             `json:"mode"`
	Origin             string             `json:"origin"`
	State              string             `json:"state"`
	Health             string             `json:"health"`
	HealthDetail       string             `json:"health_detail,omitempty"`
	Aliases            []string           `json:"aliases"`
	Regions            []InventoryRegion  `json:"regions"`
	MaterialExpiresAt  *time.Time         `json:"material_expires_at"`
	RotationPeriodDays int                `json:"rotation_period_days"`
	LastRotation       *time.Time         `json:"last_rotation"`
	NextRotation       *time.Time         `json:"next_rotation"`
	Versions           []InventoryVersion `json:"versions"`
	LastValidation     *time.Time         `json:"last_validation"`
	ValidationOK       *bool              `json:"last_validation_ok"`
	Checks             []ReportCheck      `json:"last_validation_checks"`
}

// InventoryRegion is a key's KMS key in one region.
type InventoryRegion struct {
	Region  string `json:"region"`
	ARN     string `json:"kms_key_arn"`
	Primary bool   `json:"primary"`
}

// InventoryVersion is one data-key version: dates and fingerprint only.
type InventoryVersion struct {
	Version     int64     `json:"version"`
	Reason      string    `json:"reason"`
	CreatedAt   time.Time `json:"created_at"`
	CreatedBy   string    `json:"created_by"`
	Fingerprint string    `json:"fingerprint_sha256"`
	Current     bool      `json:"current"`
}

// ReportCheck is one check of a key's last validation.
type ReportCheck struct {
	Name     string `json:"name"`
	Result   string `json:"result"` // pass, fail, skipped
	Required bool   `json:"required"`
	Detail   string `json:"detail"`
}

// ActivityReport is the audit events of a period, verified.
type ActivityReport struct {
	Meta         ReportMeta        `json:"meta"`
	From         time.Time         `json:"from"`
	To           time.Time         `json:"to"`
	Verification ChainVerification `json:"chain_verification"`
	Events       []ActivityEvent   `json:"events"`
	Usage        []UsageRow        `json:"key_usage"`
}

// ActivityEvent is one audit event in the activity report.
type ActivityEvent struct {
	Seq        int64             `json:"seq"`
	At         time.Time         `json:"at"`
	TenantID   string            `json:"tenant_id"`
	ActorKind  string            `json:"actor_kind"`
	Actor      string            `json:"actor"`
	Action     string            `json:"action"`
	TargetType string            `json:"target_type"`
	TargetID   string            `json:"target_id"`
	Details    map[string]string `json:"details"`
	RequestID  string            `json:"request_id"`
	Hash       string            `json:"hash"`
}

// UsageRow is one key's use in one hour. Cached decrypts never reach AWS
// CloudTrail, so these counts are their record.
type UsageRow struct {
	Period    string `json:"hour"` // 2006-01-02T15, UTC
	TenantID  string `json:"tenant_id"`
	KeyID     string `json:"key_id"`
	KeyName   string `json:"key_name"`
	Encrypts  int64  `json:"encrypts"`
	Decrypts  int64  `json:"decrypts"`
	DataKeys  int64  `json:"data_keys"`
	KMSCalls  int64  `json:"kms_calls"`
	CacheHits int64  `json:"cache_hits"`
}

// ValidationReport is the configuration validation: each key's expected
// properties with pass, fail or not verified, and a verdict.
type ValidationReport struct {
	Meta    ReportMeta     `json:"meta"`
	Verdict string         `json:"verdict"` // PASS, FAIL, INCOMPLETE, NO_KEYS
	Keys    []ValidatedKey `json:"keys"`
}

// ValidatedKey is one key's properties and verdict.
type ValidatedKey struct {
	TenantID    string           `json:"tenant_id"`
	TenantName  string           `json:"tenant_name"`
	KeyID       string           `json:"key_id"`
	KeyName     string           `json:"key_name"`
	ValidatedAt *time.Time       `json:"validated_at"`
	Verdict     string           `json:"verdict"`
	Properties  []PropertyResult `json:"properties"`
}

// PropertyResult is one expected property of a key.
type PropertyResult struct {
	Property  string `json:"property"`
	Expected  string `json:"expected"`
	Result    string `json:"result"` // pass, fail, not_verified
	Deviation string `json:"deviation,omitempty"`
	Detail    string `json:"detail,omitempty"`
}
