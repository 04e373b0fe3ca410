package web_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"hash"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"keyport/keysvc"
	"keyport/keysvc/managed"
	"keyport/models"
)

// replImport makes an import request over the data API with body and
// returns it, checking the wrapping it answers.
func (s *apiStack) replImport(t *testing.T, body map[string]any, wantWrapping string) apiImport {
	t.Helper()
	st, out, _ := s.call(t, "POST", "/api/v1/import-requests", s.TenantToken, body)
	if st != 201 || out["wrapping"] != wantWrapping {
		t.Fatalf("import request %v: %d %v, want wrapping %s", body, st, out, wantWrapping)
	}
	r := apiImport{body: out}
	r.ID, _ = out["id"].(string)
	r.Token, _ = out["import_token"].(string)
	pemText, _ := out["public_key"].(string)
	block, _ := pem.Decode([]byte(pemText))
	if block == nil {
		t.Fatalf("public_key is not PEM: %q", pemText)
	}
	pk, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	r.Public = pk.(*rsa.PublicKey)
	return r
}

func wrapOAEPWith(t *testing.T, h hash.Hash, pub *rsa.PublicKey, key []byte) string {
	t.Helper()
	w, err := rsa.EncryptOAEP(h, rand.Reader, pub, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(w)
}

// TestImportWrappingChoice: an import request offers RSAES_OAEP_SHA_256
// (the default) and RSAES_OAEP_SHA_1, refuses anything else naming both,
// and its upload unwraps with exactly the chosen one.
func TestImportWrappingChoice(t *testing.T) {
	s, storeID := importAPIStack(t)
	ctx := context.Background()

	for _, bad := range []string{"RSAES_OAEP_SHA_512", "rsaes_oaep_sha_1", "RSAES_PKCS1_V1_5", "RSA_AES_KEY_WRAP_SHA_256"} {
		st, out, _ := s.call(t, "POST", "/api/v1/import-requests", s.TenantToken, map[string]any{"store_id": storeID, "key_name": "x", "wrapping": bad})
		if st != 400 || errCode(out) != "invalid_request" || errMessage(out) != "wrapping: must be RSAES_OAEP_SHA_256 (the default) or RSAES_OAEP_SHA_1" {
			t.Errorf("wrapping %q: %d %v", bad, st, out)
		}
	}
	if rs, _ := s.DB.ListImportRequests(ctx, s.Tenant.ID); len(rs) != 0 {
		t.Fatalf("a refused wrapping made %d request(s)", len(rs))
	}

	def := s.replImport(t, map[string]any{"store_id": storeID, "key_name": "default"}, "RSAES_OAEP_SHA_256")
	sha1Req := s.replImport(t, map[string]any{"store_id": storeID, "key_name": "sha1", "wrapping": "RSAES_OAEP_SHA_1"}, "RSAES_OAEP_SHA_1")
	material := make([]byte, 32)
	rand.Read(material)
	msg := func(e *keysvc.ValidationError) string { return e.Field + ": " + e.Message }

	// Each request accepts exactly its own wrapping.
	for _, tt := range []struct {
		req  apiImport
		h    func() hash.Hash
		want string
	}{{def, sha1.New, msg(managed.ErrImportBadWrapping)}, {sha1Req, sha256.New, msg(managed.ErrImportBadWrappingSHA1)}} {
		st, out, _ := s.call(t, "POST", "/api/v1/import-requests/"+tt.req.ID+"/upload", s.TenantToken,
			map[string]any{"import_token": tt.req.Token, "wrapped_key": wrapOAEPWith(t, tt.h(), tt.req.Public, material)})
		if st != 400 || errMessage(out) != tt.want {
			t.Errorf("the other wrapping for %s: %d %v", tt.req.ID, st, out)
		}
	}
	if !strings.Contains(msg(managed.ErrImportBadWrappingSHA1), "SHA-1") {
		t.Error("the SHA-1 refusal does not name SHA-1")
	}
	if ks, _ := s.DB.ListKeys(ctx, s.Tenant.ID); len(ks) != 0 {
		t.Fatalf("a refused wrapping left %d key(s)", len(ks))
	}

	fp, _ := keysvc.Fingerprint(material)
	for _, tt := range []struct {
		req   apiImport
		h     func() hash.Hash
		alias string
	}{{sha1Req, sha1.New, "alias/keyport/sha1"}, {def, sha256.New, "alias/keyport/default"}} {
		st, out, _ := s.call(t, "POST", "/api/v1/import-requests/"+tt.req.ID+"/upload", s.TenantToken,
			map[string]any{"import_token": tt.req.Token, "wrapped_key": wrapOAEPWith(t, tt.h(), tt.req.Public, material), "alias": tt.alias})
		if st != 201 || out["fingerprint"] != fp || out["operation"] != models.OpDone {
			t.Fatalf("upload with its own wrapping: %d %v", st, out)
		}
	}
	r, _ := s.DB.GetImportRequest(ctx, s.Tenant.ID, sha1Req.ID)
	if r.Wrapping != "RSAES_OAEP_SHA_1" || r.State != models.ImportUsed {
		t.Errorf("request recorded %s %s", r.Wrapping, r.State)
	}
	evs, _ := s.DB.AuditEvents(ctx, models.TenantScope(s.Tenant.ID), models.AuditFilter{Action: "import_request.created"})
	sawSHA1 := false
	for _, e := range evs {
		sawSHA1 = sawSHA1 || strings.Contains(e.Details, `"wrapping":"RSAES_OAEP_SHA_1"`)
	}
	if !sawSHA1 {
		t.Error("the audit event of the request does not name its wrapping")
	}
}

// TestReimportBackupCopy: after KMS lost an imported key's material, the
// tenant re-imports its own backup through a re-import request. Another
// material is refused naming the fingerprints (never the material) and
// leaves the request usable; the backup is imported again into the same
// KMS key, which works again.
func TestReimportBackupCopy(t *testing.T) {
	s, storeID := importAPIStack(t)
	ctx := context.Background()
	material := make([]byte, 32)
	rand.Read(material)
	fp, _ := keysvc.Fingerprint(material)

	req := s.replImport(t, map[string]any{"store_id": storeID, "key_name": "ledger", "wrapping": "RSAES_OAEP_SHA_1"}, "RSAES_OAEP_SHA_1")
	st, out, _ := s.call(t, "POST", "/api/v1/import-requests/"+req.ID+"/upload", s.TenantToken,
		map[string]any{"import_token": req.Token, "wrapped_key": wrapOAEPWith(t, sha1.New(), req.Public, material), "alias": "alias/keyport/ledger"})
	keyID, _ := out["key_id"].(string)
	if st != 201 || out["fingerprint"] != fp {
		t.Fatalf("first import: %d %v", st, out)
	}
	mats, _ := s.DB.KeyMaterials(ctx, s.Tenant.ID, keyID)
	arn := mats[0].KMSKeyARN

	// An AWS outage: the KMS key loses its imported material.
	if err := s.KMS.LoseKeyMaterial(arn); err != nil {
		t.Fatal(err)
	}
	kmsState := func() kmstypes.KeyState {
		d, err := s.Admin.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(arn)})
		if err != nil {
			t.Fatal(err)
		}
		return d.KeyMetadata.KeyState
	}
	if st := kmsState(); st != kmstypes.KeyStatePendingImport {
		t.Fatalf("KMS state after the loss: %s", st)
	}

	// Refusals of the re-import request itself.
	for _, tt := range []struct {
		body map[string]any
		msg  string
	}{
		{map[string]any{"key_id": "key_nope"}, "key_id: choose one of your keys whose material keyport imported into your KMS"},
		{map[string]any{"key_id": keyID, "wrapping": "SHA1"}, "wrapping: must be RSAES_OAEP_SHA_256 (the default) or RSAES_OAEP_SHA_1"},
		{map[string]any{"key_id": keyID, "store_id": storeID, "key_name": "new"}, "key_id: re-imports the material of an existing key: give it without store_id and key_name"},
	} {
		if st, out, _ := s.call(t, "POST", "/api/v1/import-requests", s.TenantToken, tt.body); st != 400 || errMessage(out) != tt.msg {
			t.Errorf("re-import request %v: %d %v", tt.body, st, out)
		}
	}
	cmk := s.Key(t, "customer managed") // mode 1: keyport holds no material
	if st, out, _ := s.call(t, "POST", "/api/v1/import-requests", s.TenantToken, map[string]any{"key_id": cmk.ID}); st != 400 ||
		errMessage(out) != "key_id: choose one of your keys whose material keyport imported into your KMS" {
		t.Errorf("re-import into a customer-managed key: %d %v", st, out)
	}

	re := s.replImport(t, map[string]any{"key_id": keyID}, "RSAES_OAEP_SHA_256")
	if re.body["key_id"] != keyID {
		t.Errorf("re-import request does not name its key: %v", re.body)
	}
	upload := "/api/v1/import-requests/" + re.ID + "/upload"

	// A different material: refused, naming both fingerprints.
	other := make([]byte, 32)
	rand.Read(other)
	otherFP, _ := keysvc.Fingerprint(other)
	st, out, _ = s.call(t, "POST", upload, s.TenantToken, map[string]any{"import_token": re.Token, "wrapped_key": wrapOAEP(t, re.Public, other)})
	want := "wrapped_key: fingerprint mismatch: the uploaded key has fingerprint " + otherFP + ", but the material of key ledger has fingerprint " + fp +
		": upload your backup of this key's material"
	if st != 400 || errCode(out) != "invalid_request" || errMessage(out) != want {
		t.Fatalf("other material: %d %v\nwant %q", st, out, want)
	}
	for _, secret := range []string{base64.StdEncoding.EncodeToString(other), base64.StdEncoding.EncodeToString(material)} {
		if strings.Contains(errMessage(out), secret) || strings.Contains(s.Logs.String(), secret) {
			t.Error("the refusal or the log holds key material")
		}
	}
	if r, _ := s.DB.GetImportRequest(ctx, s.Tenant.ID, re.ID); r.State != models.ImportOpen || len(r.PrivateSealed) == 0 {
		t.Errorf("a refused re-import used up the request: %s", r.State)
	}
	if ops, _ := s.DB.KeyOperations(ctx, s.Tenant.ID, keyID, 10); len(ops) != 1 {
		t.Errorf("a refused re-import started an operation: %d operations", len(ops))
	}
	if st := kmsState(); st != kmstypes.KeyStatePendingImport {
		t.Errorf("a refused re-import changed KMS: %s", st)
	}

	// The backup: imported again into the same KMS key.
	st, out, _ = s.call(t, "POST", upload, s.TenantToken, map[string]any{"import_token": re.Token, "wrapped_key": wrapOAEP(t, re.Public, material)})
	if st != 201 || out["key_id"] != keyID || out["fingerprint"] != fp || out["operation"] != models.OpDone || out["reimported"] != true {
		t.Fatalf("re-import: %d %v", st, out)
	}
	if st := kmsState(); st != kmstypes.KeyStateEnabled {
		t.Errorf("KMS state after the re-import: %s", st)
	}
	if ks, _ := s.DB.ListKeys(ctx, s.Tenant.ID); len(ks) != 2 {
		t.Errorf("the re-import made a new key: %d keys", len(ks))
	}
	if ms, _ := s.DB.KeyMaterials(ctx, s.Tenant.ID, keyID); len(ms) != 1 || ms[0].KMSKeyARN != arn {
		t.Errorf("the re-import changed the key's materials: %+v", ms)
	}
	r, _ := s.DB.GetImportRequest(ctx, s.Tenant.ID, re.ID)
	if r.State != models.ImportUsed || r.KeyID != keyID || len(r.PrivateSealed) != 0 {
		t.Errorf("used re-import request: %s %q", r.State, r.KeyID)
	}
	// The key works on the data path again, straight from KMS.
	s.Service.PurgeKey(s.Tenant.ID, keyID)
	if st, enc, _ := s.call(t, "POST", "/api/v1/encrypt", s.TenantToken, map[string]any{"key_id": keyID, "plaintext": b64("x")}); st != 200 {
		t.Errorf("encrypt after the re-import: %d %v", st, enc)
	}
	acts := map[string]bool{}
	evs, _ := s.DB.AuditEvents(ctx, models.TenantScope(s.Tenant.ID), models.AuditFilter{})
	for _, e := range evs {
		acts[e.Action] = true
		if e.Action == "import_request.used" && e.TargetID == re.ID && !strings.Contains(e.Details, `"reimport":"true"`) {
			t.Errorf("the re-import's audit event: %s", e.Details)
		}
	}
	for _, a := range []string{"key.reupload_started", "key.reupload_completed", "key.material_imported"} {
		if !acts[a] {
			t.Errorf("no %s event", a)
		}
	}
	// The token works once.
	if st, out, _ := s.call(t, "POST", upload, s.TenantToken, map[string]any{"import_token": re.Token, "wrapped_key": wrapOAEP(t, re.Public, material)}); st != 400 ||
		errMessage(out) != "import_token: "+managed.ErrImportTokenUsed.Message {
		t.Errorf("reused re-import token: %d %v", st, out)
	}
}
