package managed

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	jose "github.com/go-jose/go-jose/v4"

	"keyport/keysvc"
	"keyport/keysvc/awskms"
	"keyport/keysvc/kwp"
	"keyport/models"
)

func TestLifecycleStatesAndDeletion(t *testing.T) {
	e := newLCEnv(t)
	ctx := context.Background()
	keyID := e.create(t, "billing", 0).Key.ID
	if err := e.svc.DeleteStore(ctx, e.tenant.ID, e.by, e.store.ID); !errorsAsStore(err) {
		t.Fatalf("delete store with a live key: %v", err)
	}
	if res, err := e.svc.Deactivate(ctx, e.tenant.ID, e.by, keyID); err != nil || !res.Done() {
		t.Fatalf("deactivate: %v %+v", err, res)
	}
	if err := e.roundTrip(t, keyID); !errors.Is(err, awskms.ErrKeyDisabled) {
		t.Fatalf("data path on a deactivated key: %v", err)
	}
	if err := e.svc.Activate(ctx, e.tenant.ID, e.by, keyID); err != nil {
		t.Fatal(err)
	}
	if err := e.roundTrip(t, keyID); err != nil {
		t.Fatal(err)
	}
	var dep *DependencyError
	if _, err := e.svc.ScheduleDeletion(ctx, e.tenant.ID, e.by, keyID, DeleteInput{WindowDays: 7}); !errors.As(err, &dep) || dep.Versions != 1 {
		t.Fatalf("unacknowledged deletion: %v", err)
	}
	if _, err := e.svc.ScheduleDeletion(ctx, e.tenant.ID, e.by, keyID, DeleteInput{WindowDays: 5, Acknowledge: true}); err == nil {
		t.Fatal("a 5-day window was accepted")
	}
	res, err := e.svc.ScheduleDeletion(ctx, e.tenant.ID, e.by, keyID, DeleteInput{WindowDays: 7, Acknowledge: true})
	if err != nil || !res.Done() || res.Key.State != models.StatePendingDeletion {
		t.Fatalf("schedule deletion: %+v %v", res, err)
	}
	k := res.Key
	if w := e.world(t); len(w.deleting[keyID]) != 1 {
		t.Fatalf("KMS keys pending deletion: %+v", w)
	}
	if k, err = e.svc.CancelDeletion(ctx, e.tenant.ID, e.by, keyID); err != nil || k.State != models.StateDisabled {
		t.Fatalf("cancel: %+v %v", k, err)
	}
	if _, err := e.svc.ScheduleDeletion(ctx, e.tenant.ID, e.by, keyID, DeleteInput{WindowDays: 7, Acknowledge: true}); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(8 * 24 * time.Hour)
	if err := e.svc.completeDeletions(ctx); err != nil {
		t.Fatal(err)
	}
	k, _ = e.db.GetKey(ctx, e.tenant.ID, keyID)
	ms, _ := e.db.KeyMaterials(ctx, e.tenant.ID, keyID)
	if k.State != models.StateDeleted || len(ms[0].Sealed) != 0 {
		t.Fatalf("after the window: %s, sealed %d bytes", k.State, len(ms[0].Sealed))
	}
	if err := e.svc.DeleteStore(ctx, e.tenant.ID, e.by, e.store.ID); err != nil {
		t.Fatalf("delete store with only deleted keys: %v", err)
	}
}

func errorsAsStore(err error) bool {
	var se *models.StoreNotEmptyError
	return errors.As(err, &se) && len(se.Blocking) == 1
}

