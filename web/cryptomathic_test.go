package web_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"keyport/keysvc/managed"
	"keyport/models"
	"keyport/web/devidp"
)

var cmxOwner = devidp.Identity{Email: "cmxOwner@cryptomathic.test", Name: "Cleo Owner", EmailVerified: true}

// TestCryptomathicStepsVerbatim replays Cryptomathic's Helpcenter
// (testdata/cryptomathic/document.txt) against keyport and kmslocal: each
// of its steps through keyport's pages, and what the document does in AWS
// (and what it checks there) with the real aws CLI and openssl
// (testdata/cryptomathic/commands.txt): create a key store and a key,
// renew, undo the renewal in AWS, lose the material and re-upload it,
// export it and import the copy by hand with AWS's wrapping, deactivate
// and activate, delete the key, and delete the store only once its keys
// are DELETED.
func TestCryptomathicStepsVerbatim(t *testing.T) {
	cli := cmxNeed(t, "aws")
	openssl := cmxNeed(t, "openssl")
	cmds := cmxCommands(t)
	s := newStack(t, nil)
	s.Managed.AttachWorker(s.Jobs)
	s.Managed.PreferWrappingKeySpec("RSA_2048")
	ctx := context.Background()
	b := newBrowser(t)
	s.signIn(t, b, cmxOwner)
	tenant := s.tenantOf(t, cmxOwner)
	dir := t.TempDir()
	run := func(i int, fill map[string]string) map[string]any {
		t.Helper()
		return cmxRun(t, s, cli, openssl, dir, cmds[i], fill)
	}
	post := func(path string, form url.Values) (*http.Response, string) {
		t.Helper()
		_, page := b.get(t, s.URL+"/dashboard")
		form.Set("csrf_token", csrfToken(t, page))
		return b.post(t, s.URL+path, form, nil)
	}

	// How to create a key store - part 1 and 2: an AWS connection, then
	// the store bound to it.
	s.addConnection(t, b, url.Values{"name": {"prod"}, "account_id": {awsTenantAcct}, "default_region": {awsRegion},
		"kind": {"access_key"}, "access_key_id": {awsUserAKID}, "secret_access_key": {awsUserSecret}})
	cs, err := s.DB.ListConnections(ctx, tenant)
	if err != nil || len(cs) != 1 {
		t.Fatalf("connection: %v %v", cs, err)
	}
	res, _ := post("/stores", url.Values{"name": {"Cryptomathic store"}, "connection_id": {cs[0].ID}})
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Request.URL.Path, "/stores/kst_") {
		t.Fatalf("create key store: %d %s", res.StatusCode, res.Request.URL.Path)
	}
	storeID := strings.TrimPrefix(res.Request.URL.Path, "/stores/")

	// How to create a key: "symmetric encryption KMS keys (AES-256-GCM)",
	// not multi-region, its material imported (origin EXTERNAL).
	res, _ = post("/stores/"+storeID+"/keys", url.Values{"name": {"ledger"}, "valid_days": {""}})
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Request.URL.Path, "/keys/key_") {
		t.Fatalf("create key: %d %s", res.StatusCode, res.Request.URL.Path)
	}
	keyID := strings.TrimPrefix(res.Request.URL.Path, "/keys/")
	mk, err := s.DB.GetManagedKey(ctx, tenant, keyID)
	if err != nil {
		t.Fatal(err)
	}
	fill := map[string]string{"${ALIAS}": mk.AliasName}
	md := run(0, fill)["KeyMetadata"].(map[string]any)
	for field, want := range map[string]any{"KeySpec": "SYMMETRIC_DEFAULT", "KeyUsage": "ENCRYPT_DECRYPT", "Origin": "EXTERNAL",
		"MultiRegion": false, "KeyState": "Enabled", "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"} {
		if md[field] != want {
			t.Errorf("the created KMS key's %s is %v, want %v", field, md[field], want)
		}
	}
	fill["${OLD_KEY}"] = md["Arn"].(string)
	enc, err := s.Keys.Encrypt(ctx, tenant, keyID, []byte("ledger entry"), map[string]string{"table": "ledger"})
	if err != nil {
		t.Fatal(err)
	}
	decrypts := func() bool { // through KMS, not the cache
		s.Keys.PurgeKey(tenant, keyID)
		d, err := s.Keys.Decrypt(ctx, tenant, enc.Ciphertext, map[string]string{"table": "ledger"})
		return err == nil && string(d.Plaintext) == "ledger entry"
	}

	// How to renew a key: a new KMS key with new material, the alias
	// redirected to it, the original enabled.
	if res, _ := post("/keys/"+keyID+"/renew", url.Values{}); res.StatusCode != http.StatusOK {
		t.Fatalf("renew: %d", res.StatusCode)
	}
	fill["${NEW_KEY}"] = activeKMSKey(t, s, tenant, keyID)
	if fill["${NEW_KEY}"] == fill["${OLD_KEY}"] {
		t.Fatal("the renewal made no new KMS key")
	}
	if st := run(1, fill)["KeyMetadata"].(map[string]any)["KeyState"]; st != "Enabled" {
		t.Errorf("the original KMS key after the renewal is %v, want Enabled", st)
	}
	if !cmxHasAlias(run(2, fill), mk.AliasName) {
		t.Errorf("%s does not name the new KMS key after the renewal", mk.AliasName)
	}

	// How do I undo a key renewal? In AWS: the alias back to the old key.
	// keyport sees the change made outside it ("out of synchronization");
	// its own Undo renewal puts its record in step.
	run(3, fill)
	res, page := post("/keys/"+keyID+"/drift", url.Values{})
	if res.StatusCode != http.StatusOK || !strings.Contains(page, `data-testid="drift-row" data-field="alias"`) {
		t.Fatalf("drift after the alias moved in AWS: %d", res.StatusCode)
	}
	if res, _ := post("/keys/"+keyID+"/undo", url.Values{}); res.StatusCode != http.StatusOK {
		t.Fatalf("undo renewal: %d", res.StatusCode)
	}
	if got := activeKMSKey(t, s, tenant, keyID); got != fill["${OLD_KEY}"] {
		t.Fatalf("after the undo keyport uses %s, want the original %s", got, fill["${OLD_KEY}"])
	}
	if res, page := post("/keys/"+keyID+"/drift", url.Values{}); res.StatusCode != http.StatusOK || strings.Contains(page, `data-testid="drift-row"`) {
		t.Errorf("drift after keyport's undo: %d", res.StatusCode)
	}
	if !decrypts() {
		t.Fatal("data encrypted before the renewal does not decrypt after its undo")
	}

	// "In case of the keys in AWS KMS being lost": keyport re-uploads.
	run(4, fill)
	if st := run(1, fill)["KeyMetadata"].(map[string]any)["KeyState"]; st != "PendingImport" {
		t.Fatalf("after deleting its material the KMS key is %v", st)
	}
	if decrypts() {
		t.Fatal("decrypts while the material is lost in KMS")
	}
	if res, _ := post("/keys/"+keyID+"/reupload", url.Values{}); res.StatusCode != http.StatusOK {
		t.Fatalf("re-upload: %d", res.StatusCode)
	}
	if st := run(1, fill)["KeyMetadata"].(map[string]any)["KeyState"]; st != "Enabled" || !decrypts() {
		t.Fatalf("after the re-upload the KMS key is %v", st)
	}

	// How to export a key, opened with the command keyport shows; the copy
	// is imported by hand after a second loss, with AWS's wrapping.
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	res, exported := post("/keys/"+keyID+"/export", url.Values{"format": {"rsa"}, "algorithm": {"RSAES_OAEP_SHA_256"},
		"public_key": {string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))}})
	if res.StatusCode != http.StatusOK || res.Header.Get("X-Keyport-Fingerprint") == "" {
		t.Fatalf("export: %d %.300s", res.StatusCode, exported)
	}
	privDER, _ := x509.MarshalPKCS8PrivateKey(priv)
	cmxWrite(t, dir, "private.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}))
	cmxWrite(t, dir, "keyport-export.bin", []byte(exported))
	cmxShell(t, dir, managed.RSAOpenCommand("keyport-export.bin"))
	active, err := s.DB.ActiveMaterial(ctx, tenant, keyID)
	if err != nil {
		t.Fatal(err)
	}
	if got := cmxShell(t, dir, managed.FingerprintCommand); strings.TrimSpace(got) != active.Fingerprint || res.Header.Get("X-Keyport-Fingerprint") != active.Fingerprint {
		t.Fatalf("fingerprint of the opened export %q, keyport's %q", got, active.Fingerprint)
	}
	run(4, fill)
	params := run(5, fill)
	for name, field := range map[string]string{"wrapping-key.der": "PublicKey", "token.bin": "ImportToken"} {
		raw, err := base64.StdEncoding.DecodeString(params[field].(string))
		if err != nil {
			t.Fatal(err)
		}
		cmxWrite(t, dir, name, raw)
	}
	run(6, fill) // openssl pkeyutl -encrypt
	run(7, fill) // aws kms import-key-material
	if st := run(1, fill)["KeyMetadata"].(map[string]any)["KeyState"]; st != "Enabled" || !decrypts() {
		t.Fatalf("after importing the exported copy by hand the KMS key is %v", st)
	}
	if res, page := post("/keys/"+keyID+"/drift", url.Values{}); res.StatusCode != http.StatusOK || strings.Contains(page, `data-testid="drift-row"`) {
		t.Errorf("drift after the import by hand of the same material: %d", res.StatusCode)
	}

	// How to activate and deactivate a key.
	for _, step := range []struct{ path, want string }{{"deactivate", "Disabled"}, {"activate", "Enabled"}} {
		// Deactivating asks for the key's name first (issue 14).
		if res, _ := post("/keys/"+keyID+"/"+step.path, url.Values{"confirm_name": {"ledger"}}); res.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", step.path, res.StatusCode)
		}
		if st := run(1, fill)["KeyMetadata"].(map[string]any)["KeyState"]; st != step.want {
			t.Errorf("after %s the KMS key is %v, want %s", step.path, st, step.want)
		}
	}

	// How to delete a key, and the store only once its keys are DELETED.
	if res, _ := post("/stores/"+storeID+"/delete", url.Values{}); res.StatusCode != http.StatusConflict {
		t.Errorf("deleting a store whose key is not DELETED: %d, want 409", res.StatusCode)
	}
	if res, _ := post("/keys/"+keyID+"/delete", url.Values{"window_days": {"7"}, "acknowledge": {"true"}}); res.StatusCode != http.StatusOK {
		t.Fatalf("delete key: %d", res.StatusCode)
	}
	for _, k := range []string{"${OLD_KEY}", "${NEW_KEY}"} {
		if st := run(1, map[string]string{"${OLD_KEY}": fill[k]})["KeyMetadata"].(map[string]any)["KeyState"]; st != "PendingDeletion" {
			t.Errorf("KMS key %s after the deletion: %v", fill[k], st)
		}
	}
	if res, _ := post("/stores/"+storeID+"/delete", url.Values{}); res.StatusCode != http.StatusConflict {
		t.Errorf("deleting a store whose key is PENDING_DELETION: %d, want 409", res.StatusCode)
	}
	// The window ends. (The stack's managed-key service keeps the real
	// clock, so the recorded end of the window moves instead of the clock.)
	q := "UPDATE managed_keys SET deletion_at = ? WHERE key_id = ?"
	if models.IsPostgresURL(s.DSN) {
		q = "UPDATE managed_keys SET deletion_at = $1 WHERE key_id = $2"
	}
	if _, err := s.rawSQL(t).Exec(q, time.Now().Add(-time.Minute).UTC(), keyID); err != nil {
		t.Fatal(err)
	}
	s.Jobs.Tick(ctx)
	if k, _ := s.DB.GetKey(ctx, tenant, keyID); k == nil || k.State != models.StateDeleted {
		t.Fatalf("key after its window: %+v", k)
	}
	if res, _ := post("/stores/"+storeID+"/delete", url.Values{}); res.StatusCode != http.StatusOK {
		t.Errorf("deleting a store whose keys are DELETED: %d", res.StatusCode)
	}
}

