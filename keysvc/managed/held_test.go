package managed

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"testing"
	"time"

	"keyport/keysvc"
	"keyport/keysvc/awskms"
	"keyport/models"
)

// importHeld makes an import request and uploads material to it while the
// provider keeps imported keys with keyport.
func (e *lcEnv) importHeld(t *testing.T, name string, material []byte) *OperationResult {
	t.Helper()
	ctx := context.Background()
	nr, err := e.svc.CreateImportRequest(ctx, e.tenant.ID, e.by, e.store.ID, name)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode([]byte(nr.Request.PublicKeyPEM))
	pk, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	wrapped, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pk.(*rsa.PublicKey), material, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.svc.CompleteImport(ctx, e.tenant.ID, e.by, nr.Request.ID, ImportUpload{Token: nr.Token,
		WrappedB64: base64.StdEncoding.EncodeToString(wrapped), Alias: "alias/ignored", ValidDays: 30})
	if err != nil || !res.Done() {
		t.Fatalf("import: %+v %v", res, err)
	}
	return res
}

func TestProviderSettingImportedKeyUse(t *testing.T) {
	e := newLCEnv(t)
	ctx := context.Background()
	if ps, _ := e.keys.ProviderSettings(ctx); ps.ImportedKeyUse != keysvc.ImportedIntoKMS {
		t.Errorf("default = %q, want %q", ps.ImportedKeyUse, keysvc.ImportedIntoKMS)
	}
	var ve *keysvc.ValidationError
	if _, err := e.keys.UpdateProviderSettings(ctx, e.by, keysvc.ProviderSettingsInput{ImportedKeyUse: "somewhere"}); !errors.As(err, &ve) || ve.Field != "imported_key_use" {
		t.Errorf("bad value: %v", err)
	}
	changed, err := e.keys.UpdateProviderSettings(ctx, e.by, keysvc.ProviderSettingsInput{ImportedKeyUse: keysvc.ImportedHeld})
	if err != nil || len(changed) == 0 {
		t.Fatalf("save: %v %v", changed, err)
	}
	if ps, _ := e.keys.ProviderSettings(ctx); ps.ImportedKeyUse != keysvc.ImportedHeld {
		t.Errorf("saved = %q", ps.ImportedKeyUse)
	}
}