// openRSAExport undoes either RSA export form with the private key.
func openRSAExport(t *testing.T, priv *rsa.PrivateKey, alg string, body []byte) []byte {
	t.Helper()
	if alg == WrapOAEPSHA256 {
		out, err := rsa.DecryptOAEP(sha256.New(), nil, priv, body, nil)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	n := priv.Size()
	aesKey, err := rsa.DecryptOAEP(sha256.New(), nil, priv, body[:n], nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := kwp.Unwrap(aesKey, body[n:])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestExportAndApproval(t *testing.T) {
	e := newLCEnv(t)
	ctx := context.Background()
	keyID := e.create(t, "exported", 0).Key.ID
	active, _ := e.db.ActiveMaterial(ctx, e.tenant.ID, keyID)
	priv, _ := rsa.GenerateKey(rand.Reader, 3072)
	der, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	pubPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	for _, alg := range []string{WrapOAEPSHA256, WrapRSAAESKWP256} {
		f, err := e.svc.Export(ctx, e.tenant.ID, e.by, keyID, ExportInput{Format: ExportRSA, PublicKeyPEM: pubPEM, Algorithm: alg})
		if err != nil {
			t.Fatal(err)
		}
		if fp, _ := keysvc.Fingerprint(openRSAExport(t, priv, alg, f.Body)); fp != active.Fingerprint || f.Fingerprint != fp {
			t.Errorf("%s: exported fingerprint %s, keyport %s", alg, fp, active.Fingerprint)
		}
	}
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	sder, _ := x509.MarshalPKIXPublicKey(&small.PublicKey)
	if _, err := e.svc.Export(ctx, e.tenant.ID, e.by, keyID, ExportInput{Format: ExportRSA,
		PublicKeyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: sder}))}); err == nil {
		t.Error("a 1024-bit key was accepted")
	}
	pass := "correct horse battery staple"
	f, err := e.svc.Export(ctx, e.tenant.ID, e.by, keyID, ExportInput{Format: ExportJWE, Passphrase: pass})
	if err != nil {
		t.Fatal(err)
	}
	obj, err := jose.ParseEncrypted(string(f.Body), []jose.KeyAlgorithm{jose.PBES2_HS512_A256KW}, []jose.ContentEncryption{jose.A256GCM})
	if err != nil {
		t.Fatal(err)
	}
	payload, err := obj.Decrypt([]byte(pass))
	if err != nil {
		t.Fatal(err)
	}
	var j jwk
	_ = json.Unmarshal(payload, &j)
	raw, _ := base64.RawURLEncoding.DecodeString(j.K)
	if fp, _ := keysvc.Fingerprint(raw); fp != active.Fingerprint || obj.Header.ExtraHeaders["p2c"] == nil {
		t.Errorf("JWE export: fingerprint %s, header %+v", fp, obj.Header)
	}
	if _, err := e.svc.Export(ctx, e.tenant.ID, e.by, keyID, ExportInput{Format: ExportJWE, Passphrase: "short"}); err == nil {
		t.Error("a short passphrase was accepted")
	}
	for _, ev := range must(e.db.ListAudit(ctx, e.tenant.ID, 1000)) {
		if strings.Contains(ev.Details, pass) || strings.Contains(ev.Details, j.K) {
			t.Fatal("the audit log holds a secret")
		}
	}

	// With approval required, an export needs another admin's yes, once.
	other := e.member(t, "second@tenant.test", models.RoleAdmin, "")
	e.clk.Advance(DefaultApproverMinAge + time.Hour)
	if err := e.svc.SetApprovalSettings(ctx, e.by, ApprovalSettings{Export: true, ApproverMinAge: DefaultApproverMinAge}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Export(ctx, e.tenant.ID, e.by, keyID, ExportInput{Format: ExportJWE, Passphrase: pass}); !errors.Is(err, ErrApprovalRequired) {
		t.Fatalf("export without approval: %v", err)
	}
	a, err := e.svc.RequestApproval(ctx, e.tenant.ID, e.by, keyID, models.ApprovalExport)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.DecideApproval(ctx, e.tenant.ID, e.by, keyID, a.ID, true); err == nil {
		t.Fatal("the requester approved their own request")
	}
	if _, err := e.svc.DecideApproval(ctx, e.tenant.ID, other, keyID, a.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Export(ctx, e.tenant.ID, e.by, keyID, ExportInput{Format: ExportJWE, Passphrase: pass, ApprovalID: a.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Export(ctx, e.tenant.ID, e.by, keyID, ExportInput{Format: ExportJWE, Passphrase: pass, ApprovalID: a.ID}); !errors.Is(err, ErrApprovalRequired) {
		t.Fatalf("second use of one approval: %v", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestImportRequestMode3(t *testing.T) {
	e := newLCEnv(t)
	ctx := context.Background()
	nr, err := e.svc.CreateImportRequest(ctx, e.tenant.ID, e.by, e.store.ID, "tenant key")
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode([]byte(nr.Request.PublicKeyPEM))
	pk, _ := x509.ParsePKIXPublicKey(block.Bytes)
	pub := pk.(*rsa.PublicKey)
	wrap := func(b []byte) string {
		out, _ := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, b, nil)
		return base64.StdEncoding.EncodeToString(out)
	}
	material := make([]byte, 32)
	rand.Read(material)
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	badWrap, _ := rsa.EncryptOAEP(sha256.New(), rand.Reader, &other.PublicKey, material, nil)
	for name, c := range map[string]struct {
		up   ImportUpload
		want error
	}{
		"wrong token":    {ImportUpload{Token: "kpi_nope", WrappedB64: wrap(material)}, ErrImportTokenInvalid},
		"wrong length":   {ImportUpload{Token: nr.Token, WrappedB64: wrap(material[:16])}, ErrImportBadLength},
		"wrong wrapping": {ImportUpload{Token: nr.Token, WrappedB64: base64.StdEncoding.EncodeToString(badWrap)}, ErrImportBadWrapping},
		"not base64":     {ImportUpload{Token: nr.Token, WrappedB64: "%%%"}, ErrImportBadBase64},
	} {
		if _, err := e.svc.CompleteImport(ctx, e.tenant.ID, e.by, nr.Request.ID, c.up); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	if ks, _ := e.db.ListKeys(ctx, e.tenant.ID); len(ks) != 0 {
		t.Fatalf("refusals left %d keys behind", len(ks))
	}
	res, err := e.svc.CompleteImport(ctx, e.tenant.ID, e.by, nr.Request.ID, ImportUpload{Token: nr.Token, WrappedB64: wrap(material)})
	if err != nil || !res.Done() || res.Key.Mode != models.ModeImported {
		t.Fatalf("import: %+v %v", res, err)
	}
	fp, _ := keysvc.Fingerprint(material)
	if m, _ := e.db.ActiveMaterial(ctx, e.tenant.ID, res.Key.ID); m.Fingerprint != fp || m.Source != models.SourceTenant {
		t.Errorf("material %v", m)
	}
	if _, err := e.svc.CompleteImport(ctx, e.tenant.ID, e.by, nr.Request.ID, ImportUpload{Token: nr.Token, WrappedB64: wrap(material)}); !errors.Is(err, ErrImportTokenUsed) {
		t.Errorf("reused token: %v", err)
	}
	if r, _ := e.db.GetImportRequest(ctx, e.tenant.ID, nr.Request.ID); len(r.PrivateSealed) != 0 {
		t.Error("the private key outlived its use")
	}
	late, _ := e.svc.CreateImportRequest(ctx, e.tenant.ID, e.by, e.store.ID, "late key")
	e.clk.Advance(25 * time.Hour)
	if _, err := e.svc.CompleteImport(ctx, e.tenant.ID, e.by, late.Request.ID, ImportUpload{Token: late.Token, WrappedB64: wrap(material)}); !errors.Is(err, ErrImportTokenExpired) {
		t.Errorf("expired token: %v", err)
	}
}

func TestReuploadAfterExpiryAndDrift(t *testing.T) {
	e := newLCEnv(t)
	ctx := context.Background()
	keyID := e.create(t, "expiring", 30).Key.ID
	active, _ := e.db.ActiveMaterial(ctx, e.tenant.ID, keyID)
	if err := e.srv.LoseKeyMaterial(active.KMSKeyARN); err != nil {
		t.Fatal(err)
	}
	ds, err := e.svc.CheckDrift(ctx, e.tenant.ID, e.by, keyID)
	if err != nil || len(ds) != 1 || ds[0].Field != DriftMaterial {
		t.Fatalf("drift after loss: %+v %v", ds, err)
	}
	if k, _ := e.db.GetKey(ctx, e.tenant.ID, keyID); k.Health != models.HealthDrift {
		t.Errorf("health %s", k.Health)
	}
	if err := e.svc.ReconcileDrift(ctx, e.tenant.ID, e.by, keyID, DriftMaterial, ReconcileRestore); err != nil {
		t.Fatal(err)
	}
	if k, _ := e.db.GetKey(ctx, e.tenant.ID, keyID); k.Health != models.HealthOK {
		t.Errorf("health after re-upload %s (%s)", k.Health, k.HealthDetail)
	}
	// Changes made directly in KMS: the alias moved, the key disabled.
	other := e.createKMSKey(t, cpRegion, nil)
	mk, _ := e.db.GetManagedKey(ctx, e.tenant.ID, keyID)
	if _, err := e.adminIn(cpRegion).UpdateAlias(ctx, &kms.UpdateAliasInput{AliasName: aws.String(mk.AliasName), TargetKeyId: aws.String(other)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.adminIn(cpRegion).DisableKey(ctx, &kms.DisableKeyInput{KeyId: aws.String(active.KMSKeyARN)}); err != nil {
		t.Fatal(err)
	}
	ds, _ = e.svc.CheckDrift(ctx, e.tenant.ID, e.by, keyID)
	if len(ds) != 2 {
		t.Fatalf("drift = %+v", ds)
	}
	if err := e.svc.ReconcileDrift(ctx, e.tenant.ID, e.by, keyID, DriftAlias, ReconcileRestore); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.ReconcileDrift(ctx, e.tenant.ID, e.by, keyID, DriftState, ReconcileAdopt); err != nil {
		t.Fatal(err)
	}
	k, _ := e.db.GetKey(ctx, e.tenant.ID, keyID)
	if left, _ := e.db.KeyDrifts(ctx, e.tenant.ID, keyID); len(left) != 0 || k.State != models.StateDisabled || k.Health != models.HealthOK {
		t.Fatalf("after reconciling: %+v, key %s %s", left, k.State, k.Health)
	}
	if e.aliasTarget(t, keyID) != active.KMSKeyARN {
		t.Error("alias not restored")
	}
}

// TestCommitAsksKMSForNoPlaintext: the commit step of create, renewal and
// in-place rotation keeps only the wrapped data key, so it asks KMS for
// none in plaintext (issue 17 #27). The validate step's round trip is the
// only GenerateDataKey.
func TestCommitAsksKMSForNoPlaintext(t *testing.T) {
	e := newLCEnv(t)
	ctx := context.Background()
	e.srv.ResetCalls()
	keyID := e.create(t, "no plaintext", 0).Key.ID
	if res, err := e.svc.Renew(ctx, e.tenant.ID, e.by, keyID); err != nil || !res.Done() {
		t.Fatalf("renew: %v %+v", err, res)
	}
	if res, err := e.svc.RotateMaterialInPlace(ctx, e.tenant.ID, e.by, keyID); err != nil || !res.Done() {
		t.Fatalf("rotate: %v %+v", err, res)
	}
	if n, w := e.srv.Calls("GenerateDataKey"), e.srv.Calls("GenerateDataKeyWithoutPlaintext"); n != 3 || w != 3 {
		t.Errorf("three operations made %d GenerateDataKey (want 3, the validations) and %d GenerateDataKeyWithoutPlaintext (want 3) calls", n, w)
	}
	if err := e.roundTrip(t, keyID); err != nil {
		t.Fatal(err)
	}
}
