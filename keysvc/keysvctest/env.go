// Package keysvctest builds, for tests and benchmarks, a tenant whose AWS
// account lives in a real kmslocal server, an access-key connection for
// keyport, and a key service talking to it over HTTP through the AWS SDK.
// Nothing here is a mock: every KMS call crosses the wire.
package keysvctest

import (
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"keyport/keysvc"
	"keyport/keysvc/awskms"
	"keyport/keysvc/kmslocal"
	"keyport/keysvc/managed"
	"keyport/keysvc/seal"
	"keyport/models"
	"keyport/models/modelstest"
)

// The tenant's AWS account in kmslocal.
const (
	Account   = "111122223333"
	Region    = "eu-west-1"
	adminAKID = "AKIATENANTADMIN00001"
	adminKey  = "admin-secret"
	kpAKID    = "AKIATENANTKEYPORT001"
	kpSecret  = "keyport-secret-key"
)

// Env is one tenant with its own AWS account and a key service.
type Env struct {
	DB     *models.DB
	DSN    string // the database, for tests that look around the store
	Tenant *models.Tenant
	Owner  *models.User
	KMS    *kmslocal.Server
	// KMSConfig is KMS's configuration (its principals), for a kmslocal
	// started in another process over the same state (KMS.SaveTo).
	KMSConfig kmslocal.Config
	Admin     *kms.Client // the tenant's own admin: controls key policies
	Conn      *models.Connection
	Sealer    *seal.Sealer
	Service   *keysvc.Service
	Clock     *Clock
}

// Clock is the settable clock shared by kmslocal and the service. The
// store keeps real time unless a test also calls DB.SetNow(Clock.Now).
type Clock = kmslocal.ManualClock

