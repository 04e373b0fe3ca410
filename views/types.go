// Package views holds keyport's templ pages, partials and email bodies. Views
// take their own small structs, never database models, so a template cannot
// reach a field it was not meant to show.
package views

import "time"

// Page is what the layout needs on every page.
type Page struct {
	Title     string
	Nav       string // which navigation entry is current
	User      *UserInfo
	Tenant    *TenantInfo
	Tenants   []TenantInfo // every tenant the user belongs to, for the switcher
	CSRFToken string
	Dev       bool
	Flash     string
	Operator  bool     // provider operator: the Provider page is in the navigation
	DemoAWS   *DemoAWS // development only: the kmslocal demo account
}

// UserInfo is the signed-in user as the layout shows them.
type UserInfo struct {
	Name  string
	Email string
}

// TenantInfo names a tenant and the viewer's role in it.
type TenantInfo struct {
	ID   string
	Name string
	Role string
}

// SignIn is the sign-in page.
type SignIn struct {
	ReturnTo string
	Dev      bool
}

// Problem is a page that explains why something was refused or failed,
// with only words that are safe to show.
type Problem struct {
	Status    int
	Heading   string
	Message   string
	RequestID string
	Action    *Link // the one next step, if there is one
}

// Link is a labelled href.
type Link struct {
	Label string
	Href  string
}

