package web_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"keyport/keysvc"
	"keyport/keysvc/managed"
	"keyport/models"
)

// importAPIStack is the data API stack with a key store on the tenant's
// connection, for tenant-imported keys (mode 3). The store's clock follows
// env.Clock so a test can let an import request expire.
func importAPIStack(t *testing.T) (*apiStack, string) {
	t.Helper()
	s := newAPIStack(t, keysvc.Config{})
	s.DB.SetNow(s.Clock.Now)
	s.Managed.PreferWrappingKeySpec("RSA_2048") // kmslocal's wrapping key, fast under -race
	st, err := s.Managed.CreateStore(context.Background(), s.Tenant.ID, keysvc.RequestBy{UserID: s.Owner.ID},
		managed.StoreInput{Name: "production", ConnectionID: s.Conn.ID})
	if err != nil {
		t.Fatal(err)
	}
	return s, st.ID
}

// apiImport is an import request as the data API handed it over.
type apiImport struct {
	ID, Token string
	Public    *rsa.PublicKey
	Expires   time.Time
	body      map[string]any
}

func (s *apiStack) newImportRequest(t *testing.T, storeID, name string) apiImport {
	t.Helper()
	st, out, hdr := s.call(t, "POST", "/api/v1/import-requests", s.TenantToken, map[string]any{"store_id": storeID, "key_name": name})
	if st != 201 {
		t.Fatalf("create import request: %d %v", st, out)
	}
	if hdr.Get("Cache-Control") != "no-store" {
		t.Error("the answer carrying the import token may be cached")
	}
	r := apiImport{body: out}
	r.ID, _ = out["id"].(string)
	r.Token, _ = out["import_token"].(string)
	if !strings.HasPrefix(r.ID, "imp_") || !strings.HasPrefix(r.Token, "kpi_") || len(r.Token) < 40 || out["wrapping"] != "RSAES_OAEP_SHA_256" {
		t.Fatalf("import request: %v", out)
	}
	pemText, _ := out["public_key"].(string)
	block, rest := pem.Decode([]byte(pemText))
	if block == nil || block.Type != "PUBLIC KEY" || len(strings.TrimSpace(string(rest))) != 0 {
		t.Fatalf("public_key is not one PEM public key: %q", pemText)
	}
	pk, err := x509.ParsePKIXPublicKey(block.Bytes)
	rpk, ok := pk.(*rsa.PublicKey)
	if err != nil || !ok || rpk.N.BitLen() != 3072 {
		t.Fatalf("public key: %T %v", pk, err)
	}
	r.Public = rpk
	exp, _ := out["expires_at"].(string)
	if r.Expires, err = time.Parse(time.RFC3339Nano, exp); err != nil {
		t.Fatalf("expires_at %q: %v", exp, err)
	}
	if d := r.Expires.Sub(s.Clock.Now()); d < 24*time.Hour-time.Minute || d > 24*time.Hour+time.Minute {
		t.Errorf("import request expires in %s, want 24h", d)
	}
	return r
}

func wrapOAEP(t *testing.T, pub *rsa.PublicKey, key []byte) string {
	t.Helper()
	w, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(w)
}

