package managed

import (
	"context"
	"crypto/rand"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"keyport/keysvc"
	"keyport/keysvc/awskms"
	"keyport/keysvc/kmslocal"
	"keyport/keysvc/seal"
	"keyport/models"
	"keyport/models/modelstest"
)

// The test world of the managed-key tests: the root key service's
// control-plane world (connections_test.go and service_test.go there),
// with the managed service beside the key service.

// The control-plane tests' AWS world in kmslocal: a tenant account with an
// admin and an IAM user for keyport, a role keyport may assume, a role that
// does not trust keyport, and the provider's own principal in another
// account.
const (
	cpTenantAcct   = "111122223333"
	cpOtherAcct    = "444455556666"
	cpProviderAcct = "999988887777"
	cpRegion       = "us-east-1"
	cpAdminAKID    = "AKIACPADMIN000000001"
	cpAdminSecret  = "cp-admin-secret"
	cpUserAKID     = "AKIACPUSER0000000001"
	cpUserSecret   = "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY01" // 40 characters, like AWS's
	cpProvAKID     = "AKIACPPROVIDER000001"
	cpProvSecret   = "cp-provider-secret"
	cpRoleARN      = "arn:aws:iam::" + cpTenantAcct + ":role/keyport-access"
	cpColdRoleARN  = "arn:aws:iam::" + cpTenantAcct + ":role/not-for-keyport"
	cpExternalID   = "keyport-0123456789abcdef0123456789abcdef"
)

// cpEnv is the key services over a real store, talking to kmslocal over HTTP.
type cpEnv struct {
	db     *models.DB
	tenant *models.Tenant
	owner  *models.User
	srv    *kmslocal.Server
	admin  map[string]*kms.Client // the tenant's own admin, per region
	keys   *keysvc.Service        // the data path and connections
	svc    *Service               // the managed keys
	by     keysvc.RequestBy
	extID  string // what NewExternalID hands out
}

func newCPEnv(tb testing.TB) *cpEnv {
	tb.Helper()
	db, tenant, u := testStore(tb)
	srv, err := kmslocal.New(kmslocal.Config{
		Principals: []kmslocal.Principal{
			{AccessKeyID: cpAdminAKID, SecretAccessKey: cpAdminSecret, ARN: "arn:aws:iam::" + cpTenantAcct + ":user/admin"},
			{AccessKeyID: cpUserAKID, SecretAccessKey: cpUserSecret, ARN: "arn:aws:iam::" + cpTenantAcct + ":user/keyport"},
			{AccessKeyID: cpProvAKID, SecretAccessKey: cpProvSecret, ARN: "arn:aws:iam::" + cpProviderAcct + ":user/keyport"},
		},
		Roles: []kmslocal.Role{
			{ARN: cpRoleARN, TrustedPrincipals: []string{"arn:aws:iam::" + cpProviderAcct + ":root"}, ExternalID: cpExternalID},
			{ARN: cpColdRoleARN, TrustedPrincipals: []string{"arn:aws:iam::" + cpOtherAcct + ":root"}, ExternalID: cpExternalID},
		},
	})
	if err != nil {
		tb.Fatal(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { srv.Close() })
	kek := make([]byte, 32)
	rand.Read(kek)
	sealer, err := seal.NewSealer(kek)
	if err != nil {
		tb.Fatal(err)
	}
	e := &cpEnv{db: db, tenant: tenant, owner: u, srv: srv, admin: map[string]*kms.Client{}, extID: cpExternalID,
		by: keysvc.RequestBy{UserID: u.ID, RequestID: "req-test"}}
	base := srv.AWSConfig(cpRegion, cpProvAKID, cpProvSecret)
	clients := awskms.NewClients(awskms.ClientOptions{Base: &base, Sealer: sealer, MaxAttempts: 1, NewExternalID: func() string { return e.extID }})
	e.keys = keysvc.NewService(keysvc.Deps{DB: db, Sealer: sealer, Clients: clients})
	e.svc = New(Deps{DB: db, Sealer: sealer, Keys: e.keys, Clients: clients})
	return e
}

// adminIn is the tenant admin's KMS client in region.
func (e *cpEnv) adminIn(region string) *kms.Client {
	if c, ok := e.admin[region]; ok {
		return c
	}
	cfg := e.srv.AWSConfig(region, cpAdminAKID, cpAdminSecret)
	cfg.RetryMaxAttempts = 1
	e.admin[region] = kms.NewFromConfig(cfg)
	return e.admin[region]
}

// inspectorIn is the tenant admin's KMS client for the tests' read-only
// looks at the KMS world (which keys exist, where an alias points). Unlike
// adminIn it keeps the SDK's standard retries: a connection that net/http
// closes under a response (aws-sdk-go-v2#2737, retried by the SDK) must not
// read as a missing key.
func (e *cpEnv) inspectorIn(region string) *kms.Client {
	return kms.NewFromConfig(e.srv.AWSConfig(region, cpAdminAKID, cpAdminSecret))
}

// createKMSKey makes a key in the tenant account with the given input.
func (e *cpEnv) createKMSKey(tb testing.TB, region string, in *kms.CreateKeyInput) string {
	tb.Helper()
	if in == nil {
		in = &kms.CreateKeyInput{}
	}
	out, err := e.adminIn(region).CreateKey(context.Background(), in)
	if err != nil {
		tb.Fatal(err)
	}
	return aws.ToString(out.KeyMetadata.Arn)
}

func (e *cpEnv) roleConn(tb testing.TB, name, roleARN string) *models.Connection {
	tb.Helper()
	c, err := e.keys.CreateConnection(context.Background(), e.tenant.ID, e.by, keysvc.ConnectionInput{
		Name: name, AccountID: cpTenantAcct, DefaultRegion: cpRegion, Kind: awskms.KindAssumeRole, RoleARN: roleARN})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// actions lists the tenant's audit actions, oldest first.
func (e *cpEnv) actions(tb testing.TB) []string {
	tb.Helper()
	evs, err := e.db.ListAudit(context.Background(), e.tenant.ID, 1000)
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for i := len(evs) - 1; i >= 0; i-- {
		out = append(out, evs[i].Action)
	}
	return out
}

// testStore opens a migrated SQLite store with an audit key, and a tenant
// with an owner.
func testStore(tb testing.TB) (*models.DB, *models.Tenant, *models.User) {
	tb.Helper()
	ctx := context.Background()
	db, err := models.Open(ctx, modelstest.DSN(tb), nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	key := make([]byte, 32)
	rand.Read(key)
	db.SetAuditKey(key)
	u, _, err := db.UpsertOIDCUser(ctx, "https://idp.test", "sub-1", "owner@tenant.test", "Owner")
	if err != nil {
		tb.Fatal(err)
	}
	t, err := db.CreateTenantWithOwner(ctx, "tenant.test", u.ID, models.AuditInput{Actor: u.ID, Action: "tenant.created"})
	if err != nil {
		tb.Fatal(err)
	}
	return db, t, u
}
