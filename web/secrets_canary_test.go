package web_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/kms"

	"keyport/handlers"
	"keyport/handlers/dataapi"
	"keyport/keysvc"
	"keyport/web"
	"keyport/web/devidp"
)

// exchange is one HTTP request and its answer, as a client saw them.
type exchange struct {
	method, url string
	status      int
	header      http.Header // response headers
	body        []byte      // response body
	reqBody     []byte
}

// recordingTransport records every exchange that goes through the default
// transport: the test's browsers, its data API client and keyport's own
// calls to the identity provider.
type recordingTransport struct {
	base http.RoundTripper
	mu   sync.Mutex
	log  []exchange
}

func (r *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		reqBody, _ = io.ReadAll(req.Body)
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	res, err := r.base.RoundTrip(req)
	if err != nil {
		return res, err
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	res.Body = io.NopCloser(bytes.NewReader(body))
	r.mu.Lock()
	r.log = append(r.log, exchange{method: req.Method, url: req.URL.String(), status: res.StatusCode, header: res.Header.Clone(), body: body, reqBody: reqBody})
	r.mu.Unlock()
	return res, nil
}

func (r *recordingTransport) exchanges() []exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]exchange(nil), r.log...)
}

// recordHTTP swaps the default transport for a recorder until the test
// ends. (The web tests do not run in parallel.)
func recordHTTP(tb testing.TB) *recordingTransport {
	tb.Helper()
	orig := http.DefaultTransport
	rec := &recordingTransport{base: orig}
	http.DefaultTransport = rec
	tb.Cleanup(func() { http.DefaultTransport = orig })
	return rec
}

// canary is a secret planted in the run, with the places it may appear.
type canary struct {
	name  string
	value []byte
	// shownIn reports whether a keyport response may carry the value: the
	// one place it is handed over on purpose.
	shownIn func(ex exchange, where string) bool
}

// forms are the encodings a leak could take.
func (c canary) forms() map[string][]byte {
	v := c.value
	out := map[string][]byte{"raw": v}
	for name, s := range map[string]string{
		"base64":     base64.StdEncoding.EncodeToString(v),
		"base64-raw": base64.RawStdEncoding.EncodeToString(v),
		"base64url":  base64.RawURLEncoding.EncodeToString(v),
		"hex":        hex.EncodeToString(v),
		"HEX":        strings.ToUpper(hex.EncodeToString(v)),
		"urlencoded": url.QueryEscape(string(v)),
		"pathescape": url.PathEscape(string(v)),
	} {
		out[name] = []byte(s)
	}
	return out
}

func nowhere(exchange, string) bool { return false }

// only allows the value in the body (or, with where "header", the headers)
// of responses to method and path.
func only(method, path, where string) func(exchange, string) bool {
	return func(ex exchange, w string) bool {
		u, _ := url.Parse(ex.url)
		return ex.method == method && u.Path == path && w == where
	}
}

func either(fs ...func(exchange, string) bool) func(exchange, string) bool {
	return func(ex exchange, w string) bool {
		for _, f := range fs {
			if f(ex, w) {
				return true
			}
		}
		return false
	}
}

var (
	serviceTokenRE = regexp.MustCompile(`kpt_[A-Za-z0-9_-]{20,}`)
	feedTokenRE    = regexp.MustCompile(`/calendar/([A-Za-z0-9_-]{20,})/rotations\.ics`)
)

