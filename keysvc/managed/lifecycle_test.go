package managed

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"keyport/keysvc"
	"keyport/models"
)

// lcClock is the store's and the service's clock in lifecycle tests, so a
// test can let a dead worker's lease run out.
type lcClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *lcClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *lcClock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// lcEnv is the control-plane world plus a role connection (the lifecycle
// acts with the tenant's own credentials) and a key store on it.
type lcEnv struct {
	*cpEnv
	clk   *lcClock
	store *models.KeyStore
}

func newLCEnv(tb testing.TB) *lcEnv {
	tb.Helper()
	e := &lcEnv{cpEnv: newCPEnv(tb), clk: &lcClock{now: time.Now()}}
	e.db.SetNow(e.clk.Now)
	e.restart()
	conn := e.roleConn(tb, "tenant role", cpRoleARN)
	st, err := e.svc.CreateStore(context.Background(), e.tenant.ID, e.by, StoreInput{Name: "production", ConnectionID: conn.ID})
	if err != nil {
		tb.Fatal(err)
	}
	e.store = st
	return e
}

// restart replaces the service with a new one on the same database, KEK
// and AWS world, as a restarted process would be.
func (e *lcEnv) restart() {
	old := e.svc
	log := slog.New(slog.DiscardHandler)
	e.keys = keysvc.NewService(keysvc.Deps{DB: e.db, Sealer: old.sealer, Clients: old.clients, Now: e.clk.Now, Logger: log})
	e.svc = New(Deps{DB: e.db, Sealer: old.sealer, Keys: e.keys, Clients: old.clients, Now: e.clk.Now, Logger: log})
	// RSA_2048 keeps kmslocal's key generation fast under -race (the
	// browser and HTTP tests do the same with PreferWrappingKeySpec).
	e.svc.lifecycle().wrapSpecs = []wrapSpec{{"RSA_2048", WrapOAEPSHA256}}
}

func (e *lcEnv) create(tb testing.TB, name string, validDays int) *OperationResult {
	tb.Helper()
	res, err := e.svc.CreateGeneratedKey(context.Background(), e.tenant.ID, e.by, CreateKeyInput{StoreID: e.store.ID, Name: name, ValidDays: validDays})
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

// kmsWorld is what the tenant's account holds: per keyport key, its live
// KMS keys (not pending deletion) and those pending deletion; and keys
// without keyport's tags.
type kmsWorld struct {
	live, deleting map[string][]string
	untagged       int
}

func (e *lcEnv) world(tb testing.TB) kmsWorld {
	tb.Helper()
	ctx := context.Background()
	w := kmsWorld{live: map[string][]string{}, deleting: map[string][]string{}}
	admin := e.inspectorIn(cpRegion)
	out, err := admin.ListKeys(ctx, &kms.ListKeysInput{Limit: aws.Int32(1000)})
	if err != nil {
		tb.Fatal(err)
	}
	for _, k := range out.Keys {
		md, err := admin.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: k.KeyArn})
		if err != nil {
			tb.Fatal(err)
		}
		tags, err := admin.ListResourceTags(ctx, &kms.ListResourceTagsInput{KeyId: k.KeyArn})
		if err != nil {
			tb.Fatal(err)
		}
		owner := ""
		for _, t := range tags.Tags {
			if aws.ToString(t.TagKey) == tagKey {
				owner = aws.ToString(t.TagValue)
			}
		}
		switch {
		case owner == "":
			w.untagged++
		case md.KeyMetadata.KeyState == types.KeyStatePendingDeletion:
			w.deleting[owner] = append(w.deleting[owner], aws.ToString(k.KeyArn))
		default:
			w.live[owner] = append(w.live[owner], aws.ToString(k.KeyArn))
		}
	}
	return w
}

// aliasTarget is the KMS key the key's alias names ("" without alias).
func (e *lcEnv) aliasTarget(tb testing.TB, keyID string) string {
	tb.Helper()
	mk, err := e.db.GetManagedKey(context.Background(), e.tenant.ID, keyID)
	if err != nil {
		tb.Fatal(err)
	}
	out, err := e.inspectorIn(cpRegion).DescribeKey(context.Background(), &kms.DescribeKeyInput{KeyId: aws.String(mk.AliasName)})
	if err != nil {
		return ""
	}
	return aws.ToString(out.KeyMetadata.Arn)
}

// roundTrip encrypts and decrypts through keyport's data path.
func (e *lcEnv) roundTrip(tb testing.TB, keyID string) error {
	tb.Helper()
	enc, err := e.keys.Encrypt(context.Background(), e.tenant.ID, keyID, []byte("hello"), nil)
	if err != nil {
		return err
	}
	dec, err := e.keys.Decrypt(context.Background(), e.tenant.ID, enc.Ciphertext, nil)
	if err != nil {
		return err
	}
	if string(dec.Plaintext) != "hello" {
		tb.Fatal("round trip changed the plaintext")
	}
	return nil
}

