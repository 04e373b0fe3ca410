package keysvc

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"keyport/keysvc/awskms"
	"keyport/keysvc/envelope"
	"keyport/keysvc/seal"
	"keyport/models"
)

// TestHeldWrapBinding: a held wrap opens only as the key, version and
// material it was made for, and not at all once the key is deleted and
// its material erased. (These checks lived in keysvc/managed's tests
// through an exported OpenHeldWrap; they are here so nothing exported
// returns a plaintext data key.)
func TestHeldWrapBinding(t *testing.T) {
	db, tenant, u := testStore(t)
	ctx := context.Background()
	kek := make([]byte, 32)
	rand.Read(kek)
	sealer, err := seal.NewSealer(kek)
	if err != nil {
		t.Fatal(err)
	}
	svc := NewService(Deps{DB: db, Sealer: sealer})

	c := &models.Connection{TenantID: tenant.ID, Name: "c", AccountID: "111122223333", DefaultRegion: "eu-west-1", Kind: awskms.KindAssumeRole}
	if err := db.CreateConnection(ctx, c, models.AuditInput{Action: "connection.created"}); err != nil {
		t.Fatal(err)
	}
	st := &models.KeyStore{TenantID: tenant.ID, ConnectionID: c.ID, Region: "eu-west-1", Name: "store", CreatedBy: u.ID}
	if err := db.CreateKeyStore(ctx, st, models.AuditInput{Action: "store.created"}); err != nil {
		t.Fatal(err)
	}

	// A held key's material, sealed as keysvc/managed seals it.
	material := make([]byte, 32)
	rand.Read(material)
	fp, err := Fingerprint(material)
	if err != nil {
		t.Fatal(err)
	}
	matID := models.NewID("mat_")
	sealed, err := sealer.Seal(seal.MaterialPurpose(matID), material)
	if err != nil {
		t.Fatal(err)
	}
	nk := &models.NewManagedKey{
		Key:      models.Key{TenantID: tenant.ID, ConnectionID: c.ID, Name: "held", Mode: models.ModeImported, CreatedBy: u.ID},
		Managed:  models.ManagedKey{StoreID: st.ID, Held: true},
		Material: models.KeyMaterial{ID: matID, Source: models.SourceTenant, Sealed: sealed, Fingerprint: fp, CreatedBy: u.ID},
		Op:       models.KeyOperation{Kind: models.OpCreate, Actor: u.ID},
	}
	if err := db.StartManagedKey(ctx, nk, models.AuditInput{Actor: u.ID, Action: "key.create_started"}); err != nil {
		t.Fatal(err)
	}
	keyID := nk.Key.ID
	w, err := svc.WrapHeld(ctx, tenant.ID, keyID, 1, matID)
	if err != nil {
		t.Fatal(err)
	}
	w.Version = 1
	open := func(keyID string, w models.DataKeyWrap) error {
		dk, err := svc.unwrapHeld(ctx, keyMeta{TenantID: tenant.ID, ID: keyID}, w)
		clear(dk)
		return err
	}
	if err := open(keyID, w); err != nil {
		t.Fatalf("the wrap does not open as its own key: %v", err)
	}
	if err := open("key_other", w); err == nil {
		t.Error("a held wrap opened under another key id")
	}
	if err := open(keyID, models.DataKeyWrap{Version: 2, KMSKeyARN: w.KMSKeyARN, Ciphertext: w.Ciphertext}); !errors.Is(err, envelope.ErrDecrypt) {
		t.Errorf("a held wrap opened as another version: %v", err)
	}

	// Deleted: the window passed and the material is erased.
	at := time.Now().Add(-time.Hour)
	if _, err := db.SetKeyDeletion(ctx, tenant.ID, keyID, &at, models.StatePendingDeletion, models.AuditInput{Actor: u.ID, Action: "key.deletion_scheduled"}); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkKeyDeleted(ctx, tenant.ID, keyID, models.AuditInput{Actor: "keyport:scheduler", Action: "key.deleted"}); err != nil {
		t.Fatal(err)
	}
	if err := open(keyID, w); err == nil {
		t.Error("a deleted held key's data key still unwraps")
	}
}
