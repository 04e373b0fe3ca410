package views

import "time"

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
	Keys       ConnectionKeys // the keys that use the connection
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

// ConnectionEdit is the edit-connection form: what was typed (never the
// secret), the errors by field ("form" for the whole form) and the checks
// of a failed test of new credentials.
type ConnectionEdit struct {
	Detail      ConnectionDetail
	Name        string
	AccessKeyID string
	RoleARN     string
	Errors      map[string]string
	Checks      []CheckRow
}