// materialIntact proves keyport still holds the very material in the
// KMS key: KMS loses it, and re-importing keyport's sealed copy is
// accepted (KMS refuses different material for the same key).
func (e *lcEnv) materialIntact(tb testing.TB, keyID string) {
	tb.Helper()
	ctx := context.Background()
	active, err := e.db.ActiveMaterial(ctx, e.tenant.ID, keyID)
	if err != nil {
		tb.Fatal(err)
	}
	if err := e.srv.LoseKeyMaterial(active.KMSKeyARN); err != nil {
		tb.Fatal(err)
	}
	res, err := e.svc.Reupload(ctx, e.tenant.ID, e.by, keyID, "")
	if err != nil || !res.Done() {
		tb.Fatalf("re-upload of the sealed material: %v %+v", err, res)
	}
}

func TestCreateRenewUndoLifecycle(t *testing.T) {
	e := newLCEnv(t)
	ctx := context.Background()
	res := e.create(t, "orders", 30)
	if !res.Done() || res.Key.State != models.StateEnabled || res.Key.CurrentVersion != 1 || res.Key.Mode != models.ModeGenerated {
		t.Fatalf("create = %+v, key %+v", res, res.Key)
	}
	keyID := res.Key.ID
	first, _ := e.db.ActiveMaterial(ctx, e.tenant.ID, keyID)
	if first.ValidTo == nil || first.ImportedAt == nil || len(first.Fingerprint) != 6 {
		t.Fatalf("material = %v valid_to=%v", first, first.ValidTo)
	}
	if got := e.aliasTarget(t, keyID); got != first.KMSKeyARN {
		t.Fatalf("alias on %q, want %q", got, first.KMSKeyARN)
	}
	if err := e.roundTrip(t, keyID); err != nil {
		t.Fatal(err)
	}
	old, _ := e.keys.Encrypt(ctx, e.tenant.ID, keyID, []byte("old data"), nil)

	ren, err := e.svc.Renew(ctx, e.tenant.ID, e.by, keyID)
	if err != nil || !ren.Done() || ren.Key.CurrentVersion != 2 {
		t.Fatalf("renew = %+v, %v", ren, err)
	}
	second, _ := e.db.ActiveMaterial(ctx, e.tenant.ID, keyID)
	if second.KMSKeyARN == first.KMSKeyARN || second.Fingerprint == first.Fingerprint || e.aliasTarget(t, keyID) != second.KMSKeyARN {
		t.Fatal("renewal did not make a new KMS key with new material under the alias")
	}
	md, _ := e.adminIn(cpRegion).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(first.KMSKeyARN)})
	if md.KeyMetadata.KeyState != types.KeyStateEnabled {
		t.Errorf("old KMS key is %s; it must stay enabled", md.KeyMetadata.KeyState)
	}
	if dec, err := e.keys.Decrypt(ctx, e.tenant.ID, old.Ciphertext, nil); err != nil || string(dec.Plaintext) != "old data" {
		t.Fatalf("old data after renewal: %v", err)
	}

	undo, err := e.svc.UndoRenewal(ctx, e.tenant.ID, e.by, keyID)
	if err != nil || !undo.Done() || undo.Key.CurrentVersion != 3 || e.aliasTarget(t, keyID) != first.KMSKeyARN {
		t.Fatalf("undo = %+v, %v", undo, err)
	}
	if err := e.roundTrip(t, keyID); err != nil {
		t.Fatal(err)
	}
	rot, err := e.svc.RotateMaterialInPlace(ctx, e.tenant.ID, e.by, keyID)
	if err != nil || !rot.Done() || rot.Key.CurrentVersion != 4 || e.aliasTarget(t, keyID) != first.KMSKeyARN {
		t.Fatalf("rotate in place = %+v, %v", rot, err)
	}
	if dec, err := e.keys.Decrypt(ctx, e.tenant.ID, old.Ciphertext, nil); err != nil || string(dec.Plaintext) != "old data" {
		t.Fatalf("old data after in-place rotation: %v", err)
	}
	w := e.world(t)
	if len(w.live[keyID]) != 2 || w.untagged != 0 {
		t.Errorf("KMS keys: %+v", w)
	}
	for _, want := range []string{"key.create_started", "key.material_imported", "key.create_completed", "key.renew_started",
		"key.renew_completed", "key.undo_started", "key.undo_completed", "key.rotate_completed"} {
		found := false
		for _, a := range e.actions(t) {
			found = found || a == want
		}
		if !found {
			t.Errorf("audit has no %s", want)
		}
	}
}
