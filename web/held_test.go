package web_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"keyport/keysvc"
	"keyport/models"
)

// TestHeldImportOverHTTP: when the provider keeps imported keys with
// keyport, the import pages say so before the upload, the tenant's key
// never reaches KMS, the key page offers only what applies to a key with no
// KMS key, and the data API encrypts and decrypts with it without a KMS
// call.
func TestHeldImportOverHTTP(t *testing.T) {
	s := lifecycleStack(t)
	b := newBrowser(t)
	s.signIn(t, b, erin)
	tenant := s.tenantOf(t, erin)
	ctx := context.Background()
	storeID, _ := s.newStoreAndKey(t, b, "orders")
	if _, err := s.Keys.UpdateProviderSettings(ctx, keysvc.RequestBy{UserID: "ops"}, keysvc.ProviderSettingsInput{ImportedKeyUse: keysvc.ImportedHeld}); err != nil {
		t.Fatal(err)
	}
	s.KMS.ResetCalls()

	imp := s.newImportOnPages(t, b, storeID, "held key")
	if !strings.Contains(imp.List, `data-testid="import-held"`) || strings.Contains(imp.List, `data-testid="import-kms"`) {
		t.Fatal("the import page does not say the key stays with keyport")
	}
	theirs := make([]byte, 32)
	rand.Read(theirs)
	_, up := b.get(t, s.URL+"/import-requests/"+imp.ID)
	if !strings.Contains(up, `data-testid="import-held"`) || strings.Contains(up, `name="alias"`) {
		t.Fatal("the upload form asks for KMS settings of a key that stays with keyport")
	}
	res, page := b.post(t, s.URL+"/import-requests/"+imp.ID+"/upload", url.Values{"csrf_token": {csrfToken(t, up)}, "import_token": {imp.Token},
		"wrapped_key": {imp.wrap(theirs)}}, nil)
	fp, _ := keysvc.Fingerprint(theirs)
	if res.StatusCode != http.StatusOK || res.Request.URL.Query().Get("done") != "create" || !strings.Contains(page, fp) {
		t.Fatalf("upload: %d %s", res.StatusCode, res.Request.URL)
	}
	keyID := lastSegment(res.Request.URL.Path)
	if !strings.Contains(page, `data-testid="held"`) || strings.Contains(page, `data-testid="alias"`) {
		t.Error("the key page does not say keyport keeps the material")
	}
	for _, absent := range []string{"/renew", "/rotate-material", "/reupload", "/drift", "/undo"} {
		if strings.Contains(page, `action="/keys/`+keyID+absent+`"`) || strings.Contains(page, `href="/keys/`+keyID+`/confirm`+absent+`"`) {
			t.Errorf("the key page offers %s for a key with no KMS key", absent)
		}
	}
	if !strings.Contains(page, `href="/keys/`+keyID+`/confirm/deactivate"`) || !strings.Contains(page, `data-testid="export-link"`) {
		t.Error("the key page lacks deactivate or export")
	}
	// Its rotation is a new data key: no KMS options on the rotation page.
	if _, rp := b.get(t, s.URL+"/keys/"+keyID+"/rotation"); !strings.Contains(rp, `data-testid="rotate-now"`) ||
		strings.Contains(rp, `name="kms_rotate_on_demand"`) || strings.Contains(rp, `data-testid="rotate-kms"`) {
		t.Error("the held key's rotation page offers KMS rotation, or no rotation at all")
	}
	// A hand-made POST of a KMS action is refused with the reason.
	res, page = b.post(t, s.URL+"/keys/"+keyID+"/renew", url.Values{"csrf_token": {csrfToken(t, page)}}, nil)
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "has no KMS key") {
		t.Errorf("renew of a held key: %d", res.StatusCode)
	}

	// The data path: a purge drops the cached data key, so the decrypt
	// unwraps it again, under the held material.
	enc, err := s.Keys.Encrypt(ctx, tenant, keyID, []byte("held data"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Keys.Purge(ctx, tenant, keyID, "test"); err != nil {
		t.Fatal(err)
	}
	if dec, err := s.Keys.Decrypt(ctx, tenant, enc.Ciphertext, nil); err != nil || string(dec.Plaintext) != "held data" {
		t.Fatalf("decrypt: %v", err)
	}
	if calls := s.KMS.CallCounts(); len(calls) != 0 {
		t.Errorf("a held key reached KMS: %v", calls)
	}
	mk, _ := s.DB.GetManagedKey(ctx, tenant, keyID)
	if k, _ := s.DB.GetKey(ctx, tenant, keyID); !mk.Held || k.Mode != models.ModeImported || k.State != models.StateEnabled {
		t.Errorf("key %+v, managed %+v", k, mk)
	}
	if strings.Contains(s.Logs.String(), base64.StdEncoding.EncodeToString(theirs)) || strings.Contains(s.Logs.String(), imp.Token) {
		t.Error("the log holds the tenant's key or the import token")
	}
}

// TestHeldImportOverDataAPI: the same over the data API, which the
// provider's services use: the upload answers with an ENABLED key, and
// encrypt and decrypt work with no KMS call.
func TestHeldImportOverDataAPI(t *testing.T) {
	s, storeID := importAPIStack(t)
	ctx := context.Background()
	if _, err := s.Service.UpdateProviderSettings(ctx, keysvc.RequestBy{UserID: "ops"}, keysvc.ProviderSettingsInput{ImportedKeyUse: keysvc.ImportedHeld}); err != nil {
		t.Fatal(err)
	}
	s.KMS.ResetCalls()
	req := s.newImportRequest(t, storeID, "held key")
	material := make([]byte, 32)
	rand.Read(material)
	st, out, _ := s.call(t, "POST", "/api/v1/import-requests/"+req.ID+"/upload", s.TenantToken,
		map[string]any{"import_token": req.Token, "wrapped_key": wrapOAEP(t, req.Public, material)})
	fp, _ := keysvc.Fingerprint(material)
	keyID, _ := out["key_id"].(string)
	if st != 201 || keyID == "" || out["fingerprint"] != fp || out["state"] != string(models.StateEnabled) {
		t.Fatalf("upload: %d %v", st, out)
	}
	st, enc, _ := s.call(t, "POST", "/api/v1/encrypt", s.TenantToken, map[string]any{"key_id": keyID, "plaintext": b64("held")})
	if st != 200 {
		t.Fatalf("encrypt: %d %v", st, enc)
	}
	if err := s.Service.Purge(ctx, s.Tenant.ID, keyID, "test"); err != nil {
		t.Fatal(err)
	}
	st, dec, _ := s.call(t, "POST", "/api/v1/decrypt", s.TenantToken, map[string]any{"ciphertext": enc["ciphertext"]})
	if st != 200 || dec["plaintext"] != b64("held") || dec["key_id"] != keyID {
		t.Fatalf("decrypt: %d %v", st, dec)
	}
	if calls := s.KMS.CallCounts(); len(calls) != 0 {
		t.Errorf("a held key reached KMS: %v", calls)
	}
}
