package web_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"keyport/keysvc"
	"keyport/keysvc/managed"
	"keyport/models"
	"keyport/web/devidp"
)

var erin = devidp.Identity{Email: "erin@lifecycle.test", Name: "Erin Owner", EmailVerified: true}

// lifecycleStack is a stack whose key service drives lifecycle operations
// through the scheduler's worker, with a small import wrapping key (kmslocal
// would spend seconds on RSA_4096 under -race).
func lifecycleStack(t *testing.T) *stack {
	t.Helper()
	s := newStack(t, nil)
	s.Managed.AttachWorker(s.Rot.Worker)
	s.Rot.SetRotator(models.ModeGenerated, s.Managed)
	s.Rot.SetRotator(models.ModeImported, s.Managed)
	s.Managed.PreferWrappingKeySpec("RSA_2048")
	return s
}

// pageImport is an import request made on the pages: its id and token as
// the page showed them once, its public key, and the import page before
// the request (List) and with it (Made).
type pageImport struct {
	ID, Token  string
	Public     *rsa.PublicKey
	List, Made string
}

// newImportOnPages asks for an import request on the import page and reads
// what the page shows of it.
func (s *stack) newImportOnPages(t *testing.T, b *browser, storeID, keyName string) pageImport {
	t.Helper()
	_, list := b.get(t, s.URL+"/import-requests")
	_, made := b.post(t, s.URL+"/import-requests", url.Values{"csrf_token": {csrfToken(t, list)}, "store_id": {storeID}, "key_name": {keyName}}, nil)
	token := regexp.MustCompile(`data-testid="import-token">(kpi_[A-Za-z0-9_-]+)<`).FindStringSubmatch(made)
	pubPEM := regexp.MustCompile(`(?s)data-testid="import-public-key">(.*?)</pre>`).FindStringSubmatch(made)
	link := regexp.MustCompile(`href="/import-requests/(imp_[a-z2-7]+)"`).FindStringSubmatch(made)
	if token == nil || pubPEM == nil || link == nil {
		t.Fatalf("import request page:\n%s", made)
	}
	block, _ := pem.Decode([]byte(html.UnescapeString(pubPEM[1])))
	pk, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatalf("public key on the page: %v", err)
	}
	return pageImport{ID: link[1], Token: token[1], Public: pk.(*rsa.PublicKey), List: list, Made: made}
}

// wrap wraps key to the request's public key with RSA-OAEP-SHA-256 and
// base64s it, as the page's openssl commands do.
func (r pageImport) wrap(key []byte) string {
	w, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, r.Public, key, nil)
	if err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(w)
}