// New builds an Env with its own fresh database (SQLite in a temporary
// directory, or a PostgreSQL schema when KEYPORT_TEST_POSTGRES is set; see
// modelstest), closed at the end of the test.
func New(tb testing.TB, cfg keysvc.Config) *Env {
	tb.Helper()
	e, err := BuildDSN(modelstest.DSN(tb), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(e.Close)
	return e
}

// Build makes an Env with a SQLite database in dir (for programs such as
// the load test, which have no testing.TB). Close releases it.
func Build(dir string, cfg keysvc.Config) (*Env, error) {
	return BuildDSN(filepath.Join(dir, "keyport.db"), cfg)
}

// BuildDSN makes an Env on the empty database dsn (a SQLite path or a
// postgres:// URL). Close releases it.
func BuildDSN(dsn string, cfg keysvc.Config) (*Env, error) {
	ctx := context.Background()
	db, err := models.Open(ctx, dsn, nil)
	if err != nil {
		return nil, err
	}
	e := &Env{DB: db, DSN: dsn, Clock: kmslocal.NewManualClock(time.Now())}
	if err := e.build(ctx, cfg); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// Close stops kmslocal and closes the database.
func (e *Env) Close() {
	if e.KMS != nil {
		e.KMS.Close()
	}
	e.DB.Close()
}

func (e *Env) build(ctx context.Context, cfg keysvc.Config) error {
	db := e.DB
	if err := db.Migrate(ctx); err != nil {
		return err
	}
	auditKey := make([]byte, 32)
	rand.Read(auditKey)
	db.SetAuditKey(auditKey)
	e.KMSConfig = kmslocal.Config{Clock: e.Clock.Now, Principals: []kmslocal.Principal{
		{AccessKeyID: adminAKID, SecretAccessKey: adminKey, ARN: "arn:aws:iam::" + Account + ":user/admin"},
		{AccessKeyID: kpAKID, SecretAccessKey: kpSecret, ARN: "arn:aws:iam::" + Account + ":user/keyport-access"},
	}}
	srv, err := kmslocal.New(e.KMSConfig)
	if err != nil {
		return err
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		return err
	}
	e.KMS = srv
	kek := make([]byte, 32)
	rand.Read(kek)
	if e.Sealer, err = seal.NewSealer(kek); err != nil {
		return err
	}
	if e.Tenant, e.Owner, e.Conn, err = e.addTenant(ctx, "tenant.test", "owner"); err != nil {
		return err
	}
	adminCfg := srv.AWSConfig(Region, adminAKID, adminKey)
	adminCfg.RetryMaxAttempts = 1
	e.Admin = kms.NewFromConfig(adminCfg)
	e.Service = e.NewService(cfg)
	return nil
}

// AddTenant makes another tenant, named domain, with an owner and an
// access-key connection into the Env's AWS account as keyport's IAM user,
// for programs that spread keys over many tenants (NewKeyIn).
func (e *Env) AddTenant(ctx context.Context, domain string) (*models.Tenant, *models.User, *models.Connection, error) {
	return e.addTenant(ctx, domain, "owner-"+domain)
}

func (e *Env) addTenant(ctx context.Context, domain, subject string) (*models.Tenant, *models.User, *models.Connection, error) {
	owner, _, err := e.DB.UpsertOIDCUser(ctx, "https://idp.test", subject, "owner@"+domain, "Owner")
	if err != nil {
		return nil, nil, nil, err
	}
	tenant, err := e.DB.CreateTenantWithOwner(ctx, domain, owner.ID, models.AuditInput{Actor: owner.ID, Action: "tenant.created"})
	if err != nil {
		return nil, nil, nil, err
	}
	conn := &models.Connection{ID: models.NewID(models.PrefixConnection), TenantID: tenant.ID, Name: "production",
		AccountID: Account, DefaultRegion: Region, Kind: awskms.KindAccessKey, AccessKeyID: kpAKID}
	if conn.SecretSealed, err = e.Sealer.Seal(seal.SecretPurpose(conn.ID), []byte(kpSecret)); err != nil {
		return nil, nil, nil, err
	}
	if err := e.DB.CreateConnection(ctx, conn, models.AuditInput{Actor: owner.ID, Action: "connection.created"}); err != nil {
		return nil, nil, nil, err
	}
	return tenant, owner, conn, nil
}

// NewService is another key service on the same database: a replica, or
// the same process after a restart (cold cache).
func (e *Env) NewService(cfg keysvc.Config) *keysvc.Service {
	return e.NewServiceAt(e.KMS.URL(), cfg)
}

// NewServiceAt is NewService talking to the KMS at url: a kmslocal in
// another process, started from this one's state (KMS.SaveTo).
func (e *Env) NewServiceAt(url string, cfg keysvc.Config) *keysvc.Service {
	return e.NewServiceWith(awskms.NewClients(e.ClientOptionsAt(url)), cfg)
}

// ClientOptionsAt is the SDK client configuration of the services this Env
// builds, talking to the KMS at url. A benchmark that compares keyport with
// bare SDK calls builds its clients from the same options.
func (e *Env) ClientOptionsAt(url string) awskms.ClientOptions {
	base := e.KMS.AWSConfig(Region, "AKIAPROVIDERUNUSED01", "unused")
	base.BaseEndpoint = &url
	return awskms.ClientOptions{Base: &base, Sealer: e.Sealer, MaxAttempts: 1}
}

// NewServiceWith is NewService with the given KMS clients (made from
// ClientOptionsAt, with an Observer counting calls, say).
func (e *Env) NewServiceWith(clients *awskms.Clients, cfg keysvc.Config) *keysvc.Service {
	return keysvc.NewService(keysvc.Deps{DB: e.DB, Sealer: e.Sealer, Now: e.Clock.Now, Config: cfg, Clients: clients,
		KMSFor: keysvc.KMSForStore(e.DB, clients)})
}

// Policy is a key policy giving the account's root everything and keyport
// the data actions, or explicitly denying keyport when revoked.
func Policy(revoked bool) string {
	stmts := `{"Sid":"Admin","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + Account + `:root"},"Action":"kms:*","Resource":"*"}`
	if revoked {
		stmts += `,{"Sid":"RevokeKeyport","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::` + Account + `:user/keyport-access"},"Action":"kms:*","Resource":"*"}`
	}
	return `{"Version":"2012-10-17","Statement":[` + stmts + `]}`
}

// Key creates a KMS key in the tenant's account and an ENABLED keyport key
// over it with data-key version 1.
func (e *Env) Key(tb testing.TB, name string) *models.Key {
	tb.Helper()
	k, err := e.NewKey(context.Background(), name)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// NewKey is Key without a testing.TB.
func (e *Env) NewKey(ctx context.Context, name string) (*models.Key, error) {
	return e.NewKeyIn(ctx, e.Tenant.ID, e.Conn.ID, e.Owner.ID, name)
}

// NewKeyIn is NewKey in another tenant of the Env (see AddTenant): a KMS
// key in the account, registered over conn by the tenant's owner.
func (e *Env) NewKeyIn(ctx context.Context, tenantID, connID, ownerID, name string) (*models.Key, error) {
	out, err := e.Admin.CreateKey(ctx, &kms.CreateKeyInput{Policy: aws.String(Policy(false))})
	if err != nil {
		return nil, err
	}
	nk := &models.NewKey{
		Key: models.Key{TenantID: tenantID, ConnectionID: connID, Name: name, Mode: models.ModeCMK,
			State: models.StateEnabled, Health: "OK"},
		Regions: []models.KeyRegion{{Region: Region, KMSKeyARN: *out.KeyMetadata.Arn}},
	}
	if err := e.DB.CreateKey(ctx, nk, models.AuditInput{Actor: ownerID, Action: "key.registered"}); err != nil {
		return nil, err
	}
	if _, err := e.Service.RotateDataKey(ctx, tenantID, nk.Key.ID, ownerID, "register"); err != nil {
		return nil, fmt.Errorf("first data key: %w", err)
	}
	return e.DB.GetKey(ctx, tenantID, nk.Key.ID)
}

// Revoke sets the key policy of k's KMS key to deny keyport (or allow it
// again).
func (e *Env) Revoke(tb testing.TB, k *models.Key, revoked bool) {
	tb.Helper()
	regions, err := e.DB.KeyRegions(context.Background(), k.TenantID, k.ID)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := e.Admin.PutKeyPolicy(context.Background(), &kms.PutKeyPolicyInput{KeyId: &regions[0].KMSKeyARN, Policy: aws.String(Policy(revoked))}); err != nil {
		tb.Fatal(err)
	}
}

// Managed is a managed-key service (modes 2 and 3) beside keys, a service
// of this Env, on the Env's clock.
func (e *Env) Managed(keys *keysvc.Service) *managed.Service {
	return managed.New(managed.Deps{DB: e.DB, Sealer: e.Sealer, Keys: keys, Now: e.Clock.Now})
}
