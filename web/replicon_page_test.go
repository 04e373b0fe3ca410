package web_test

import (
	"html"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// pageCommands reads the wrapping and the openssl and Node commands an
// import page shows.
func pageCommands(t *testing.T, page string) (wrapping, openssl, node string) {
	t.Helper()
	w := regexp.MustCompile(`data-testid="import-commands-set" data-wrapping="([A-Z0-9_]+)"`).FindStringSubmatch(page)
	o := regexp.MustCompile(`(?s)data-testid="import-commands">(.*?)</pre>`).FindStringSubmatch(page)
	n := regexp.MustCompile(`(?s)data-testid="import-node-commands">(.*?)</pre>`).FindStringSubmatch(page)
	if w == nil || o == nil || n == nil {
		t.Fatalf("the page shows no wrapping commands:\n%s", page)
	}
	return w[1], html.UnescapeString(o[1]), html.UnescapeString(n[1])
}

// TestImportPageWrappingCommands: the import request page offers both
// wrappings (SHA-256 chosen by default) and shows, for the one chosen, the
// openssl and Node commands that match it; run exactly as shown they wrap
// a key the upload accepts. A re-import from the pages takes only the same
// material.
func TestImportPageWrappingCommands(t *testing.T) {
	replNeedTool(t, "openssl")
	replNeedTool(t, "xxd")
	s := lifecycleStack(t)
	b := newBrowser(t)
	s.signIn(t, b, erin)
	storeID, _ := s.newStoreAndKey(t, b, "generated")
	_, list := b.get(t, s.URL+"/import-requests")
	if !strings.Contains(list, `<option value="RSAES_OAEP_SHA_256" selected>`) || !strings.Contains(list, `<option value="RSAES_OAEP_SHA_1">`) {
		t.Fatalf("the wrapping choice:\n%s", list)
	}
	res, page := b.post(t, s.URL+"/import-requests", url.Values{"csrf_token": {csrfToken(t, list)}, "store_id": {storeID}, "key_name": {"x"},
		"wrapping": {"RSAES_OAEP_SHA_512"}}, nil)
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, `data-testid="error-wrapping"`) ||
		!strings.Contains(page, "must be RSAES_OAEP_SHA_256 (the default) or RSAES_OAEP_SHA_1") {
		t.Fatalf("bad wrapping: %d", res.StatusCode)
	}
	_, hasNode := exec.LookPath("node")

	keys := map[string]string{} // wrapping -> key id
	for _, tt := range []struct{ wrapping, md, tool string }{
		{"RSAES_OAEP_SHA_1", "sha1", "node"},
		{"RSAES_OAEP_SHA_256", "sha256", "openssl"},
	} {
		t.Run(tt.wrapping, func(t *testing.T) {
			_, list := b.get(t, s.URL+"/import-requests")
			_, made := b.post(t, s.URL+"/import-requests", url.Values{"csrf_token": {csrfToken(t, list)}, "store_id": {storeID},
				"key_name": {"imported " + tt.md}, "wrapping": {tt.wrapping}}, nil)
			wrapping, openssl, node := pageCommands(t, made)
			if wrapping != tt.wrapping || !strings.Contains(openssl, "-pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:"+tt.md+" -pkeyopt rsa_mgf1_md:"+tt.md) ||
				!strings.Contains(node, `oaepHash: "`+tt.md+`"`) || !strings.Contains(node, "crypto.publicEncrypt(") {
				t.Fatalf("commands for %s:\n%s\n%s", wrapping, openssl, node)
			}
			token := regexp.MustCompile(`data-testid="import-token">(kpi_[A-Za-z0-9_-]+)<`).FindStringSubmatch(made)
			pubPEM := regexp.MustCompile(`(?s)data-testid="import-public-key">(.*?)</pre>`).FindStringSubmatch(made)
			link := regexp.MustCompile(`href="/import-requests/(imp_[a-z2-7]+)"`).FindStringSubmatch(made)
			if token == nil || pubPEM == nil || link == nil {
				t.Fatalf("import request page:\n%s", made)
			}
			// The upload page shows the same commands.
			_, upload := b.get(t, s.URL+"/import-requests/"+link[1])
			if w, o, n := pageCommands(t, upload); w != wrapping || o != openssl || n != node ||
				!strings.Contains(upload, "base64 of the "+tt.wrapping+" ciphertext") {
				t.Errorf("the upload page shows other commands")
			}

			// The openssl commands, exactly as shown.
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "import-public.pem"), []byte(html.UnescapeString(pubPEM[1])), 0o600)
			fp := strings.TrimSpace(replBash(t, dir, openssl))
			wrapped := replReadFile(t, filepath.Join(dir, "wrapped.b64"))
			if tt.tool == "node" && hasNode == nil {
				// The Node commands, exactly as shown, wrap the same key.bin.
				os.WriteFile(filepath.Join(dir, "wrap.js"), []byte(node), 0o600)
				cmd := exec.Command("node", "wrap.js")
				cmd.Dir = dir
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("node: %v", err)
				}
				wrapped = string(out)
			}
			res, page := b.post(t, s.URL+"/import-requests/"+link[1]+"/upload", url.Values{"csrf_token": {csrfToken(t, upload)},
				"import_token": {token[1]}, "wrapped_key": {wrapped}, "alias": {"alias/keyport/" + tt.md}, "valid_days": {"0"}}, nil)
			got := fingerprintRE.FindStringSubmatch(page)
			if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Request.URL.Path, "/keys/key_") || got == nil || got[1] != fp {
				t.Fatalf("upload: %d %s, fingerprint %v, want %s", res.StatusCode, res.Request.URL, got, fp)
			}
			keys[tt.wrapping] = lastSegment(res.Request.URL.Path)

			// Re-import of this key from the pages: the commands without
			// their first step (key.bin is the backup) are taken; a new
			// key (the commands as shown) is refused naming the mismatch.
			if !strings.Contains(page, `href="/import-requests?reimport=`+keys[tt.wrapping]+`"`) {
				t.Errorf("the key page has no re-import link")
			}
			_, list = b.get(t, s.URL+"/import-requests?reimport="+keys[tt.wrapping])
			if !strings.Contains(list, `data-testid="reimport-request-form"`) || !strings.Contains(list, `<option value="`+keys[tt.wrapping]+`" selected>`) {
				t.Fatalf("no re-import form with the key chosen:\n%s", list)
			}
			res, bad := b.post(t, s.URL+"/import-requests", url.Values{"csrf_token": {csrfToken(t, list)}, "reimport_key_id": {keys[tt.wrapping]},
				"wrapping": {"RSA_AES_KEY_WRAP_SHA_256"}}, nil)
			if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(bad, `data-testid="error-reimport_wrapping"`) ||
				strings.Contains(bad, `data-testid="error-wrapping"`) {
				t.Errorf("bad wrapping on the re-import form: %d", res.StatusCode)
			}
			_, made = b.post(t, s.URL+"/import-requests", url.Values{"csrf_token": {csrfToken(t, list)}, "reimport_key_id": {keys[tt.wrapping]},
				"wrapping": {tt.wrapping}}, nil)
			if !strings.Contains(made, `data-testid="reimport-note"`) {
				t.Fatalf("re-import request page:\n%s", made)
			}
			token = regexp.MustCompile(`data-testid="import-token">(kpi_[A-Za-z0-9_-]+)<`).FindStringSubmatch(made)
			pubPEM = regexp.MustCompile(`(?s)data-testid="import-public-key">(.*?)</pre>`).FindStringSubmatch(made)
			link = regexp.MustCompile(`href="/import-requests/(imp_[a-z2-7]+)"`).FindStringSubmatch(made)
			_, upload = b.get(t, s.URL+"/import-requests/"+link[1])
			if !strings.Contains(upload, "its fingerprint must be "+fp) {
				t.Errorf("the re-import upload page does not name the fingerprint %s", fp)
			}
			os.WriteFile(filepath.Join(dir, "import-public.pem"), []byte(html.UnescapeString(pubPEM[1])), 0o600)
			backup := replReadFile(t, filepath.Join(dir, "key.bin"))
			otherFP := strings.TrimSpace(replBash(t, dir, openssl)) // a fresh key.bin: not the backup
			res, page = b.post(t, s.URL+"/import-requests/"+link[1]+"/upload", url.Values{"csrf_token": {csrfToken(t, upload)},
				"import_token": {token[1]}, "wrapped_key": {replReadFile(t, filepath.Join(dir, "wrapped.b64"))}}, nil)
			if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "fingerprint mismatch: the uploaded key has fingerprint "+otherFP) {
				t.Fatalf("re-import of another key: %d", res.StatusCode)
			}
			os.WriteFile(filepath.Join(dir, "key.bin"), []byte(backup), 0o600)
			replBash(t, dir, strings.Replace(openssl, "openssl rand 32 > key.bin\n", "", 1))
			res, page = b.post(t, s.URL+"/import-requests/"+link[1]+"/upload", url.Values{"csrf_token": {csrfToken(t, upload)},
				"import_token": {token[1]}, "wrapped_key": {replReadFile(t, filepath.Join(dir, "wrapped.b64"))}}, nil)
			if res.StatusCode != http.StatusOK || lastSegment(res.Request.URL.Path) != keys[tt.wrapping] || res.Request.URL.Query().Get("done") == "failed" {
				t.Fatalf("re-import of the backup: %d %s", res.StatusCode, res.Request.URL)
			}
		})
	}
	if hasNode != nil {
		t.Log("node is not installed: the Node commands were not run")
	}
}