// TestHeldImportedKey: with the provider keeping imported keys, the
// tenant's material never reaches KMS; the data path wraps and unwraps its
// data keys under the sealed material with no KMS call, and the lifecycle
// actions that need a KMS key are refused with a message saying why.
func TestHeldImportedKey(t *testing.T) {
	e := newLCEnv(t)
	ctx := context.Background()
	if _, err := e.keys.UpdateProviderSettings(ctx, e.by, keysvc.ProviderSettingsInput{ImportedKeyUse: keysvc.ImportedHeld}); err != nil {
		t.Fatal(err)
	}
	e.srv.ResetCalls()
	material := make([]byte, 32)
	rand.Read(material)
	res := e.importHeld(t, "provider use", material)
	keyID := res.Key.ID
	if res.Key.State != models.StateEnabled || res.Key.CurrentVersion != 1 || res.Key.Mode != models.ModeImported {
		t.Fatalf("key = %+v", res.Key)
	}
	for _, op := range []string{"CreateKey", "GetParametersForImport", "ImportKeyMaterial", "CreateAlias", "GenerateDataKey"} {
		if n := e.srv.Calls(op); n != 0 {
			t.Errorf("%s called %d times for a held key", op, n)
		}
	}
	mk, _ := e.db.GetManagedKey(ctx, e.tenant.ID, keyID)
	fp, _ := keysvc.Fingerprint(material)
	active, _ := e.db.ActiveMaterial(ctx, e.tenant.ID, keyID)
	if !mk.Held || mk.AliasName != "" || mk.ValidDays != 0 || active.Fingerprint != fp || active.KMSKeyARN != "" {
		t.Errorf("managed %+v, material %v (fingerprint %s, want %s)", mk, active, active.Fingerprint, fp)
	}

	// The data path, on a restarted service (nothing cached), makes no KMS call.
	enc, err := e.keys.Encrypt(ctx, e.tenant.ID, keyID, []byte("card 4111"), map[string]string{"field": "pan"})
	if err != nil {
		t.Fatal(err)
	}
	e.restart()
	dec, err := e.keys.Decrypt(ctx, e.tenant.ID, enc.Ciphertext, map[string]string{"field": "pan"})
	if err != nil {
		t.Fatalf("decrypt: %v", err)
	}
	if string(dec.Plaintext) != "card 4111" {
		t.Fatalf("decrypt = %q", dec.Plaintext)
	}
	if n := len(e.srv.CallCounts()); n != 0 {
		t.Errorf("the data path of a held key called KMS: %v", e.srv.CallCounts())
	}

	// That a held wrap opens only as its own key and version, and not
	// after deletion, is keysvc's TestHeldWrapBinding.

	// Actions on a KMS key are refused, with the reason.
	for name, f := range map[string]func() error{
		"renew":    func() error { _, err := e.svc.Renew(ctx, e.tenant.ID, e.by, keyID); return err },
		"rotate":   func() error { _, err := e.svc.RotateMaterialInPlace(ctx, e.tenant.ID, e.by, keyID); return err },
		"undo":     func() error { _, err := e.svc.UndoRenewal(ctx, e.tenant.ID, e.by, keyID); return err },
		"reupload": func() error { _, err := e.svc.Reupload(ctx, e.tenant.ID, e.by, keyID, ""); return err },
	} {
		if err := f(); !errors.Is(err, ErrHeldMaterial) {
			t.Errorf("%s: %v, want ErrHeldMaterial", name, err)
		}
	}

	// Rotation (on demand and the scheduler's) is a new data key under the same material.
	if v, err := e.keys.RotateDataKey(ctx, e.tenant.ID, keyID, e.by.UserID, "manual"); err != nil || v != 2 {
		t.Fatalf("rotate data key: %d %v", v, err)
	}
	if v, err := e.svc.renewFrom(ctx, e.tenant.ID, keyID, 2, "keyport:scheduler", "scheduled"); err != nil || v != 3 {
		t.Fatalf("scheduled rotation: %d %v", v, err)
	}
	e.restart()
	if _, err := e.keys.Decrypt(ctx, e.tenant.ID, enc.Ciphertext, map[string]string{"field": "pan"}); err != nil {
		t.Errorf("version 1 after rotations: %v", err)
	}
	if enc3, err := e.keys.Encrypt(ctx, e.tenant.ID, keyID, []byte("x"), nil); err != nil || enc3.Version != 3 {
		t.Errorf("encrypt after rotations: %+v %v", enc3, err)
	}

	// Validation and drift need no KMS either.
	k, checks, err := e.keys.CheckKey(ctx, e.tenant.ID, e.by, keyID)
	if err != nil || k.Health != models.HealthOK || len(checks) != 2 || !checks[0].OK || !checks[1].OK {
		t.Errorf("check: %v %+v %v", k, checks, err)
	}
	if ds, err := e.svc.CheckDrift(ctx, e.tenant.ID, e.by, keyID); err != nil || len(ds) != 0 {
		t.Errorf("drift: %v %v", ds, err)
	}
	if n := len(e.srv.CallCounts()); n != 0 {
		t.Errorf("a held key called KMS: %v", e.srv.CallCounts())
	}

	// Deactivate stops the data path at once; activate brings it back.
	if res, err := e.svc.Deactivate(ctx, e.tenant.ID, e.by, keyID); err != nil || !res.Done() {
		t.Fatalf("deactivate: %v %+v", err, res)
	}
	if _, err := e.keys.Decrypt(ctx, e.tenant.ID, enc.Ciphertext, map[string]string{"field": "pan"}); !errors.Is(err, awskms.ErrKeyDisabled) {
		t.Errorf("decrypt while deactivated: %v", err)
	}
	if err := e.svc.Activate(ctx, e.tenant.ID, e.by, keyID); err != nil {
		t.Fatal(err)
	}
	if err := e.roundTrip(t, keyID); err != nil {
		t.Errorf("after activation: %v", err)
	}

	// Deletion: after the window the material is erased and nothing opens.
	if res, err := e.svc.ScheduleDeletion(ctx, e.tenant.ID, e.by, keyID, DeleteInput{WindowDays: 7, Acknowledge: true}); err != nil || !res.Done() {
		t.Fatalf("schedule deletion: %v %+v", err, res)
	}
	e.clk.Advance(8 * 24 * time.Hour)
	if err := e.svc.completeDeletions(ctx); err != nil {
		t.Fatal(err)
	}
	if k, _ := e.db.GetKey(ctx, e.tenant.ID, keyID); k.State != models.StateDeleted {
		t.Errorf("state after the window = %s", k.State)
	}
	if _, err := e.keys.Decrypt(ctx, e.tenant.ID, enc.Ciphertext, map[string]string{"field": "pan"}); err == nil {
		t.Error("a deleted held key still decrypts")
	}
	if n := len(e.srv.CallCounts()); n != 0 {
		t.Errorf("a held key called KMS: %v", e.srv.CallCounts())
	}
}

