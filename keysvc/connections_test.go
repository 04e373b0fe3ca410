package keysvc

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"keyport/keysvc/awskms"
	"keyport/keysvc/kmslocal"
	"keyport/keysvc/seal"
	"keyport/models"
)

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

// cpEnv is a key service over a real store, talking to kmslocal over HTTP.
type cpEnv struct {
	db     *models.DB
	tenant *models.Tenant
	owner  *models.User
	srv    *kmslocal.Server
	admin  map[string]*kms.Client // the tenant's own admin, per region
	svc    *Service
	by     RequestBy
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
		by: RequestBy{UserID: u.ID, RequestID: "req-test"}}
	base := srv.AWSConfig(cpRegion, cpProvAKID, cpProvSecret)
	clients := awskms.NewClients(awskms.ClientOptions{Base: &base, Sealer: sealer, MaxAttempts: 1, NewExternalID: func() string { return e.extID }})
	e.svc = NewService(Deps{DB: db, Sealer: sealer, Clients: clients})
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

func (e *cpEnv) accessKeyConn(tb testing.TB, name, akid, secret string) *models.Connection {
	tb.Helper()
	c, err := e.svc.CreateConnection(context.Background(), e.tenant.ID, e.by, ConnectionInput{
		Name: name, AccountID: cpTenantAcct, DefaultRegion: cpRegion, Kind: awskms.KindAccessKey, AccessKeyID: akid, Secret: secret})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func (e *cpEnv) roleConn(tb testing.TB, name, roleARN string) *models.Connection {
	tb.Helper()
	c, err := e.svc.CreateConnection(context.Background(), e.tenant.ID, e.by, ConnectionInput{
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

func TestCreateConnectionSealsSecretAndAudits(t *testing.T) {
	e := newCPEnv(t)
	c := e.accessKeyConn(t, "prod", cpUserAKID, cpUserSecret)
	got, err := e.db.GetConnection(context.Background(), e.tenant.ID, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(got.SecretSealed), cpUserSecret) || len(got.SecretSealed) == 0 {
		t.Fatal("secret is not sealed at rest")
	}
	plain, err := e.svc.sealer.Open(seal.SecretPurpose(c.ID), got.SecretSealed)
	if err != nil || string(plain) != cpUserSecret {
		t.Fatalf("sealed secret does not open for its connection: %v", err)
	}
	if _, err := e.svc.sealer.Open(seal.SecretPurpose("con_other"), got.SecretSealed); err == nil {
		t.Error("sealed secret opens for another connection")
	}
	evs, _ := e.db.ListAudit(context.Background(), e.tenant.ID, 10)
	if evs[0].Action != "connection.created" || strings.Contains(evs[0].Details, cpUserSecret) || !strings.Contains(evs[0].Details, `"access_key_last4":"0001"`) {
		t.Errorf("audit event = %s %s", evs[0].Action, evs[0].Details)
	}
	r := e.roleConn(t, "role", cpRoleARN)
	if r.ExternalID != e.extID || r.SecretSealed != nil {
		t.Errorf("role connection: external id %q", r.ExternalID)
	}
}

func TestCreateConnectionRefusesBadInput(t *testing.T) {
	e := newCPEnv(t)
	ok := ConnectionInput{Name: "n", AccountID: cpTenantAcct, DefaultRegion: cpRegion, Kind: awskms.KindAccessKey, AccessKeyID: cpUserAKID, Secret: cpUserSecret}
	tests := []struct {
		name  string
		edit  func(*ConnectionInput)
		field string
		msg   string
	}{
		{"short account", func(in *ConnectionInput) { in.AccountID = "1234" }, "account_id", "12-digit"},
		{"unknown region", func(in *ConnectionInput) { in.DefaultRegion = "mars-north-1" }, "default_region", "standard partition"},
		{"govcloud region", func(in *ConnectionInput) { in.DefaultRegion = "us-gov-west-1" }, "default_region", "standard partition"},
		{"temporary key id", func(in *ConnectionInput) { in.AccessKeyID = "ASIACPUSER0000000001" }, "access_key_id", "AKIA"},
		{"short secret", func(in *ConnectionInput) { in.Secret = "short" }, "secret_access_key", "40-character"},
		{"no kind", func(in *ConnectionInput) { in.Kind = "" }, "kind", "choose"},
		{"govcloud role", func(in *ConnectionInput) {
			in.Kind, in.RoleARN = awskms.KindAssumeRole, "arn:aws-us-gov:iam::"+cpTenantAcct+":role/x"
		}, "role_arn", "GovCloud"},
		{"china role", func(in *ConnectionInput) {
			in.Kind, in.RoleARN = awskms.KindAssumeRole, "arn:aws-cn:iam::"+cpTenantAcct+":role/x"
		}, "role_arn", "China"},
		{"role in other account", func(in *ConnectionInput) {
			in.Kind, in.RoleARN = awskms.KindAssumeRole, "arn:aws:iam::"+cpOtherAcct+":role/x"
		}, "role_arn", "not in this connection's account"},
		{"user not role", func(in *ConnectionInput) {
			in.Kind, in.RoleARN = awskms.KindAssumeRole, "arn:aws:iam::"+cpTenantAcct+":user/x"
		}, "role_arn", "must name a role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := ok
			tt.edit(&in)
			_, err := e.svc.CreateConnection(context.Background(), e.tenant.ID, e.by, in)
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != tt.field || !strings.Contains(ve.Message, tt.msg) {
				t.Fatalf("err = %v, want %s containing %q", err, tt.field, tt.msg)
			}
			if strings.Contains(err.Error(), cpUserSecret) {
				t.Error("error text contains the secret")
			}
		})
	}
	if cs, _ := e.db.ListConnections(context.Background(), e.tenant.ID); len(cs) != 0 {
		t.Errorf("refused input stored %d connections", len(cs))
	}
	if acts := e.actions(t); len(acts) != 1 {
		t.Errorf("audit = %v, want only tenant.created", acts)
	}
	e.accessKeyConn(t, "dup", cpUserAKID, cpUserSecret)
	in := ok
	in.Name = "DUP"
	var ve *models.ValidationError
	if _, err := e.svc.CreateConnection(context.Background(), e.tenant.ID, e.by, in); !errors.As(err, &ve) || ve.Field != "name" {
		t.Errorf("duplicate name: %v", err)
	}
}

func TestConnectionTestOutcomes(t *testing.T) {
	e := newCPEnv(t)
	ctx := context.Background()
	tests := []struct {
		name     string
		conn     func() *models.Connection
		ok       bool
		failName string
		words    []string
	}{
		{"access key works", func() *models.Connection { return e.accessKeyConn(t, "good", cpUserAKID, cpUserSecret) }, true, "", nil},
		{"wrong secret", func() *models.Connection {
			return e.accessKeyConn(t, "wrong secret", cpUserAKID, strings.Repeat("x", 40))
		}, false, "Sign in to AWS", []string{"secret access key does not match", "disabled or wrong"}},
		{"disabled or unknown access key", func() *models.Connection {
			return e.accessKeyConn(t, "disabled", "AKIADISABLED00000001", cpUserSecret)
		}, false, "Sign in to AWS", []string{"the access key is disabled or wrong"}},
		{"role works", func() *models.Connection { return e.roleConn(t, "role", cpRoleARN) }, true, "", nil},
		{"trust policy missing the provider", func() *models.Connection { return e.roleConn(t, "cold", cpColdRoleARN) }, false, "Assume the role",
			[]string{"trust policy does not allow keyport's account", "external id"}},
		{"external id mismatch", func() *models.Connection {
			e.extID = "keyport-ffffffffffffffffffffffffffffffff"
			defer func() { e.extID = cpExternalID }()
			return e.roleConn(t, "mismatch", cpRoleARN)
		}, false, "Assume the role", []string{"external id mismatch", "keyport-ffffffffffffffffffffffffffffffff"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.conn()
			res, err := e.svc.TestConnection(ctx, e.tenant.ID, e.by, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if res.OK != tt.ok {
				t.Fatalf("ok = %v, checks %+v", res.OK, res.Checks)
			}
			stored, _ := e.db.GetConnection(ctx, e.tenant.ID, c.ID)
			if stored.LastTestAt == nil || stored.LastTestOK != tt.ok || stored.LastTestSummary != res.Summary() {
				t.Errorf("stored outcome = %v %v %q", stored.LastTestAt, stored.LastTestOK, stored.LastTestSummary)
			}
			if tt.ok {
				return
			}
			var failed *Check
			for i := range res.Checks {
				if !res.Checks[i].OK {
					failed = &res.Checks[i]
					break
				}
			}
			if failed == nil || failed.Name != tt.failName {
				t.Fatalf("failed check = %+v, want %s", failed, tt.failName)
			}
			for _, w := range tt.words {
				if !strings.Contains(failed.Detail, w) {
					t.Errorf("detail %q lacks %q", failed.Detail, w)
				}
			}
			if strings.Contains(failed.Detail, "not authorized") || strings.Contains(failed.Detail, "signature we calculated") {
				t.Errorf("detail passes AWS's message on: %q", failed.Detail)
			}
		})
	}
	acts := e.actions(t)
	if n := strings.Count(strings.Join(acts, " "), "connection.tested"); n != len(tests) {
		t.Errorf("connection.tested events = %d, want %d", n, len(tests))
	}
}

func TestDeleteConnection(t *testing.T) {
	e := newCPEnv(t)
	ctx := context.Background()
	c := e.accessKeyConn(t, "prod", cpUserAKID, cpUserSecret)
	arn := e.createKMSKey(t, cpRegion, nil)
	if _, err := e.svc.RegisterKey(ctx, e.tenant.ID, e.by, RegisterInput{ConnectionID: c.ID, Name: "k", KeyARN: arn}); err != nil {
		t.Fatal(err)
	}
	var ve *models.ValidationError
	if err := e.svc.DeleteConnection(ctx, e.tenant.ID, e.by, c.ID); !errors.As(err, &ve) || !strings.Contains(ve.Message, "used by 1 key") {
		t.Fatalf("deleting a connection in use: %v", err)
	}
	c2 := e.accessKeyConn(t, "spare", cpUserAKID, cpUserSecret)
	if err := e.svc.DeleteConnection(ctx, "tnt_other", e.by, c2.ID); !errors.Is(err, models.ErrNotFound) {
		t.Errorf("another tenant deleted it: %v", err)
	}
	if err := e.svc.DeleteConnection(ctx, e.tenant.ID, e.by, c2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.GetConnection(ctx, e.tenant.ID, c2.ID); !errors.Is(err, models.ErrNotFound) {
		t.Errorf("still there: %v", err)
	}
	if acts := e.actions(t); acts[len(acts)-1] != "connection.deleted" {
		t.Errorf("audit = %v", acts)
	}
}