// newStoreAndKey connects the tenant's account with its role, makes a key
// store and creates a key in it through the pages; it returns the store and
// key ids.
func (s *stack) newStoreAndKey(t *testing.T, b *browser, keyName string) (string, string) {
	t.Helper()
	s.addConnection(t, b, url.Values{"name": {"role"}, "account_id": {awsTenantAcct}, "default_region": {awsRegion},
		"kind": {"assume_role"}, "role_arn": {awsRoleARN}})
	_, page := b.get(t, s.URL+"/stores")
	cs, _ := s.DB.ListConnections(context.Background(), s.tenantOf(t, erin))
	res, page := b.post(t, s.URL+"/stores", url.Values{"csrf_token": {csrfToken(t, page)}, "name": {"production"}, "connection_id": {cs[0].ID}}, nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(page, `data-testid="create-key-form"`) {
		t.Fatalf("create store: %d", res.StatusCode)
	}
	storeID := lastSegment(res.Request.URL.Path)
	res, page = b.post(t, s.URL+"/stores/"+storeID+"/keys", url.Values{"csrf_token": {csrfToken(t, page)}, "name": {keyName}, "valid_days": {"90"}}, nil)
	if res.StatusCode != http.StatusOK || res.Request.URL.Query().Get("done") != "create" {
		t.Fatalf("create key: %d %s\n%s", res.StatusCode, res.Request.URL, page)
	}
	return storeID, lastSegment(res.Request.URL.Path)
}

func lastSegment(p string) string { return p[strings.LastIndexByte(p, '/')+1:] }

var fingerprintRE = regexp.MustCompile(`data-testid="fingerprint">([0-9A-F]{6})<`)

func TestKeyLifecycleOverHTTP(t *testing.T) {
	s := lifecycleStack(t)
	b := newBrowser(t)
	s.signIn(t, b, erin)
	tenant := s.tenantOf(t, erin)
	ctx := context.Background()
	storeID, keyID := s.newStoreAndKey(t, b, "orders")

	_, page := b.get(t, s.URL+"/keys/"+keyID)
	if !strings.Contains(page, `data-testid="lifecycle"`) || !strings.Contains(page, "alias/keyport/orders") || len(fingerprintRE.FindAllString(page, -1)) != 1 {
		t.Fatalf("key page lacks the lifecycle section:\n%s", page)
	}
	post := func(path string, form url.Values) (*http.Response, string) {
		t.Helper()
		_, pg := b.get(t, s.URL+"/keys/"+keyID)
		if form == nil {
			form = url.Values{}
		}
		form.Set("csrf_token", csrfToken(t, pg))
		return b.post(t, s.URL+path, form, nil)
	}
	res, page := post("/keys/"+keyID+"/renew", nil)
	if res.Request.URL.Query().Get("done") != "renew" || len(fingerprintRE.FindAllString(page, -1)) != 2 {
		t.Fatalf("renew: %s", res.Request.URL)
	}
	if res, _ = post("/keys/"+keyID+"/undo", nil); res.Request.URL.Query().Get("done") != "undo" {
		t.Fatalf("undo: %s", res.Request.URL)
	}

	// Export: RSA-wrapped, unwrapped here with our own private key.
	priv, _ := rsa.GenerateKey(rand.Reader, 3072)
	der, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	_, exp := b.get(t, s.URL+"/keys/"+keyID+"/export")
	shown := regexp.MustCompile(`data-testid="export-fingerprint">([0-9A-F]{6})<`).FindStringSubmatch(exp)
	if shown == nil {
		t.Fatalf("export page shows no fingerprint:\n%s", exp)
	}
	res, body := b.post(t, s.URL+"/keys/"+keyID+"/export", url.Values{"csrf_token": {csrfToken(t, exp)}, "format": {"rsa"},
		"public_key": {string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}, "algorithm": {managed.WrapOAEPSHA256}}, nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(res.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("export: %d %s", res.StatusCode, res.Header)
	}
	material, err := rsa.DecryptOAEP(sha256.New(), nil, priv, []byte(body), nil)
	if err != nil {
		t.Fatal(err)
	}
	if fp, _ := keysvc.Fingerprint(material); fp != shown[1] || res.Header.Get("X-Keyport-Fingerprint") != fp {
		t.Fatalf("exported material fingerprint %s, page says %s", fp, shown[1])
	}
	pass := "a passphrase of some length"
	res, body = b.post(t, s.URL+"/keys/"+keyID+"/export", url.Values{"csrf_token": {csrfToken(t, exp)}, "format": {"jwe"}, "passphrase": {pass}, "passphrase_confirm": {pass}}, nil)
	obj, err := jose.ParseEncrypted(body, []jose.KeyAlgorithm{jose.PBES2_HS512_A256KW}, []jose.ContentEncryption{jose.A256GCM})
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("jwe export: %d %v", res.StatusCode, err)
	}
	payload, err := obj.Decrypt([]byte(pass))
	if err != nil {
		t.Fatal(err)
	}
	var j struct{ K string }
	_ = json.Unmarshal(payload, &j)
	raw, _ := base64.RawURLEncoding.DecodeString(j.K)
	if fp, _ := keysvc.Fingerprint(raw); fp != shown[1] {
		t.Errorf("JWE material fingerprint %s, want %s", fp, shown[1])
	}
	// A stale sign-in is sent to sign in again before any export.
	s.Clock.Advance(20 * time.Minute)
	if res, _ := b.noFollow().Get(s.URL + "/keys/" + keyID + "/export"); res.StatusCode != http.StatusSeeOther ||
		!strings.HasPrefix(res.Header.Get("Location"), "/auth/login?return_to=") {
		t.Errorf("stale sign-in: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	s.Clock.Advance(-20 * time.Minute)

	// Deactivate: the data path says "disabled" at once.
	post("/keys/"+keyID+"/deactivate", url.Values{"confirm_name": {"orders"}})
	if _, err := s.Keys.Encrypt(ctx, tenant, keyID, []byte("x"), nil); err == nil || !strings.Contains(err.Error(), "disabled") {
		t.Errorf("encrypt under a deactivated key: %v", err)
	}
	post("/keys/"+keyID+"/activate", nil)
	if _, err := s.Keys.Encrypt(ctx, tenant, keyID, []byte("x"), nil); err != nil {
		t.Errorf("encrypt after activation: %v", err)
	}

	// Delete: the confirmation names the key and the consequences, the
	// dependency guard refuses without acknowledgement, then it schedules.
	_, conf := b.get(t, s.URL+"/keys/"+keyID+"/delete")
	if !strings.Contains(conf, "Delete orders?") || !strings.Contains(conf, "can never be decrypted again") {
		t.Errorf("confirmation page:\n%s", conf)
	}
	res, page = b.post(t, s.URL+"/keys/"+keyID+"/delete", url.Values{"csrf_token": {csrfToken(t, conf)}, "window_days": {"7"}}, nil)
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(html.UnescapeString(page), "data-key version(s) depend on this key") {
		t.Errorf("unacknowledged delete: %d", res.StatusCode)
	}
	res, _ = b.post(t, s.URL+"/keys/"+keyID+"/delete", url.Values{"csrf_token": {csrfToken(t, conf)}, "window_days": {"7"}, "acknowledge": {"true"}}, nil)
	if k, _ := s.DB.GetKey(ctx, tenant, keyID); k.State != models.StatePendingDeletion || res.Request.URL.Query().Get("done") != "scheduled" {
		t.Fatalf("delete: %s %s", k.State, res.Request.URL)
	}
	if res, _ := post("/keys/"+keyID+"/delete/cancel", nil); res.Request.URL.Query().Get("done") != "cancelled" {
		t.Errorf("cancel deletion: %s", res.Request.URL)
	}

	// The store cannot go while its key lives; the page names the key.
	_, sp := b.get(t, s.URL+"/stores/"+storeID)
	res, page = b.post(t, s.URL+"/stores/"+storeID+"/delete", url.Values{"csrf_token": {csrfToken(t, sp)}}, nil)
	if res.StatusCode != http.StatusConflict || !strings.Contains(page, `data-testid="store-blocked"`) || !strings.Contains(page, "orders") {
		t.Errorf("store delete with a live key: %d", res.StatusCode)
	}

	// Mode 3: an import request, wrapped with its public key, uploaded.
	imp := s.newImportOnPages(t, b, storeID, "their key")
	theirs := make([]byte, 32)
	rand.Read(theirs)
	_, up := b.get(t, s.URL+"/import-requests/"+imp.ID)
	res, page = b.post(t, s.URL+"/import-requests/"+imp.ID+"/upload", url.Values{"csrf_token": {csrfToken(t, up)}, "import_token": {imp.Token},
		"wrapped_key": {imp.wrap(theirs)}, "valid_days": {"0"}}, nil)
	fp, _ := keysvc.Fingerprint(theirs)
	if res.Request.URL.Query().Get("done") != "create" || !strings.Contains(page, fp) {
		t.Fatalf("upload: %d %s", res.StatusCode, res.Request.URL)
	}
	res, page = b.post(t, s.URL+"/import-requests/"+imp.ID+"/upload", url.Values{"csrf_token": {csrfToken(t, up)}, "import_token": {imp.Token},
		"wrapped_key": {imp.wrap(theirs)}}, nil)
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "already used") || strings.Contains(page, imp.Token) {
		t.Errorf("reused token: %d", res.StatusCode)
	}

	// Secrets appear nowhere but in the export bodies and the one page
	// that shows the token.
	logs := s.Logs.String()
	for _, secret := range []string{pass, imp.Token, base64.StdEncoding.EncodeToString(material), j.K, base64.StdEncoding.EncodeToString(theirs)} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds a secret")
		}
		for _, a := range s.auditActions(t, tenant) {
			if strings.Contains(a, secret) {
				t.Errorf("the audit log holds a secret")
			}
		}
	}
	acts := strings.Join(s.auditActions(t, tenant), "\n")
	for _, want := range []string{"key_store.created", "key.create_completed", "key.renew_completed", "key.undo_completed", "key.exported",
		"key.deactivated", "key.activated", "key.deletion_scheduled", "key.deletion_cancelled", "import_request.created", "import_request.used"} {
		if !strings.Contains(acts, want+":") {
			t.Errorf("audit has no %s", want)
		}
	}
}