// TestSecretsNeverLeak plants canaries through a full run at debug log
// level and searches every log line, every keyport response (body and
// headers), every email and every database cell for each, raw and encoded.
// A canary may appear only where it is handed over on purpose (a service
// token on the page that creates it, a session id in Set-Cookie, a
// decrypted plaintext in the decrypt answer, an invitation link in its
// email).
func TestSecretsNeverLeak(t *testing.T) {
	rec := recordHTTP(t)
	s := newStack(t, func(c *handlers.Config) { c.Operators = []string{dana.Email} })
	log := slog.New(slog.NewTextHandler(s.Logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	apiSrv := httptest.NewServer(web.New(web.Deps{Handlers: handlers.New(handlers.Deps{DB: s.DB, Logger: log}),
		API: dataapi.New(s.Keys, s.Managed, log), Logger: log}))
	defer apiSrv.Close()

	// Sign in, connect AWS with the canary IAM secret, register a key.
	b := newBrowser(t)
	s.signIn(t, b, dana)
	tenant := s.tenantOf(t, dana)
	keyID := s.registerKey(t, b, "canary key") // the connection's secret is awsUserSecret

	// A service token, shown once.
	_, page := b.get(t, s.URL+"/provider/tokens")
	_, page = b.post(t, s.URL+"/provider/tokens", url.Values{"csrf_token": {csrfToken(t, page)}, "name": {"canary"}, "tenant_id": {tenant}}, nil)
	token := serviceTokenRE.FindString(page)
	if token == "" {
		t.Fatal("no service token on the page")
	}

	// A webhook endpoint: its signing secret shown once, then rotated
	// (the new one shown once too), a test event queued.
	_, page = b.get(t, s.URL+"/webhooks")
	_, page = b.post(t, s.URL+"/webhooks", url.Values{"csrf_token": {csrfToken(t, page)}, "url": {"https://hooks.example.com/canary"},
		"events": {"key.rotated", "webhook.test"}}, nil)
	hookSecret := pageSecret(page)
	eps, err := s.Hooks.List(context.Background(), tenant)
	if hookSecret == "" || err != nil || len(eps) != 1 {
		t.Fatalf("webhook endpoint: secret shown %t, %v", hookSecret != "", err)
	}
	hookPath := "/webhooks/" + eps[0].ID
	_, page = b.get(t, s.URL+hookPath)
	_, page = b.post(t, s.URL+hookPath+"/rotate-secret", url.Values{"csrf_token": {csrfToken(t, page)}}, nil)
	hookSecret2 := pageSecret(page)
	b.post(t, s.URL+hookPath+"/test", url.Values{"csrf_token": {csrfToken(t, page)}}, nil)
	b.get(t, s.URL+hookPath)
	hookKey, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(hookSecret, "whsec_"))
	hookKey2, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(hookSecret2, "whsec_"))
	if hookSecret2 == "" || len(hookKey) != 32 || len(hookKey2) != 32 {
		t.Fatal("webhook secrets are not whsec_ and 32 bytes")
	}

	// Data API: a canary plaintext in and out, a data key.
	plain := "canary-plaintext-" + randHex(16)
	api := func(path string, body any) map[string]any {
		t.Helper()
		buf, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, apiSrv.URL+path, bytes.NewReader(buf))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode/100 != 2 {
			t.Fatalf("%s: %d %v", path, res.StatusCode, out)
		}
		return out
	}
	enc := api("/api/v1/encrypt", map[string]any{"key_id": keyID, "plaintext": b64(plain), "context": map[string]string{"field": "canary"}})
	if dec := api("/api/v1/decrypt", map[string]any{"ciphertext": enc["ciphertext"], "context": map[string]string{"field": "canary"}}); dec["plaintext"] != b64(plain) {
		t.Fatal("round trip failed")
	}
	dk := api("/api/v1/datakey", map[string]any{"key_id": keyID})
	dkPlain, _ := base64.StdEncoding.DecodeString(dk["plaintext"].(string))
	api("/api/v1/decrypt", map[string]any{"ciphertext": dk["ciphertext"]})
	rawDataKey := unwrapDataKey(t, s, tenant, keyID)

	// Mode 3: a key store on the connection, an import request over the
	// data API, and 32 bytes of the test's choosing wrapped to its public
	// key and uploaded: keyport must seal them and never show them.
	imp := importCanaryKey(t, s, b, tenant, api)
	// The imported key exported as a passphrase-protected JWE file.
	passphrase := "canary-passphrase-" + randHex(12)
	_, page = b.get(t, s.URL+"/keys/"+imp.keyID+"/export")
	if res, body := b.post(t, s.URL+"/keys/"+imp.keyID+"/export", url.Values{"csrf_token": {csrfToken(t, page)}, "format": {"jwe"},
		"passphrase": {passphrase}, "passphrase_confirm": {passphrase}}, nil); res.StatusCode != 200 || strings.Count(body, ".") != 4 {
		t.Fatalf("JWE export: %d", res.StatusCode)
	}

	// Rotation, a purge, the calendar feed, reports, the audit log.
	_, page = b.get(t, s.URL+"/keys/"+keyID+"/rotation")
	b.post(t, s.URL+"/keys/"+keyID+"/rotate", url.Values{"csrf_token": {csrfToken(t, page)}, "from_version": {"1"}}, nil)
	_, page = b.get(t, s.URL+"/keys/"+keyID)
	b.post(t, s.URL+"/keys/"+keyID+"/purge", url.Values{"csrf_token": {csrfToken(t, page)}}, nil)
	api("/api/v1/decrypt", map[string]any{"ciphertext": enc["ciphertext"], "context": map[string]string{"field": "canary"}})
	_, page = b.get(t, s.URL+"/rotations")
	_, page = b.post(t, s.URL+"/rotations/calendar", url.Values{"csrf_token": {csrfToken(t, page)}}, nil)
	m := feedTokenRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no calendar feed URL on the page")
	}
	feedToken := m[1]
	if res, _ := b.get(t, s.URL+"/calendar/"+feedToken+"/rotations.ics"); res.StatusCode != 200 {
		t.Fatalf("calendar feed: %d", res.StatusCode)
	}
	for _, report := range []string{"inventory", "activity", "validation"} {
		for _, format := range []string{"csv", "json", "html"} {
			b.get(t, s.URL+"/reports/"+report+"?format="+format)
		}
	}
	_, page = b.get(t, s.URL+"/audit")
	b.post(t, s.URL+"/audit/verify", url.Values{"csrf_token": {csrfToken(t, page)}}, nil)

	// An invitation, accepted by a second person.
	erin := devidp.Identity{Email: "erin@rotation.test", Name: "Erin", EmailVerified: true}
	eb := s.join(t, b, erin, "admin")
	link := s.inviteLink(t, erin.Email, 0)
	lu, _ := url.Parse(link)
	inviteToken := lu.Query().Get("token")
	sessionSecret := func(br *browser) string {
		_, sec, _ := strings.Cut(s.cookie(br, "keyport_session").Value, ".")
		return sec
	}
	danaSession, erinSession := sessionSecret(b), sessionSecret(eb)

	// Sign out (the session ends; its cookie is cleared).
	_, page = b.get(t, s.URL+"/dashboard")
	b.post(t, s.URL+"/auth/logout", url.Values{"csrf_token": {csrfToken(t, page)}}, nil)

	// What keyport received from the identity provider.
	exchanges := rec.exchanges()
	idpHost := mustHost(s.IdP.Issuer())
	var codes, idTokens, accessTokens []string
	for _, ex := range exchanges {
		u, _ := url.Parse(ex.url)
		if u.Path == "/auth/callback" && u.Query().Get("code") != "" {
			codes = append(codes, u.Query().Get("code"))
		}
		if u.Host == idpHost && ex.method == http.MethodPost && strings.Contains(u.Path, "token") {
			var tok map[string]any
			_ = json.Unmarshal(ex.body, &tok)
			if v, _ := tok["id_token"].(string); v != "" {
				idTokens = append(idTokens, v)
			}
			if v, _ := tok["access_token"].(string); v != "" {
				accessTokens = append(accessTokens, v)
			}
		}
	}
	if len(codes) < 2 || len(idTokens) < 2 || len(accessTokens) < 2 {
		t.Fatalf("saw %d codes, %d id tokens, %d access tokens: the recorder missed the sign-ins", len(codes), len(idTokens), len(accessTokens))
	}

	setCookie := func(ex exchange, where string) bool { return where == "header:Set-Cookie" }
	canaries := []canary{
		{"iam_secret_access_key", []byte(awsUserSecret), nowhere},
		{"oidc_client_secret", []byte(s.IdP.ClientSecret()), nowhere},
		{"data_key_from_kms", rawDataKey, nowhere},
		// handed out by /datakey, and back by /decrypt of its ciphertext
		{"data_key_handed_out", dkPlain, either(only("POST", "/api/v1/datakey", "body"), only("POST", "/api/v1/decrypt", "body"))},
		{"plaintext", []byte(plain), only("POST", "/api/v1/decrypt", "body")},
		{"service_token", []byte(token), only("POST", "/provider/tokens", "body")},
		{"calendar_feed_token", []byte(feedToken), only("POST", "/rotations/calendar", "body")},
		{"invitation_token", []byte(inviteToken), either(setCookie, func(ex exchange, where string) bool {
			// the invitation page's redirect after moving the token into a cookie
			return where == "header:Location" && strings.Contains(ex.url, "/invite?token=")
		})},
		{"session_dana", []byte(danaSession), setCookie},
		{"tenant_key_material", imp.material, nowhere},
		{"import_wrapped_key", imp.wrapped, nowhere}, // sent in the upload, never echoed
		{"import_token", []byte(imp.token), only("POST", "/api/v1/import-requests", "body")},
		{"import_rsa_private_key", imp.privDER, nowhere},
		{"import_rsa_private_exponent", imp.privD, nowhere},
		{"export_passphrase", []byte(passphrase), nowhere},
		{"session_erin", []byte(erinSession), setCookie},
		{"webhook_secret", []byte(hookSecret), only("POST", "/webhooks", "body")},
		{"webhook_secret_rotated", []byte(hookSecret2), only("POST", hookPath+"/rotate-secret", "body")},
		// the key is the secret's base64 part: shown where the secret is, and nowhere else
		{"webhook_key", hookKey, only("POST", "/webhooks", "body")},
		{"webhook_key_rotated", hookKey2, only("POST", hookPath+"/rotate-secret", "body")},
	}
	for i, c := range codes {
		canaries = append(canaries, canary{fmt.Sprintf("oidc_code_%d", i), []byte(c), nowhere})
	}
	for i := range idTokens {
		canaries = append(canaries, canary{fmt.Sprintf("id_token_%d", i), []byte(idTokens[i]), nowhere},
			canary{fmt.Sprintf("access_token_%d", i), []byte(accessTokens[i]), nowhere})
	}

	// Where to look: keyport's answers (never the IdP's), its log, its
	// email and its database.
	type place struct {
		name  string
		data  []byte
		ex    *exchange
		where string
	}
	var places []place
	for i := range exchanges {
		ex := &exchanges[i]
		if mustHost(ex.url) == idpHost {
			continue
		}
		places = append(places, place{"response body of " + ex.method + " " + ex.url, ex.body, ex, "body"})
		for name, vs := range ex.header {
			places = append(places, place{"header " + name + " of " + ex.method + " " + ex.url, []byte(strings.Join(vs, "\n")), ex, "header:" + name})
		}
	}
	for i, line := range strings.Split(s.Logs.String(), "\n") {
		places = append(places, place{fmt.Sprintf("log line %d: %.200s", i+1, line), []byte(line), nil, "log"})
	}
	for _, msg := range s.Mail.Messages() {
		mail := []byte(strings.Join(msg.To, ",") + "\n" + msg.Text + "\n" + msg.HTML)
		places = append(places, place{"email to " + strings.Join(msg.To, ","), mail, nil, "mail"})
	}
	tables, cells := 0, 0
	for _, cell := range dumpDatabase(t, s.rawSQL(t)) {
		places = append(places, place{"database " + cell.where, cell.data, nil, "db"})
		cells++
		if strings.HasSuffix(cell.where, "(table)") {
			tables++
		}
	}

	hits := 0
	shown := map[string]int{} // the search must find each handed-over canary where it was handed over
	for _, c := range canaries {
		if len(c.value) < 16 {
			t.Fatalf("canary %s is only %d bytes: too short to search for", c.name, len(c.value))
		}
		for form, needle := range c.forms() {
			for _, p := range places {
				if !bytes.Contains(p.data, needle) {
					continue
				}
				if p.ex != nil && c.shownIn(*p.ex, p.where) {
					shown[c.name]++
					continue
				}
				if p.where == "mail" && c.name == "invitation_token" {
					continue // the invitation email carries its link
				}
				hits++
				t.Errorf("LEAK: %s (%s) in %s", c.name, form, p.name)
			}
		}
	}
	fmt.Printf("METRIC secrets_canary canaries=%d places_searched=%d log_lines=%d responses=%d emails=%d db_cells=%d hits=%d\n",
		len(canaries), len(places), strings.Count(s.Logs.String(), "\n"), len(exchanges), len(s.Mail.Messages()), cells, hits)
	if cells == 0 {
		t.Error("the database dump found nothing")
	}
	for _, name := range []string{"data_key_handed_out", "plaintext", "service_token", "calendar_feed_token", "invitation_token", "session_dana", "session_erin", "import_token"} {
		if shown[name] == 0 {
			t.Errorf("the search never found %s where it is handed over: the search itself is broken", name)
		}
	}
}

