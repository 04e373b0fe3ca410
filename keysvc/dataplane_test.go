package keysvc_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"keyport/keysvc"
	"keyport/keysvc/awskms"
	"keyport/keysvc/envelope"
	"keyport/keysvc/keysvctest"
	"keyport/models"
)

// newDPEnv is a tenant with a kmslocal AWS account and a key service.
func newDPEnv(tb testing.TB, cfg keysvc.Config) *keysvctest.Env { return keysvctest.New(tb, cfg) }

// encryptedUnderKeys registers n keys named by nameFmt and returns one
// ciphertext of "x" under each.
func encryptedUnderKeys(tb testing.TB, e *keysvctest.Env, n int, nameFmt string) [][]byte {
	tb.Helper()
	var cts [][]byte
	for i := range n {
		k := e.Key(tb, fmt.Sprintf(nameFmt, i))
		enc, err := e.Service.Encrypt(context.Background(), e.Tenant.ID, k.ID, []byte("x"), nil)
		if err != nil {
			tb.Fatal(err)
		}
		cts = append(cts, enc.Ciphertext)
	}
	return cts
}

var fieldSSN = map[string]string{"field": "ssn"}

func TestDataPlaneRoundTripUsesCache(t *testing.T) {
	ctx := context.Background()
	e := newDPEnv(t, keysvc.Config{})
	k := e.Key(t, "customer data")
	e.KMS.ResetCalls()

	enc, err := e.Service.Encrypt(ctx, e.Tenant.ID, k.ID, []byte("4111 1111 1111 1111"), fieldSSN)
	if err != nil {
		t.Fatal(err)
	}
	if enc.Version != 1 || enc.KeyID != k.ID {
		t.Errorf("encrypted = %+v", enc)
	}
	for range 20 {
		dec, err := e.Service.Decrypt(ctx, e.Tenant.ID, enc.Ciphertext, fieldSSN)
		if err != nil || string(dec.Plaintext) != "4111 1111 1111 1111" {
			t.Fatalf("decrypt: %v", err)
		}
	}
	if n := e.KMS.Calls("Decrypt"); n != 1 {
		t.Errorf("KMS Decrypt calls = %d, want 1 (one fetch, then the cache)", n)
	}
	if s := e.Service.CacheStats(); s.Hits != 20 || s.Misses != 1 {
		t.Errorf("cache stats = %+v", s)
	}
	if err := e.Service.FlushUsage(ctx); err != nil {
		t.Fatal(err)
	}
	u, err := e.DB.KeyUsageTotals(ctx, e.Tenant.ID, k.ID)
	if err != nil || u.Encrypts != 1 || u.Decrypts != 20 || u.KMSCalls != 1 || u.CacheHits != 20 {
		t.Errorf("usage = %+v, %v", u, err)
	}
	events, _ := e.DB.ListAudit(ctx, e.Tenant.ID, 50)
	if !hasAction(events, "key.datakey_fetch") {
		t.Error("no audit event for the KMS data-key fetch")
	}
}

func TestDataPlaneColdMissesCollapse(t *testing.T) {
	ctx := context.Background()
	e := newDPEnv(t, keysvc.Config{})
	cts := encryptedUnderKeys(t, e, 10, "key %d")
	cold := e.NewService(keysvc.Config{})
	e.KMS.SetLatency(30 * time.Millisecond)
	e.KMS.ResetCalls()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := cold.Decrypt(ctx, e.Tenant.ID, cts[i%10], nil); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := e.KMS.Calls("Decrypt"); n != 10 {
		t.Errorf("64 cold decrypts of 10 keys made %d KMS calls, want 10", n)
	}
}