// Dashboard is the tenant's home page.
type Dashboard struct {
	TenantName  string
	Role        string
	MemberCount int
	Steps       []Step
	Activity    []ActivityRow
	KeyHealth   []HealthCount // keys by health, worst first; empty when there are no keys
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

// MailSummary is one caught message in the development mail list.
type MailSummary struct {
	ID         string
	ReceivedAt time.Time
	From       string
	To         string
	Subject    string
}

// Mail is one caught message in full.
type Mail struct {
	MailSummary
	Text string
	HTML string
}

// Members is the members page of a tenant.
type Members struct {
	CanManage   bool   // the viewer may invite, change roles and remove
	Notice      string // a warning to act on, e.g. an invitation whose email failed
	Members     []MemberRow
	Invitations []InvitationRow
	Invite      InviteForm
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

// InvitationLanding is the page an invitation link leads to.
type InvitationLanding struct {
	TenantName  string
	InviterName string
	Role        string
	ExpiresAt   time.Time
	SignedInAs  string // "" when nobody is signed in
}

// InviteEmail is the content of an invitation email.
type InviteEmail struct {
	TenantName   string
	InviterName  string
	InviterEmail string
	Role         string
	Link         string
	ExpiresAt    time.Time
}

// DemoAWS is the development stand-in AWS account (kmslocal) a new user can
// connect and register a key from. Its credentials are the stand-in's, not
// secrets.
type DemoAWS struct {
	AccountID       string
	Region          string
	AccessKeyID     string
	SecretAccessKey string
	RoleARN         string
	KeyARN          string
}

// HealthCount is how many keys have one health, with what it means.
type HealthCount struct {
	Health string
	Label  string
	Advice string
	Count  int
	OK     bool
}

// CheckRow is one connection-test or key-validation check.
type CheckRow struct {
	Name     string
	Detail   string
	OK       bool
	Required bool
	Skipped  bool
}

// Option is one choice of a select box.
type Option struct {
	Value string
	Label string
}

// Connections is the AWS connections page.
type Connections struct {
	CanManage bool
	Rows      []ConnectionRow
}

// ConnectionRow is one connection in the list.
type ConnectionRow struct {
	ID         string
	Name       string
	AccountID  string
	Region     string
	Credential string // "access key …ABCD" or the role ARN
	Tested     bool
	TestOK     bool
	TestAt     time.Time
	Summary    string
}

// ConnectionForm is the "add AWS connection" form with what was typed (never
// the secret) and what was wrong.
type ConnectionForm struct {
	Name          string
	AccountID     string
	DefaultRegion string
	Kind          string
	AccessKeyID   string
	RoleARN       string
	Regions       []string
	Errors        map[string]string
}

// ConnectionDetail is one connection's page.
type ConnectionDetail struct {
	ID          string
	Name        string
	AccountID   string
	Region      string
	Kind        string // "access_key" or "assume_role"
	AccessKey   string // "…ABCD"
	RoleARN     string
	ExternalID  string
	TrustPolicy string // for role connections
	CreatedAt   time.Time
	Tested      bool
	TestOK      bool
	TestAt      time.Time
	Summary     string
	Checks      []CheckRow // of the test just run, if any
	KeyCount    int
	CanManage   bool
}

// Keys is the keys page.
type Keys struct {
	CanManage      bool
	HasConnections bool
	Rows           []KeyRow
}

// KeyRow is one key in the list.
type KeyRow struct {
	ID          string
	Name        string
	State       string
	Health      string
	HealthLabel string
	HealthOK    bool
	Regions     string
	Version     int64
}

// KeyDetail is one key's page.
type KeyDetail struct {
	ID           string
	Name         string
	State        string
	Health       string
	HealthLabel  string
	HealthAdvice string
	HealthDetail string
	HealthOK     bool
	Connection   Link
	Regions      []KeyRegionRow
	Versions     []KeyVersionRow
	ValidatedAt  *time.Time
	Checks       []CheckRow
	Policy       string // the key policy statement keyport needs
	CanManage    bool
	CanPurge     bool
	Rotation     *RotationSchedule // nil when the schedule cannot be shown
	Usage        KeyUsageSummary
	Lifecycle    *KeyLifecycle // keys whose material keyport holds (issue 5); nil otherwise
}

// KeyUsageSummary counts a key's use through keyport. Cached decrypts never
// reach the tenant's CloudTrail, so these counts are their record.
type KeyUsageSummary struct {
	Encrypts, Decrypts, Datakeys, KMSCalls, CacheHits int64
}

// KeyRegionRow is one region's KMS key of a key.
type KeyRegionRow struct {
	Region  string
	ARN     string
	Primary bool
}

// KeyVersionRow is one data-key version.
type KeyVersionRow struct {
	Version   int64
	Reason    string
	CreatedAt time.Time
	Current   bool
}

// RegisterForm is the guided "register a customer-managed key" page.
type RegisterForm struct {
	Connections      []Option
	ConnectionID     string
	Name             string
	KeyARN           string
	ExtraARNs        string
	EncryptedDataKey string
	KeyID            string // reserved id, named in the encryption context
	Errors           map[string]string
	Checks           []CheckRow // of a refused attempt
	PolicyStatement  string
	KeyPolicy        string
	CLI              string
	DataKeyCommand   string
	ReplicaRegions   []string
	DRRegions        int
	OneKeyPerTenant  bool
}

// ProviderForm is the operator's provider settings page.
type ProviderForm struct {
	AccountID       string
	PrincipalARN    string
	AllowedRegions  string
	ReplicaRegions  string
	DRRegions       string
	OneKeyPerTenant bool
	ImportedKeyUse  string // "kms" or "provider"
	Errors          map[string]string
}

// TokensPage is the operator's service-token page.
type TokensPage struct {
	Form    TokenForm
	Created string // the new token, shown once
	Tenants []TenantInfo
	Tokens  []TokenRow
}

// TokenForm is the new-token form with its field errors.
type TokenForm struct {
	Name     string
	TenantID string
	Errors   map[string]string
}

// TokenRow is one service token in the list (never its secret).
type TokenRow struct {
	ID         string
	Name       string
	Scope      string
	CreatedAt  time.Time
	LastUsedAt *time.Time
	Revoked    bool
}

// AuditLog is the audit page of a tenant, or of every tenant for operators.
type AuditLog struct {
	Operator     bool   // the all-tenants view: tenant column, no links into tenants
	Base         string // the page's path, where the filter form goes
	Filter       AuditFilterForm
	Actors       []Option // filter choices ("" = anyone)
	Actions      []Option
	Keys         []Option
	Tenants      []Option // operator view only
	Rows         []AuditRow
	Newest       string             // href of the first page with the same filters
	Older        string             // href of the next older page, "" when none
	Newer        string             // href of the next newer page, "" when none
	Verification *ChainVerification // after "Verify chain"
	VerifyAction string             // where the verify button posts
}

// AuditFilterForm is the audit page's filter form as typed, with errors.
type AuditFilterForm struct {
	From     string // YYYY-MM-DD, UTC
	To       string // YYYY-MM-DD, inclusive
	Actor    string
	Action   string
	KeyID    string
	TenantID string // operator view only
	Errors   map[string]string
}

// AuditRow is one audit event on the audit page.
type AuditRow struct {
	Seq        int64
	At         time.Time
	TenantName string // operator view only
	Actor      string
	ActorHref  string // "" when the actor is not a member to link to
	Action     string
	Target     string
	TargetHref string
	Details    string
	RequestID  string
}

// ChainVerification is the outcome of verifying the whole audit chain.
type ChainVerification struct {
	OK             bool   `json:"ok"`
	Checked        int64  `json:"rows_checked"`
	FirstBrokenSeq int64  `json:"first_broken_seq,omitempty"`
	Reason         string `json:"reason,omitempty"`
	Head           string `json:"verified_head,omitempty"` // hex hash of the last row that verified
}

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
	Store              string             `json:"store"` // the AWS connection the key is used through
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

// Operator is the provider's overview of every tenant.
type Operator struct {
	Tenants   []OperatorTenant
	Attention []AttentionKey
}

// OperatorTenant is one tenant with its keys counted by health.
type OperatorTenant struct {
	ID       string
	Name     string
	Keys     int
	Healthy  int
	ByHealth []HealthCount // the unhealthy ones, worst first
}

// AttentionKey is a key that needs someone to act, with why.
type AttentionKey struct {
	TenantName string
	KeyID      string
	KeyName    string
	State      string
	Health     string
	Reasons    []string
}

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

// Key stores and the key lifecycle (issue 5): keyport-generated and
// tenant-imported keys, their versions, operations, drift, export,
// approvals and import requests.

// StoresPage lists the tenant's key stores with the form for a new one.
type StoresPage struct {
	Stores      []StoreRow
	Connections []Option
	Form        StoreForm
	CanManage   bool
}

// StoreForm is the new-store form as typed.
type StoreForm struct {
	Name, ConnectionID, Region string
	Errors                     map[string]string
}

// StoreRow is one key store with its keys counted by state.
type StoreRow struct {
	ID, Name, Connection, Region, Counts string
}

// StoreDetail is one store: its keys, the create-key form, rename and
// delete (with the keys that block it).
type StoreDetail struct {
	ID, Name, Connection, Region string
	Keys                         []StoreKeyRow
	Blocking                     []StoreKeyRow
	CanManage                    bool
	Create                       CreateKeyForm
	RenameErrors                 map[string]string
}

// StoreKeyRow is a key of a store.
type StoreKeyRow struct {
	ID, Name, State string
}

// CreateKeyForm is the "create a key with keyport-generated material" form.
type CreateKeyForm struct {
	Name, Alias, ValidDays string
	AutoReupload           bool
	Errors                 map[string]string
	Failed                 string // why the last attempt's operation failed
}

// KeyLifecycle is the key page's section for keys whose material keyport
// holds; nil for customer-managed keys.
type KeyLifecycle struct {
	Mode, State, StoreID, StoreName, Alias string
	ValidDays                              int
	AutoReupload                           bool
	Held                                   bool // keyport keeps the material; there is no KMS key
	DeletionAt                             *time.Time
	Materials                              []MaterialRow
	Operations                             []OperationRow
	Drift                                  []DriftRow
	Approvals                              []ApprovalRow
	CanManage, CanExport, CanUndo          bool
}

// MaterialRow is one version of a key's material: never the material,
// only its fingerprint and where it lives.
type MaterialRow struct {
	ID, Source, Fingerprint, KMSKeyARN, State string
	Seq                                       int
	ValidTo                                   *time.Time
}

// OperationRow is a recorded lifecycle operation.
type OperationRow struct {
	ID, Kind, Step, State, Detail string
	At                            time.Time
}

// DriftRow is one difference between keyport's record and KMS, with the
// reconciliations it offers ("" = not offered).
type DriftRow struct {
	Field, Recorded, Actual, Adopt, Restore string
}

// ApprovalRow is a second-admin approval request.
type ApprovalRow struct {
	ID, Action, State, RequestedBy string
	Mine                           bool
	ExpiresAt                      time.Time
}

// DeleteKeyConfirm is the confirmation before a key's deletion.
type DeleteKeyConfirm struct {
	KeyID, KeyName, Alias string
	Versions              int64
	KMSKeys               []string
	WindowDays            string
	Errors                map[string]string
	NeedApproval          bool
	Approvals             []ApprovalRow
}

// ExportPage is the export form of a key.
type ExportPage struct {
	KeyID, KeyName, Fingerprint string
	Version                     int
	Materials                   []MaterialRow
	PublicKeyPEM, Algorithm     string
	Errors                      map[string]string
	NeedApproval                bool
	Approvals                   []ApprovalRow
	RSAOpen, JWEOpen, FPCommand string
}

// ImportRequestsPage lists import requests (mode 3), with the form for a
// new one and, once, the new one's token.
type ImportRequestsPage struct {
	Requests  []ImportRequestRow
	Stores    []Option
	StoreID   string
	KeyName   string
	Errors    map[string]string
	CanManage bool
	New       *NewImportShown
	Held      bool // the provider keeps imported keys with keyport instead of importing them into KMS
}

// ImportRequestRow is one import request.
type ImportRequestRow struct {
	ID, KeyName, State, KeyID string
	ExpiresAt                 time.Time
}

// NewImportShown is a new import request shown once: the token is never
// shown again.
type NewImportShown struct {
	ID, PublicKeyPEM, Token, Commands string
	ExpiresAt                         time.Time
}

// ImportUploadPage is the upload form of an import request.
type ImportUploadPage struct {
	ID, KeyName, State, PublicKeyPEM, Commands string
	ExpiresAt                                  time.Time
	Alias, ValidDays                           string
	Errors                                     map[string]string
	Held                                       bool // as on ImportRequestsPage
}

// OperatorLifecycle is the operator's list of drifted keys across
// tenants (ids only, never secrets) and the approval settings.
type OperatorLifecycle struct {
	Drift                        []OperatorDriftRow
	ApproveExport, ApproveDelete bool
}

// OperatorDriftRow is one difference of one tenant's key.
type OperatorDriftRow struct {
	TenantID, KeyID, Field, Recorded, Actual string
	DetectedAt                               time.Time
}