// TestHeldCreateResumesAfterCrash: a process that dies before or after the
// held key's one step leaves a key that a restarted process finishes, with
// exactly one data-key version and the tenant's material.
func TestHeldCreateResumesAfterCrash(t *testing.T) {
	for _, when := range []string{"before", "after"} {
		t.Run(when, func(t *testing.T) {
			e := newLCEnv(t)
			ctx := context.Background()
			if _, err := e.keys.UpdateProviderSettings(ctx, e.by, keysvc.ProviderSettingsInput{ImportedKeyUse: keysvc.ImportedHeld}); err != nil {
				t.Fatal(err)
			}
			if when == "before" {
				e.svc.lifecycle().beforeRun = func(*models.KeyOperation) { panic(errCrash) }
			} else {
				e.svc.lifecycle().hook = func(_ *models.KeyOperation, step string) error {
					if step == stepHeldCommit {
						return errCrash
					}
					return nil
				}
			}
			material := make([]byte, 32)
			rand.Read(material)
			nr, err := e.svc.CreateImportRequest(ctx, e.tenant.ID, e.by, e.store.ID, "crashing")
			if err != nil {
				t.Fatal(err)
			}
			block, _ := pem.Decode([]byte(nr.Request.PublicKeyPEM))
			pk, _ := x509.ParsePKIXPublicKey(block.Bytes)
			wrapped, _ := rsa.EncryptOAEP(sha256.New(), rand.Reader, pk.(*rsa.PublicKey), material, nil)
			func() {
				defer func() { _ = recover() }() // the "crash"
				_, _ = e.svc.CompleteImport(ctx, e.tenant.ID, e.by, nr.Request.ID, ImportUpload{Token: nr.Token,
					WrappedB64: base64.StdEncoding.EncodeToString(wrapped)})
			}()
			ks, _ := e.db.ListKeys(ctx, e.tenant.ID)
			if len(ks) != 1 {
				t.Fatalf("%d keys after the crash", len(ks))
			}
			op := e.lastOp(t, ks[0].ID)
			if wantVersion := map[string]int64{"before": 0, "after": 1}[when]; ks[0].CurrentVersion != wantVersion {
				t.Fatalf("crash %s the step left version %d (operation %s at %s)", when, ks[0].CurrentVersion, op.State, op.Step)
			}
			e.resume(t)
			k, _ := e.db.GetKey(ctx, e.tenant.ID, ks[0].ID)
			vs, _ := e.db.DataKeyVersions(ctx, e.tenant.ID, k.ID)
			active, err := e.db.ActiveMaterial(ctx, e.tenant.ID, k.ID)
			fp, _ := keysvc.Fingerprint(material)
			if k.State != models.StateEnabled || k.CurrentVersion != 1 || len(vs) != 1 || err != nil || active.Fingerprint != fp {
				t.Fatalf("after resume: key %s v%d, %d versions, material %v %v", k.State, k.CurrentVersion, len(vs), active, err)
			}
			if err := e.roundTrip(t, k.ID); err != nil {
				t.Fatal(err)
			}
			if n := len(e.srv.CallCounts()); n != 0 {
				t.Errorf("KMS was called: %v", e.srv.CallCounts())
			}
		})
	}
}
