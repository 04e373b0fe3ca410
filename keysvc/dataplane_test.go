package keysvc

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"keyport/keysvc/kmslocal"
	"keyport/models"
)

const (
	tenantAccount = "111122223333"
	adminAKID     = "AKIATENANTADMIN00001"
	keyportAKID   = "AKIATENANTKEYPORT001"
	region        = "eu-west-1"
)

// dpEnv is a tenant with an AWS account in kmslocal, an access-key
// connection for keyport, and a key service talking to it over HTTP.
type dpEnv struct {
	db     *models.DB
	tenant *models.Tenant
	owner  *models.User
	kms    *kmslocal.Server
	admin  *kms.Client // the tenant's own admin, who controls the key policy
	conn   *models.Connection
	clock  *testClock
	svc    *Service
	sealer *Sealer
	cfg    Config
}

func newDPEnv(tb testing.TB, cfg Config) *dpEnv {
	tb.Helper()
	ctx := context.Background()
	db, tenant, owner := testStore(tb)
	clk := &testClock{now: time.Now().Add(time.Hour)}
	srv, err := kmslocal.New(kmslocal.Config{
		Clock: clk.Now,
		Principals: []kmslocal.Principal{
			{AccessKeyID: adminAKID, SecretAccessKey: "admin-secret", ARN: "arn:aws:iam::" + tenantAccount + ":user/admin"},
			{AccessKeyID: keyportAKID, SecretAccessKey: "keyport-secret-key", ARN: "arn:aws:iam::" + tenantAccount + ":user/keyport-access"},
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
	sealer, err := NewSealer(kek)
	if err != nil {
		tb.Fatal(err)
	}
	conn := &models.Connection{ID: models.NewID(models.PrefixConnection), TenantID: tenant.ID, Name: "prod", AccountID: tenantAccount,
		DefaultRegion: region, Kind: KindAccessKey, AccessKeyID: keyportAKID}
	conn.SecretSealed, err = sealer.Seal(SecretPurpose(conn.ID), []byte("keyport-secret-key"))
	if err != nil {
		tb.Fatal(err)
	}
	if err := db.CreateConnection(ctx, conn, models.AuditInput{Actor: owner.ID, Action: "connection.created"}); err != nil {
		tb.Fatal(err)
	}
	base := srv.AWSConfig(region, "AKIAUNUSEDPROVIDER01", "unused")
	clients := NewClients(ClientOptions{Base: &base, Sealer: sealer, MaxAttempts: 1})
	adminCfg := srv.AWSConfig(region, adminAKID, "admin-secret")
	adminCfg.RetryMaxAttempts = 1
	e := &dpEnv{db: db, tenant: tenant, owner: owner, kms: srv, admin: kms.NewFromConfig(adminCfg), conn: conn, clock: clk, sealer: sealer, cfg: cfg}
	e.svc = e.newReplica(clients)
	return e
}

// newReplica is another keyport process on the same database.
func (e *dpEnv) newReplica(clients *Clients) *Service {
	return NewService(Deps{DB: e.db, Sealer: e.sealer, Now: e.clock.Now, Config: e.cfg, KMSFor: KMSForStore(e.db, clients)})
}

// policy grants the account root everything and keyport the data actions,
// unless revoked.
func policy(revoked bool) string {
	stmts := `{"Sid":"Admin","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + tenantAccount + `:root"},"Action":"kms:*","Resource":"*"}`
	if revoked {
		stmts += `,{"Sid":"Revoked","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::` + tenantAccount + `:user/keyport-access"},"Action":"kms:*","Resource":"*"}`
	}
	return `{"Version":"2012-10-17","Statement":[` + stmts + `]}`
}

// registerKey creates a KMS key in the tenant's account and registers it in
// keyport with data-key version 1 (what registration does).
func (e *dpEnv) registerKey(tb testing.TB, name string) *models.Key {
	tb.Helper()
	ctx := context.Background()
	out, err := e.admin.CreateKey(ctx, &kms.CreateKeyInput{Policy: aws.String(policy(false))})
	if err != nil {
		tb.Fatal(err)
	}
	arn := *out.KeyMetadata.Arn
	k := models.Key{ID: models.NewID("key_"), TenantID: e.tenant.ID, ConnectionID: e.conn.ID, Name: name,
		Mode: models.ModeCMK, State: models.StateEnabled, Health: "OK"}
	m := keyMeta{TenantID: k.TenantID, ID: k.ID, ConnectionID: k.ConnectionID}
	wraps, err := e.svc.wrapNewDataKey(ctx, m, []models.KeyRegion{{Region: region, KMSKeyARN: arn}})
	if err != nil {
		tb.Fatal(err)
	}
	nk := &models.NewKey{Key: k, Regions: []models.KeyRegion{{Region: region, KMSKeyARN: arn}},
		Version: &models.DataKeyVersion{Version: 1, Reason: "register"}, Wraps: wraps}
	if err := e.db.CreateKey(ctx, nk, models.AuditInput{Actor: e.owner.ID, Action: "key.registered"}); err != nil {
		tb.Fatal(err)
	}
	return &nk.Key
}

func (e *dpEnv) setPolicy(tb testing.TB, k *models.Key, revoked bool) {
	tb.Helper()
	regions, _ := e.db.KeyRegions(context.Background(), k.TenantID, k.ID)
	_, err := e.admin.PutKeyPolicy(context.Background(), &kms.PutKeyPolicyInput{KeyId: &regions[0].KMSKeyARN, Policy: aws.String(policy(revoked))})
	if err != nil {
		tb.Fatal(err)
	}
}

var fieldSSN = map[string]string{"field": "ssn"}

func TestDataPlaneRoundTripUsesCache(t *testing.T) {
	ctx := context.Background()
	e := newDPEnv(t, Config{})
	k := e.registerKey(t, "customer data")
	e.kms.ResetCalls()

	enc, err := e.svc.Encrypt(ctx, e.tenant.ID, k.ID, []byte("4111 1111 1111 1111"), fieldSSN)
	if err != nil {
		t.Fatal(err)
	}
	if enc.Version != 1 || enc.KeyID != k.ID {
		t.Errorf("encrypted = %+v", enc)
	}
	for range 20 {
		dec, err := e.svc.Decrypt(ctx, e.tenant.ID, enc.Ciphertext, fieldSSN)
		if err != nil || string(dec.Plaintext) != "4111 1111 1111 1111" {
			t.Fatalf("decrypt: %v", err)
		}
	}
	if n := e.kms.Calls("Decrypt"); n != 1 {
		t.Errorf("KMS Decrypt calls = %d, want 1 (one fetch, then the cache)", n)
	}
	if s := e.svc.CacheStats(); s.Hits != 20 || s.Misses != 1 {
		t.Errorf("cache stats = %+v", s)
	}
	if err := e.svc.FlushUsage(ctx); err != nil {
		t.Fatal(err)
	}
	u, err := e.db.KeyUsageTotals(ctx, e.tenant.ID, k.ID)
	if err != nil || u.Encrypts != 1 || u.Decrypts != 20 || u.KMSCalls != 1 || u.CacheHits != 20 {
		t.Errorf("usage = %+v, %v", u, err)
	}
	events, _ := e.db.ListAudit(ctx, e.tenant.ID, 50)
	if !hasAction(events, "key.datakey_fetched") {
		t.Error("no audit event for the KMS data-key fetch")
	}
}

func TestDataPlaneColdMissesCollapse(t *testing.T) {
	ctx := context.Background()
	e := newDPEnv(t, Config{})
	var cts [][]byte
	for i := range 10 {
		k := e.registerKey(t, fmt.Sprintf("key %d", i))
		enc, err := e.svc.Encrypt(ctx, e.tenant.ID, k.ID, []byte("x"), nil)
		if err != nil {
			t.Fatal(err)
		}
		cts = append(cts, enc.Ciphertext)
	}
	cold := e.newReplica(NewClients(ClientOptions{Base: ptr(e.kms.AWSConfig(region, "AKIAUNUSEDPROVIDER01", "x")), Sealer: e.sealer, MaxAttempts: 1}))
	e.kms.SetLatency(30 * time.Millisecond)
	e.kms.ResetCalls()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := cold.Decrypt(ctx, e.tenant.ID, cts[i%10], nil); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := e.kms.Calls("Decrypt"); n != 10 {
		t.Errorf("64 cold decrypts of 10 keys made %d KMS calls, want 10", n)
	}
}

func TestRevocationAfterTTLAndAtOnceWithPurge(t *testing.T) {
	ctx := context.Background()
	e := newDPEnv(t, Config{CacheTTL: 5 * time.Minute})
	k := e.registerKey(t, "revocable")
	enc, err := e.svc.Encrypt(ctx, e.tenant.ID, k.ID, []byte("data"), nil)
	if err != nil {
		t.Fatal(err)
	}

	e.setPolicy(t, k, true) // the tenant cuts keyport off
	e.clock.Advance(4 * time.Minute)
	if _, err := e.svc.Decrypt(ctx, e.tenant.ID, enc.Ciphertext, nil); err != nil {
		t.Fatalf("within the TTL the cached key still works: %v", err)
	}
	e.clock.Advance(90 * time.Second) // 5m30s after the fetch
	_, err = e.svc.Decrypt(ctx, e.tenant.ID, enc.Ciphertext, nil)
	if !errors.Is(err, ErrAccessDenied) {
		t.Fatalf("after the TTL: err = %v, want ErrAccessDenied", err)
	}
	got, _ := e.db.GetKey(ctx, e.tenant.ID, k.ID)
	if got.Health != "ACCESS_DENIED" {
		t.Errorf("health = %s", got.Health)
	}

	// Access restored: it works again and health recovers.
	e.setPolicy(t, k, false)
	if _, err := e.svc.Decrypt(ctx, e.tenant.ID, enc.Ciphertext, nil); err != nil {
		t.Fatalf("after restoring access: %v", err)
	}
	if got, _ := e.db.GetKey(ctx, e.tenant.ID, k.ID); got.Health != "OK" {
		t.Errorf("health after recovery = %s", got.Health)
	}

	// With purge, revocation takes effect at once, well within the TTL.
	e.setPolicy(t, k, true)
	if err := e.svc.Purge(ctx, e.tenant.ID, k.ID, e.owner.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Decrypt(ctx, e.tenant.ID, enc.Ciphertext, nil); !errors.Is(err, ErrAccessDenied) {
		t.Fatalf("after purge: err = %v, want ErrAccessDenied", err)
	}
	events, _ := e.db.ListAudit(ctx, e.tenant.ID, 100)
	for _, a := range []string{"key.cache_purged", "key.health_changed"} {
		if !hasAction(events, a) {
			t.Errorf("audit lacks %s", a)
		}
	}
}

func TestPurgeReachesOtherReplicas(t *testing.T) {
	ctx := context.Background()
	e := newDPEnv(t, Config{})
	k := e.registerKey(t, "shared")
	other := e.newReplica(NewClients(ClientOptions{Base: ptr(e.kms.AWSConfig(region, "AKIAUNUSEDPROVIDER01", "x")), Sealer: e.sealer, MaxAttempts: 1}))
	enc, _ := e.svc.Encrypt(ctx, e.tenant.ID, k.ID, []byte("x"), nil)
	if _, err := other.Decrypt(ctx, e.tenant.ID, enc.Ciphertext, nil); err != nil {
		t.Fatal(err)
	}
	e.kms.ResetCalls()
	if err := e.svc.Purge(ctx, e.tenant.ID, "", e.owner.ID); err != nil { // tenant-wide purge on replica one
		t.Fatal(err)
	}
	if err := other.dp.keys.refresh(ctx); err != nil { // replica two's next poll
		t.Fatal(err)
	}
	if _, err := other.Decrypt(ctx, e.tenant.ID, enc.Ciphertext, nil); err != nil {
		t.Fatal(err)
	}
	if n := e.kms.Calls("Decrypt"); n != 1 {
		t.Errorf("replica two served a purged key: %d fresh KMS calls, want 1", n)
	}
}

func TestDataPlaneRefusals(t *testing.T) {
	ctx := context.Background()
	e := newDPEnv(t, Config{})
	k := e.registerKey(t, "main")
	enc, _ := e.svc.Encrypt(ctx, e.tenant.ID, k.ID, []byte("x"), fieldSSN)
	tampered := bytes.Clone(enc.Ciphertext)
	tampered[len(tampered)-1] ^= 1

	_, otherTenant, _ := testStoreTenant(t, e.db, "other.test")
	tests := []struct {
		name   string
		tenant string
		ct     []byte
		ctx    map[string]string
		want   error
	}{
		{"tampered", e.tenant.ID, tampered, fieldSSN, ErrDecrypt},
		{"wrong context", e.tenant.ID, enc.Ciphertext, map[string]string{"field": "dob"}, ErrDecrypt},
		{"another tenant", otherTenant.ID, enc.Ciphertext, fieldSSN, ErrKeyNotFound},
		{"not ours", e.tenant.ID, []byte("hello world, this is not a ciphertext at all, no no no"), nil, ErrMalformedCiphertext},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := e.svc.Decrypt(ctx, tt.tenant, tt.ct, tt.ctx); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := e.svc.Encrypt(ctx, otherTenant.ID, k.ID, []byte("x"), nil); !errors.Is(err, ErrKeyNotFound) {
		t.Errorf("encrypt under another tenant's key: %v", err)
	}

	disabled := models.StateDisabled
	if _, err := e.db.UpdateKey(ctx, e.tenant.ID, k.ID, models.KeyUpdate{State: &disabled, BumpEpoch: true}, models.AuditInput{Actor: e.owner.ID, Action: "key.disabled"}); err != nil {
		t.Fatal(err)
	}
	e.svc.dp.keys.refresh(ctx)
	if _, err := e.svc.Decrypt(ctx, e.tenant.ID, enc.Ciphertext, fieldSSN); !errors.Is(err, ErrKeyDisabled) {
		t.Errorf("disabled key: %v", err)
	}
}

func TestFetchFailsClosedWithoutAudit(t *testing.T) {
	ctx := context.Background()
	e := newDPEnv(t, Config{})
	k := e.registerKey(t, "audited")
	enc, _ := e.svc.Encrypt(ctx, e.tenant.ID, k.ID, []byte("x"), nil)
	cold := e.newReplica(NewClients(ClientOptions{Base: ptr(e.kms.AWSConfig(region, "AKIAUNUSEDPROVIDER01", "x")), Sealer: e.sealer, MaxAttempts: 1}))

	e.db.SetAuditKey(nil) // the audit log cannot be written
	if _, err := cold.Decrypt(ctx, e.tenant.ID, enc.Ciphertext, nil); err == nil || !strings.Contains(err.Error(), "audit") {
		t.Fatalf("decrypt without audit: err = %v, want an audit failure", err)
	}
	if s := cold.CacheStats(); s.Entries != 0 {
		t.Error("a key fetched without its audit event was cached")
	}
}

func TestMessageBudgetRetiresDataKey(t *testing.T) {
	ctx := context.Background()
	e := newDPEnv(t, Config{MessageLimit: 3})
	k := e.registerKey(t, "busy")
	var versions []int64
	var cts [][]byte
	for range 7 {
		enc, err := e.svc.Encrypt(ctx, e.tenant.ID, k.ID, []byte("m"), nil)
		if err != nil {
			t.Fatal(err)
		}
		versions = append(versions, enc.Version)
		cts = append(cts, enc.Ciphertext)
	}
	if fmt.Sprint(versions) != "[1 1 1 2 2 2 3]" {
		t.Errorf("versions = %v, want each data key retired after 3 messages", versions)
	}
	for _, ct := range cts { // old versions keep decrypting
		if _, err := e.svc.Decrypt(ctx, e.tenant.ID, ct, nil); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRotateDataKeyRacesToOneWinner(t *testing.T) {
	ctx := context.Background()
	e := newDPEnv(t, Config{})
	k := e.registerKey(t, "rotating")
	var wg sync.WaitGroup
	var won, raced int
	var mu sync.Mutex
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.svc.RotateDataKey(ctx, e.tenant.ID, k.ID, e.owner.ID, "manual")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errors.Is(err, ErrRotationRaced):
				raced++
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	vs, _ := e.db.DataKeyVersions(ctx, e.tenant.ID, k.ID)
	if int64(len(vs)) != 1+int64(won) || won < 1 || won+raced != 5 {
		t.Errorf("won=%d raced=%d versions=%d", won, raced, len(vs))
	}
}

func hasAction(events []models.AuditEvent, action string) bool {
	for _, e := range events {
		if e.Action == action {
			return true
		}
	}
	return false
}

func ptr[T any](v T) *T { return &v }

// testStoreTenant adds another tenant with its own owner to db.
func testStoreTenant(tb testing.TB, db *models.DB, name string) (*models.DB, *models.Tenant, *models.User) {
	tb.Helper()
	ctx := context.Background()
	u, _, err := db.UpsertOIDCUser(ctx, "https://idp.test", "sub-"+name, "owner@"+name, "")
	if err != nil {
		tb.Fatal(err)
	}
	t, err := db.CreateTenantWithOwner(ctx, name, u.ID, models.AuditInput{Actor: u.ID, Action: "tenant.created"})
	if err != nil {
		tb.Fatal(err)
	}
	return db, t, u
}