// importedCanary is what a mode-3 import planted: the tenant's material,
// its wrapped upload, the one-time token and the import request's RSA
// private key (read, while it exists, by opening its sealed column).
type importedCanary struct {
	keyID, token      string
	material, wrapped []byte
	privDER, privD    []byte
}

func importCanaryKey(t *testing.T, s *stack, b *browser, tenant string, api func(string, any) map[string]any) importedCanary {
	t.Helper()
	ctx := context.Background()
	s.Managed.PreferWrappingKeySpec("RSA_2048") // kmslocal's wrapping key, fast under -race
	conns, err := s.DB.ListConnections(ctx, tenant)
	if err != nil || len(conns) == 0 {
		t.Fatalf("connections: %v", err)
	}
	_, page := b.get(t, s.URL+"/stores")
	b.post(t, s.URL+"/stores", url.Values{"csrf_token": {csrfToken(t, page)}, "name": {"canary store"}, "connection_id": {conns[0].ID}}, nil)
	sts, err := s.DB.ListKeyStores(ctx, tenant)
	if err != nil || len(sts) != 1 {
		t.Fatalf("key store: %v (%d)", err, len(sts))
	}
	req := api("/api/v1/import-requests", map[string]any{"store_id": sts[0].ID, "key_name": "canary import"})
	id, _ := req["id"].(string)
	token, _ := req["import_token"].(string)
	block, _ := pem.Decode([]byte(fmt.Sprint(req["public_key"])))
	if block == nil || token == "" {
		t.Fatalf("import request: %v", req)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.DB.GetImportRequest(ctx, tenant, id)
	if err != nil {
		t.Fatal(err)
	}
	der, err := s.Seal.Open("import-request/"+id, r.PrivateSealed) // keysvc's purpose for it
	if err != nil {
		t.Fatalf("open the import request's private key: %v", err)
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		t.Fatal(err)
	}
	material := make([]byte, 32)
	rand.Read(material)
	wrapped, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub.(*rsa.PublicKey), material, nil)
	if err != nil {
		t.Fatal(err)
	}
	up := api("/api/v1/import-requests/"+id+"/upload", map[string]any{"import_token": token, "wrapped_key": base64.StdEncoding.EncodeToString(wrapped)})
	fp, _ := keysvc.Fingerprint(material)
	keyID, _ := up["key_id"].(string)
	if keyID == "" || up["fingerprint"] != fp {
		t.Fatalf("upload: %v (fingerprint %s)", up, fp)
	}
	return importedCanary{keyID: keyID, token: token, material: material, wrapped: wrapped, privDER: der, privD: priv.(*rsa.PrivateKey).D.Bytes()}
}