func TestRevocationAfterTTLAndAtOnceWithPurge(t *testing.T) {
	ctx := context.Background()
	e := newDPEnv(t, keysvc.Config{CacheTTL: 5 * time.Minute})
	k := e.Key(t, "revocable")
	enc, err := e.Service.Encrypt(ctx, e.Tenant.ID, k.ID, []byte("data"), nil)
	if err != nil {
		t.Fatal(err)
	}

	e.Revoke(t, k, true) // the tenant cuts keyport off
	e.Clock.Advance(4 * time.Minute)
	if _, err := e.Service.Decrypt(ctx, e.Tenant.ID, enc.Ciphertext, nil); err != nil {
		t.Fatalf("within the TTL the cached key still works: %v", err)
	}
	e.Clock.Advance(90 * time.Second) // 5m30s after the fetch
	_, err = e.Service.Decrypt(ctx, e.Tenant.ID, enc.Ciphertext, nil)
	if !errors.Is(err, awskms.ErrAccessDenied) {
		t.Fatalf("after the TTL: err = %v, want ErrAccessDenied", err)
	}
	got, _ := e.DB.GetKey(ctx, e.Tenant.ID, k.ID)
	if got.Health != "ACCESS_DENIED" {
		t.Errorf("health = %s", got.Health)
	}

	// Access restored: it works again and health recovers.
	e.Revoke(t, k, false)
	if _, err := e.Service.Decrypt(ctx, e.Tenant.ID, enc.Ciphertext, nil); err != nil {
		t.Fatalf("after restoring access: %v", err)
	}
	if got, _ := e.DB.GetKey(ctx, e.Tenant.ID, k.ID); got.Health != "OK" {
		t.Errorf("health after recovery = %s", got.Health)
	}

	// With purge, revocation takes effect at once, well within the TTL.
	e.Revoke(t, k, true)
	if err := e.Service.Purge(ctx, e.Tenant.ID, k.ID, e.Owner.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Service.Decrypt(ctx, e.Tenant.ID, enc.Ciphertext, nil); !errors.Is(err, awskms.ErrAccessDenied) {
		t.Fatalf("after purge: err = %v, want ErrAccessDenied", err)
	}
	events, _ := e.DB.ListAudit(ctx, e.Tenant.ID, 100)
	for _, a := range []string{"key.cache_purged", "key.health_changed"} {
		if !hasAction(events, a) {
			t.Errorf("audit lacks %s", a)
		}
	}
}

func TestPurgeReachesOtherReplicas(t *testing.T) {
	ctx := context.Background()
	e := newDPEnv(t, keysvc.Config{})
	k := e.Key(t, "shared")
	other := e.NewService(keysvc.Config{})
	enc, _ := e.Service.Encrypt(ctx, e.Tenant.ID, k.ID, []byte("x"), nil)
	if _, err := other.Decrypt(ctx, e.Tenant.ID, enc.Ciphertext, nil); err != nil {
		t.Fatal(err)
	}
	e.KMS.ResetCalls()
	if err := e.Service.Purge(ctx, e.Tenant.ID, "", e.Owner.ID); err != nil { // tenant-wide purge on replica one
		t.Fatal(err)
	}
	if err := other.Warm(ctx); err != nil { // replica two's next poll
		t.Fatal(err)
	}
	if _, err := other.Decrypt(ctx, e.Tenant.ID, enc.Ciphertext, nil); err != nil {
		t.Fatal(err)
	}
	if n := e.KMS.Calls("Decrypt"); n != 1 {
		t.Errorf("replica two served a purged key: %d fresh KMS calls, want 1", n)
	}
}

func TestDataPlaneRefusals(t *testing.T) {
	ctx := context.Background()
	e := newDPEnv(t, keysvc.Config{})
	k := e.Key(t, "main")
	enc, _ := e.Service.Encrypt(ctx, e.Tenant.ID, k.ID, []byte("x"), fieldSSN)
	tampered := bytes.Clone(enc.Ciphertext)
	tampered[len(tampered)-1] ^= 1

	_, otherTenant, _ := testStoreTenant(t, e.DB, "other.test")
	tests := []struct {
		name   string
		tenant string
		ct     []byte
		ctx    map[string]string
		want   error
	}{
		{"tampered", e.Tenant.ID, tampered, fieldSSN, envelope.ErrDecrypt},
		{"wrong context", e.Tenant.ID, enc.Ciphertext, map[string]string{"field": "dob"}, envelope.ErrDecrypt},
		{"another tenant", otherTenant.ID, enc.Ciphertext, fieldSSN, keysvc.ErrKeyNotFound},
		{"not ours", e.Tenant.ID, []byte("hello world, this is not a ciphertext at all, no no no"), nil, envelope.ErrMalformedCiphertext},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := e.Service.Decrypt(ctx, tt.tenant, tt.ct, tt.ctx); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := e.Service.Encrypt(ctx, otherTenant.ID, k.ID, []byte("x"), nil); !errors.Is(err, keysvc.ErrKeyNotFound) {
		t.Errorf("encrypt under another tenant's key: %v", err)
	}

	disabled := models.StateDisabled
	if _, err := e.DB.UpdateKey(ctx, e.Tenant.ID, k.ID, models.KeyUpdate{State: &disabled, BumpEpoch: true}, models.AuditInput{Actor: e.Owner.ID, Action: "key.disabled"}); err != nil {
		t.Fatal(err)
	}
	e.Service.Warm(ctx) // this replica's next poll
	if _, err := e.Service.Decrypt(ctx, e.Tenant.ID, enc.Ciphertext, fieldSSN); !errors.Is(err, awskms.ErrKeyDisabled) {
		t.Errorf("disabled key: %v", err)
	}
}

func TestFetchFailsClosedWithoutAudit(t *testing.T) {
	ctx := context.Background()
	e := newDPEnv(t, keysvc.Config{})
	k := e.Key(t, "audited")
	enc, _ := e.Service.Encrypt(ctx, e.Tenant.ID, k.ID, []byte("x"), nil)
	cold := e.NewService(keysvc.Config{})

	e.DB.SetAuditKey(nil) // the audit log cannot be written
	if _, err := cold.Decrypt(ctx, e.Tenant.ID, enc.Ciphertext, nil); err == nil || !strings.Contains(err.Error(), "audit") {
		t.Fatalf("decrypt without audit: err = %v, want an audit failure", err)
	}
	if s := cold.CacheStats(); s.Entries != 0 {
		t.Error("a key fetched without its audit event was cached")
	}
}

func TestMessageBudgetRetiresDataKey(t *testing.T) {
	ctx := context.Background()
	e := newDPEnv(t, keysvc.Config{MessageLimit: 3})
	k := e.Key(t, "busy")
	var versions []int64
	var cts [][]byte
	for range 7 {
		enc, err := e.Service.Encrypt(ctx, e.Tenant.ID, k.ID, []byte("m"), nil)
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
		if _, err := e.Service.Decrypt(ctx, e.Tenant.ID, ct, nil); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRotateDataKeyRacesToOneWinner(t *testing.T) {
	ctx := context.Background()
	e := newDPEnv(t, keysvc.Config{})
	k := e.Key(t, "rotating")
	var wg sync.WaitGroup
	var won, raced int
	var mu sync.Mutex
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.Service.RotateDataKey(ctx, e.Tenant.ID, k.ID, e.Owner.ID, "manual")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errors.Is(err, keysvc.ErrRotationRaced):
				raced++
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	vs, _ := e.DB.DataKeyVersions(ctx, e.Tenant.ID, k.ID)
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

// A rotation decided on version 1 never makes version 3, however late it
// runs: a stalled job that lost its lease to another worker cannot rotate twice.
func TestRotateDataKeyFromIsCompareAndSet(t *testing.T) {
	ctx := context.Background()
	e := newDPEnv(t, keysvc.Config{})
	k := e.Key(t, "cas")
	if v, err := e.Service.RotateFrom(ctx, e.Tenant.ID, k.ID, 1, e.Owner.ID, "scheduled"); err != nil || v != 2 {
		t.Fatalf("first rotation: %d %v", v, err)
	}
	if _, err := e.Service.RotateFrom(ctx, e.Tenant.ID, k.ID, 1, e.Owner.ID, "scheduled"); !errors.Is(err, keysvc.ErrRotationRaced) {
		t.Fatalf("second rotation from 1: %v, want ErrRotationRaced", err)
	}
	vs, _ := e.DB.DataKeyVersions(ctx, e.Tenant.ID, k.ID)
	if len(vs) != 2 {
		t.Errorf("versions = %d, want 2", len(vs))
	}
}

// TestRotateDataKeyAsksKMSForNoPlaintext: a key in one region keeps only
// the wrapped data key, so neither registration nor rotation asks KMS for
// the plaintext (issue 17 #27).
func TestRotateDataKeyAsksKMSForNoPlaintext(t *testing.T) {
	ctx := context.Background()
	e := newDPEnv(t, keysvc.Config{})
	e.KMS.ResetCalls()
	k := e.Key(t, "one region")
	if _, err := e.Service.RotateDataKey(ctx, e.Tenant.ID, k.ID, e.Owner.ID, "manual"); err != nil {
		t.Fatal(err)
	}
	if n, w := e.KMS.Calls("GenerateDataKey"), e.KMS.Calls("GenerateDataKeyWithoutPlaintext"); n != 0 || w != 2 {
		t.Errorf("two data keys made %d GenerateDataKey and %d GenerateDataKeyWithoutPlaintext calls; the plaintext is never needed", n, w)
	}
	enc, err := e.Service.Encrypt(ctx, e.Tenant.ID, k.ID, []byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if dec, err := e.Service.Decrypt(ctx, e.Tenant.ID, enc.Ciphertext, nil); err != nil || string(dec.Plaintext) != "x" {
		t.Fatalf("round trip: %v", err)
	}
}