// cmxNeed returns the path of a command the replay runs, or skips the
// test (fails it with KEYPORT_E2E=1) when it is not installed.
func cmxNeed(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("KEYPORT_E2E") == "1" {
			t.Fatalf("%s is not installed (Debian package awscli / openssl); KEYPORT_E2E=1 needs it", name)
		}
		t.Skipf("%s is not installed (Debian package awscli / openssl): skipping the replay of Cryptomathic's steps", name)
	}
	return path
}

// cmxCommands reads the commands of testdata/cryptomathic/commands.txt in
// order, comments and blank lines left out.
func cmxCommands(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "cryptomathic", "commands.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	if len(out) != 8 {
		t.Fatalf("commands.txt has %d commands, want 8", len(out))
	}
	return out
}

// cmxRun runs one command of commands.txt in dir: aws against the stack's
// kmslocal as the tenant account's admin (nothing of the machine's AWS
// configuration), openssl as it is. It returns aws's JSON answer.
func cmxRun(t *testing.T, s *stack, cli, openssl, dir, line string, fill map[string]string) map[string]any {
	t.Helper()
	for k, v := range fill {
		line = strings.ReplaceAll(line, k, v)
	}
	if strings.Contains(line, "${") {
		t.Fatalf("unfilled placeholder in %q", line)
	}
	f := strings.Fields(line)
	var cmd *exec.Cmd
	home := t.TempDir()
	switch f[0] {
	case "aws":
		cmd = exec.Command(cli, append(f[1:], "--endpoint-url", s.KMS.URL(), "--region", awsRegion, "--output", "json")...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "AWS_ACCESS_KEY_ID=" + awsAdminAKID, "AWS_SECRET_ACCESS_KEY=" + awsAdminSecret,
			"AWS_PAGER=", "AWS_CONFIG_FILE=" + home + "/config", "AWS_SHARED_CREDENTIALS_FILE=" + home + "/credentials"}
	case "openssl":
		cmd = exec.Command(openssl, f[1:]...)
	default:
		t.Fatalf("not an aws or openssl command: %q", line)
	}
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", line, err, stderr.String())
	}
	var v map[string]any
	if len(bytes.TrimSpace(out)) > 0 {
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("%s: answer is not JSON: %v\n%s", line, err, out)
		}
	}
	return v
}

// cmxShell runs a shell command line keyport shows to tenants, in dir.
func cmxShell(t *testing.T, dir, line string) string {
	t.Helper()
	cmd := exec.Command("sh", "-c", line)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", line, err, stderr.String())
	}
	return string(out)
}

func cmxWrite(t *testing.T, dir, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// cmxHasAlias reports whether a list-aliases answer names alias.
func cmxHasAlias(v map[string]any, alias string) bool {
	as, _ := v["Aliases"].([]any)
	for _, a := range as {
		if m, _ := a.(map[string]any); m["AliasName"] == alias {
			return true
		}
	}
	return false
}