// unwrapDataKey asks the tenant's KMS, as the tenant's admin, for the
// plaintext of the key's first data key: the secret keyport caches but
// never writes down.
func unwrapDataKey(tb testing.TB, s *stack, tenant, keyID string) []byte {
	tb.Helper()
	ctx := context.Background()
	wraps, err := s.DB.DataKeyWraps(ctx, tenant, keyID, 1)
	if err != nil || len(wraps) == 0 {
		tb.Fatalf("data key wraps: %v", err)
	}
	out, err := kms.NewFromConfig(s.KMS.AWSConfig(awsRegion, awsAdminAKID, awsAdminSecret)).Decrypt(ctx, &kms.DecryptInput{
		CiphertextBlob: wraps[0].Ciphertext, KeyId: &wraps[0].KMSKeyARN, EncryptionContext: keysvc.KMSContext(tenant, keyID)})
	if err != nil {
		tb.Fatalf("unwrap data key as the tenant: %v", err)
	}
	return out.Plaintext
}

// dbCell is one value of the database dump.
type dbCell struct {
	where string
	data  []byte
}

// dumpDatabase reads every column of every row of every table.
func dumpDatabase(tb testing.TB, db *sql.DB) []dbCell {
	tb.Helper()
	q := `SELECT name FROM sqlite_master WHERE type = 'table'`
	if _, err := db.Exec(`SELECT 1 FROM sqlite_master LIMIT 1`); err != nil {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`
	}
	rows, err := db.Query(q)
	if err != nil {
		tb.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	var cells []dbCell
	for _, table := range tables {
		cells = append(cells, dbCell{table + " (table)", []byte(table)})
		rows, err := db.Query(`SELECT * FROM "` + table + `"`)
		if err != nil {
			tb.Fatalf("dump %s: %v", table, err)
		}
		cols, _ := rows.Columns()
		for r := 0; rows.Next(); r++ {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				tb.Fatal(err)
			}
			for i, v := range vals {
				var data []byte
				switch v := v.(type) {
				case []byte:
					data = v
				case string:
					data = []byte(v)
				case nil:
					continue
				default:
					data = []byte(fmt.Sprint(v))
				}
				cells = append(cells, dbCell{fmt.Sprintf("%s row %d column %s", table, r, cols[i]), data})
			}
		}
		rows.Close()
	}
	return cells
}

func mustHost(raw string) string {
	u, _ := url.Parse(raw)
	return u.Host
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
