package views

import "time"

// Keys is the keys page.
type Keys struct {
	CanManage      bool
	HasConnections bool
	HasStores      bool // a key store exists to import a key into
	Rows           []KeyRow
	Nav            KeyListNav // search, sort and paging
}

// KeyRow is one key in the list.
type KeyRow struct {
	ID      string
	Name    string
	State   string
	Health  string
	Status  KeyStatus
	Regions string
	Version int64
	Kind    string // KindLabel
	// Store and StoreHref name the key store of a key whose material
	// keyport holds ("" for registered keys); Alias is its KMS alias.
	Store        string
	StoreHref    string
	Alias        string
	NextRotation *time.Time
	LastUsed     *time.Time
}

// KeyDetail is one key's page.
type KeyDetail struct {
	// CanDeregister offers deregistration (a registered customer-managed
	// key); Deregistered: the key was deregistered (issue 14 item 5).
	CanDeregister, Deregistered bool

	ID           string
	Name         string
	State        string
	Health       string
	Status       KeyStatus // from StatusOf: the one status of the key
	HealthDetail string
	Connection   Link
	Regions      []KeyRegionRow
	Versions     []KeyVersionRow
	Timeline     []TimelineRow // the versions timeline, oldest first
	ValidatedAt  *time.Time
	Checks       []CheckRow
	ChecksAt     *time.Time // when the recorded Checks ran
	Policy       string     // the key policy statement keyport needs
	CanManage    bool
	CanPurge     bool
	Rotation     *RotationSchedule // nil when the schedule cannot be shown
	Usage        KeyUsageSummary
	Charts       *UsageCharts  // use over time; nil hides the section
	Lifecycle    *KeyLifecycle // keys whose material keyport holds (issue 5); nil otherwise
	// CurrentVersion and MinDecryptionVersion bound the retirement form;
	// IdleDays is the "safe to retire" period the viewer chose.
	CurrentVersion       int64
	MinDecryptionVersion int64
	IdleDays             int
	// BYOK is the customer-managed key's KMS side; nil for other keys.
	BYOK *KeyBYOK
	// CacheTTL is the provider's data-key cache lifetime: how long keyport
	// may keep decrypting after the tenant revokes it. ReplicaFailover is
	// the provider's rule for replica regions ("never", "unavailable",
	// "revoked"). Both are shown for keys in KMS.
	CacheTTL        time.Duration
	ReplicaFailover string
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
	Version      int64
	Reason       string
	CreatedAt    time.Time
	Current      bool
	Encrypts     int64
	Decrypts     int64
	LastUsedAt   *time.Time
	Retired      bool // below the minimum decryption version
	SafeToRetire bool // old, and no decrypt for IdleDays
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

// DeregisterConfirm is the page that asks before a customer-managed key is
// deregistered: its KMS keys and the data-key versions that depend on it.
type DeregisterConfirm struct {
	KeyID, KeyName string
	KMSKeys        []string
	Versions       []DeregisterVersion
	Errors         map[string]string
}

// DeregisterVersion is one data-key version that stops working.
type DeregisterVersion struct {
	Version    int64
	CreatedAt  time.Time
	Encrypts   int64
	LastUsedAt *time.Time
}