// rowCount counts rows of a table around the store.
func rowCount(t *testing.T, db *sql.DB, table string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM "` + table + `"`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func openRaw(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	driver := "sqlite3"
	if models.IsPostgresURL(dsn) {
		driver = "pgx" // registered by modelstest
	}
	raw, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}

// TestImportRequestAPI drives mode 3 over the data API: an import request
// (PEM public key, one-time token, 24-hour expiry), refusals that each say
// why and leave nothing behind (the request still works afterwards), the
// upload that creates the key with the tenant's material, and the token's
// reuse.
func TestImportRequestAPI(t *testing.T) {
	s, storeID := importAPIStack(t)
	ctx := context.Background()
	raw := openRaw(t, s.DSN)

	// Another tenant in the same keyport, with its own token.
	u, _, _ := s.DB.UpsertOIDCUser(ctx, "https://idp.test", "mallory", "mallory@evil.test", "")
	evil, _ := s.DB.CreateTenantWithOwner(ctx, "evil.test", u.ID, models.AuditInput{Actor: u.ID, Action: "tenant.created"})
	evilTok, _, err := s.Service.NewServiceToken(ctx, evil.ID, "evil", u.ID)
	if err != nil {
		t.Fatal(err)
	}

	if st, out, _ := s.call(t, "POST", "/api/v1/import-requests", s.TenantToken, map[string]any{"store_id": "kst_nope", "key_name": "x"}); st != 400 ||
		errCode(out) != "invalid_request" || errMessage(out) != "store_id: choose one of your key stores" {
		t.Errorf("unknown store: %d %v", st, out)
	}
	if st, out, _ := s.call(t, "POST", "/api/v1/import-requests", evilTok, map[string]any{"store_id": storeID, "key_name": "x"}); st != 400 ||
		errMessage(out) != "store_id: choose one of your key stores" {
		t.Errorf("another tenant's store: %d %v", st, out)
	}

	req := s.newImportRequest(t, storeID, "their key")
	other := s.newImportRequest(t, storeID, "their other key")
	material := make([]byte, 32)
	rand.Read(material)
	good := wrapOAEP(t, req.Public, material)
	upload := "/api/v1/import-requests/" + req.ID + "/upload"

	nothingLeft := func(t *testing.T) {
		t.Helper()
		if ks, _ := s.DB.ListKeys(ctx, s.Tenant.ID); len(ks) != 0 {
			t.Errorf("a refused upload left %d key(s)", len(ks))
		}
		for _, table := range []string{"keys", "key_materials", "managed_keys", "key_operations", "key_regions", "jobs"} {
			if n := rowCount(t, raw, table); n != 0 {
				t.Errorf("a refused upload left %d row(s) in %s", n, table)
			}
		}
		r, err := s.DB.GetImportRequest(ctx, s.Tenant.ID, req.ID)
		if err != nil || r.State != models.ImportOpen || len(r.PrivateSealed) == 0 || r.KeyID != "" {
			t.Errorf("a refused upload changed the request: %v %+v", err, r)
		}
	}

	otherKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	sha1Wrapped, _ := rsa.EncryptOAEP(sha1.New(), rand.Reader, req.Public, material, nil)
	pkcs1Wrapped, _ := rsa.EncryptPKCS1v15(rand.Reader, req.Public, material)
	msg := func(e *keysvc.ValidationError) string { return e.Field + ": " + e.Message }
	refusals := []struct {
		name   string
		token  string // service token
		body   map[string]any
		status int
		code   string
		msg    string
	}{
		{"bad base64", s.TenantToken, map[string]any{"import_token": req.Token, "wrapped_key": "not*base64!"}, 400, "invalid_request", msg(managed.ErrImportBadBase64)},
		{"empty wrapped key", s.TenantToken, map[string]any{"import_token": req.Token, "wrapped_key": ""}, 400, "invalid_request", msg(managed.ErrImportBadBase64)},
		{"16 bytes", s.TenantToken, map[string]any{"import_token": req.Token, "wrapped_key": wrapOAEP(t, req.Public, material[:16])}, 400, "invalid_request", msg(managed.ErrImportBadLength)},
		{"64 bytes", s.TenantToken, map[string]any{"import_token": req.Token, "wrapped_key": wrapOAEP(t, req.Public, append(material, material...))}, 400, "invalid_request", msg(managed.ErrImportBadLength)},
		{"OAEP with SHA-1", s.TenantToken, map[string]any{"import_token": req.Token, "wrapped_key": base64.StdEncoding.EncodeToString(sha1Wrapped)}, 400, "invalid_request", msg(managed.ErrImportBadWrapping)},
		{"PKCS#1 v1.5", s.TenantToken, map[string]any{"import_token": req.Token, "wrapped_key": base64.StdEncoding.EncodeToString(pkcs1Wrapped)}, 400, "invalid_request", msg(managed.ErrImportBadWrapping)},
		{"wrapped to another public key", s.TenantToken, map[string]any{"import_token": req.Token, "wrapped_key": wrapOAEP(t, &otherKey.PublicKey, material)}, 400, "invalid_request", msg(managed.ErrImportBadWrapping)},
		{"wrapped to the other request's key", s.TenantToken, map[string]any{"import_token": req.Token, "wrapped_key": wrapOAEP(t, other.Public, material)}, 400, "invalid_request", msg(managed.ErrImportBadWrapping)},
		{"the other request's token", s.TenantToken, map[string]any{"import_token": other.Token, "wrapped_key": good}, 400, "invalid_request", msg(managed.ErrImportTokenInvalid)},
		{"no token", s.TenantToken, map[string]any{"wrapped_key": good}, 400, "invalid_request", msg(managed.ErrImportTokenInvalid)},
		{"another tenant's service token", evilTok, map[string]any{"import_token": req.Token, "wrapped_key": good}, 404, "key_not_found", "No such key for this tenant."},
		{"tenant token naming another tenant", s.TenantToken, map[string]any{"tenant": evil.ID, "import_token": req.Token, "wrapped_key": good}, 403, "forbidden", "This service token may not act for that tenant."},
		{"provider token naming another tenant", s.ProvToken, map[string]any{"tenant": evil.ID, "import_token": req.Token, "wrapped_key": good}, 404, "key_not_found", "No such key for this tenant."},
		{"no service token", "", map[string]any{"import_token": req.Token, "wrapped_key": good}, 401, "unauthorized", "The service token is missing, invalid or revoked."},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			st, out, _ := s.call(t, "POST", upload, tt.token, tt.body)
			if st != tt.status || errCode(out) != tt.code || errMessage(out) != tt.msg {
				t.Errorf("got %d %q %q, want %d %q %q", st, errCode(out), errMessage(out), tt.status, tt.code, tt.msg)
			}
			nothingLeft(t)
		})
	}
	// An unknown request, and another tenant's request seen from there.
	if st, out, _ := s.call(t, "POST", "/api/v1/import-requests/imp_nope/upload", s.TenantToken, map[string]any{"import_token": req.Token, "wrapped_key": good}); st != 404 || errCode(out) != "key_not_found" {
		t.Errorf("unknown request: %d %v", st, out)
	}
	nothingLeft(t)

	// The upload: the tenant's 32 bytes, wrapped with RSA-OAEP-SHA-256.
	st, out, _ := s.call(t, "POST", upload, s.TenantToken, map[string]any{"import_token": req.Token, "wrapped_key": good, "alias": "alias/keyport/theirs"})
	fp, _ := keysvc.Fingerprint(material)
	keyID, _ := out["key_id"].(string)
	if st != 201 || keyID == "" || out["fingerprint"] != fp || out["operation"] != models.OpDone || out["state"] != string(models.StateEnabled) {
		t.Fatalf("upload: %d %v (fingerprint %s)", st, out, fp)
	}
	k, err := s.DB.GetKey(ctx, s.Tenant.ID, keyID)
	if err != nil || k.Mode != models.ModeImported || k.Name != "their key" {
		t.Fatalf("key: %v %+v", err, k)
	}
	mats, err := s.DB.KeyMaterials(ctx, s.Tenant.ID, keyID)
	if err != nil || len(mats) != 1 || mats[0].Source != models.SourceTenant || mats[0].Fingerprint != fp || len(mats[0].Sealed) == 0 ||
		strings.Contains(string(mats[0].Sealed), string(material)) {
		t.Fatalf("material: %v %+v", err, mats)
	}
	r, _ := s.DB.GetImportRequest(ctx, s.Tenant.ID, req.ID)
	if r.State != models.ImportUsed || r.KeyID != keyID || len(r.PrivateSealed) != 0 {
		t.Errorf("used request: state %s key %q private key kept %v", r.State, r.KeyID, len(r.PrivateSealed) != 0)
	}
	// The key works on the data path.
	if st, enc, _ := s.call(t, "POST", "/api/v1/encrypt", s.TenantToken, map[string]any{"key_id": keyID, "plaintext": b64("x")}); st != 200 || enc["key_id"] != keyID {
		t.Errorf("encrypt with the imported key: %d %v", st, enc)
	}

	// The token works once.
	st, out, _ = s.call(t, "POST", upload, s.TenantToken, map[string]any{"import_token": req.Token, "wrapped_key": good, "alias": "alias/keyport/again"})
	if st != 400 || errCode(out) != "invalid_request" || errMessage(out) != msg(managed.ErrImportTokenUsed) {
		t.Errorf("reused token: %d %v", st, out)
	}
	if ks, _ := s.DB.ListKeys(ctx, s.Tenant.ID); len(ks) != 1 || rowCount(t, raw, "key_materials") != 1 {
		t.Errorf("the reused token left something behind: %d keys, %d materials", len(ks), rowCount(t, raw, "key_materials"))
	}

	// After 24 hours the other request is expired, even with a good upload.
	s.Clock.Advance(24*time.Hour + time.Second)
	st, out, _ = s.call(t, "POST", "/api/v1/import-requests/"+other.ID+"/upload", s.TenantToken,
		map[string]any{"import_token": other.Token, "wrapped_key": wrapOAEP(t, other.Public, material), "alias": "alias/keyport/late"})
	if st != 400 || errCode(out) != "invalid_request" || errMessage(out) != msg(managed.ErrImportTokenExpired) {
		t.Errorf("expired token: %d %v", st, out)
	}
	if ks, _ := s.DB.ListKeys(ctx, s.Tenant.ID); len(ks) != 1 || rowCount(t, raw, "key_materials") != 1 {
		t.Errorf("the expired token left something behind: %d keys, %d materials", len(ks), rowCount(t, raw, "key_materials"))
	}
	if r, _ := s.DB.GetImportRequest(ctx, s.Tenant.ID, other.ID); r.State != models.ImportExpired || r.KeyID != "" {
		t.Errorf("expired request: %s %q", r.State, r.KeyID)
	}

	// Neither token nor material reached the log.
	logs := s.Logs.String()
	for _, secret := range []string{req.Token, other.Token, base64.StdEncoding.EncodeToString(material), good} {
		if strings.Contains(logs, secret) {
			t.Error("the log holds an import secret")
		}
	}
}

func errMessage(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	m, _ := e["message"].(string)
	return m
}
