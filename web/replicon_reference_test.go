package web_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"keyport/keysvc"
	"keyport/keysvc/compliance"
	"keyport/models"
)

// Replicon's reference document (../shared/reference/004_*.txt), replayed
// as it is written. testdata/replicon holds its lines verbatim: the key
// policy of customer-managed BYOK (key-policy.json), Example 1 of the key
// import in bash and openssl (example1-openssl.sh) and Example 2 in Node.js
// (example2-node.js). The blank lines between their lines are the
// published text's.

// needTool finds a command line tool the reference replay runs, or skips
// the test saying which one is missing; with KEYPORT_E2E=1 it fails.
func replNeedTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("KEYPORT_E2E") == "1" {
			t.Fatalf("%s is not installed, and KEYPORT_E2E=1 needs it", name)
		}
		t.Skipf("%s is not installed: this replay of Replicon's document needs it", name)
	}
	return p
}

// repliconSteps reads Example 1 and splits it at its "# Step N:" headers:
// steps[n] is step n's lines, verbatim but for one thing: the published
// page indents continued lines with no-break spaces (U+00A0), which bash
// reads as a command named " "; they become plain spaces, as they must
// for anyone who pastes the example into a shell.
func repliconSteps(t *testing.T) map[int]string {
	t.Helper()
	raw, err := os.ReadFile("testdata/replicon/example1-openssl.sh")
	if err != nil {
		t.Fatal(err)
	}
	steps := map[int]string{}
	header := regexp.MustCompile(`^# Step (\d):`)
	n := 0
	for _, line := range strings.Split(strings.ReplaceAll(string(raw), "\u00a0", " "), "\n") {
		if m := header.FindStringSubmatch(line); m != nil {
			n = int(m[1][0] - '0')
		}
		if n > 0 {
			steps[n] += line + "\n"
		}
	}
	for _, want := range []string{"openssl rand 32 |", "openssl rsautl -encrypt -oaep -inkey publickey.crt -pubin", "rm importreq.json publickey.crt secure-key-import-ready.b64"} {
		if !strings.Contains(steps[1]+steps[4]+steps[6], want) {
			t.Fatalf("Example 1 lost %q", want)
		}
	}
	return steps
}

func replTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata/replicon", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// bashIn runs a script with bash in dir with env added, failing the test
// with its output when it fails.
func replBash(t *testing.T, dir, script string, env ...string) string {
	t.Helper()
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("bash: %v\nscript:\n%s\nstdout:\n%s\nstderr:\n%s", err, script, out.String(), errb.String())
	}
	return out.String()
}

// TestRepliconReferenceImport replays Replicon-managed BYOK's key import
// (Example 1) against keyport and kmslocal: Step 1 (the key made with
// openssl and kept under a password), Step 4 (wrapped with `openssl rsautl
// -encrypt -oaep`, RSA-OAEP with SHA-1) and Step 6 run exactly as the
// document writes them; Steps 3 and 5, Replicon's own API calls, are
// keyport's import-request calls (testdata/replicon/keyport-step{3,5}.sh,
// also in docs/coming-from-replicon.md). keyport imports the key into the
// tenant's KMS and validates it. Then the document's disaster: KMS loses
// the material, and the tenant re-imports its backup (secure-key.b64) with
// Step 4 again. Example 2 (Node.js's crypto.publicEncrypt, whose default is
// OAEP with SHA-1) runs unchanged through a stand-in for axios.
func TestRepliconReferenceImport(t *testing.T) {
	replNeedTool(t, "openssl")
	replNeedTool(t, "curl")
	replNeedTool(t, "jq")
	replNeedTool(t, "base64")
	s, storeID := importAPIStack(t)
	ctx := context.Background()
	steps := repliconSteps(t)
	dir := t.TempDir()
	env := []string{"endpoint=" + s.URL, "token=" + s.TenantToken}

	// Step 1, verbatim: secure-key.b64 is the tenant's key under its password.
	replBash(t, dir, steps[1])
	backup := replBackupKey(t, dir)
	fp, _ := keysvc.Fingerprint(backup)

	// Steps 3 to 6: keyport's Step 3, Replicon's Step 4, keyport's Step 5,
	// Replicon's Step 6.
	importOnce := func(request string) map[string]any {
		t.Helper()
		replBash(t, dir, replTestdata(t, "keyport-step3.sh")+steps[4]+replTestdata(t, "keyport-step5.sh")+steps[6], append(env, "request="+request)...)
		var out map[string]any
		if err := json.Unmarshal([]byte(replReadFile(t, filepath.Join(dir, "importresult.json"))), &out); err != nil {
			t.Fatal(err)
		}
		for _, gone := range []string{"importreq.json", "publickey.crt", "secure-key-import-ready.b64"} {
			if _, err := os.Stat(filepath.Join(dir, gone)); !os.IsNotExist(err) {
				t.Errorf("Step 6 left %s", gone)
			}
		}
		return out
	}
	out := importOnce(`{"store_id":"` + storeID + `","key_name":"replicon","wrapping":"RSAES_OAEP_SHA_1"}`)
	keyID, _ := out["key_id"].(string)
	if out["fingerprint"] != fp || out["operation"] != models.OpDone || out["state"] != string(models.StateEnabled) {
		t.Fatalf("import: %v (fingerprint of secure-key.b64: %s)", out, fp)
	}
	validated := func() {
		t.Helper()
		st, k, _ := s.call(t, "GET", "/api/v1/keys/"+keyID, s.TenantToken, nil)
		if st != 200 || k["state"] != string(models.StateEnabled) || k["health"] != string(models.HealthOK) {
			t.Fatalf("key after the import: %d %v", st, k)
		}
		st, enc, _ := s.call(t, "POST", "/api/v1/encrypt", s.TenantToken, map[string]any{"key_id": keyID, "plaintext": b64("timesheet")})
		if st != 200 {
			t.Fatalf("encrypt: %d %v", st, enc)
		}
		if st, dec, _ := s.call(t, "POST", "/api/v1/decrypt", s.TenantToken, map[string]any{"ciphertext": enc["ciphertext"]}); st != 200 || dec["plaintext"] != b64("timesheet") {
			t.Fatalf("decrypt: %d %v", st, dec)
		}
		// Replicon's "audit report that validates the implementation":
		// keyport checks the key in KMS (the key page's Check now), and the
		// validation report judges it.
		_, checks, err := s.Service.CheckKey(ctx, s.Tenant.ID, keysvc.RequestBy{UserID: s.Owner.ID}, keyID)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range checks {
			if !c.OK && !c.Skipped {
				t.Errorf("check %s: %s", c.Name, c.Detail)
			}
		}
		krs, err := s.DB.KeyReports(ctx, s.Tenant.ID)
		if err != nil {
			t.Fatal(err)
		}
		ps, _ := s.Service.ProviderSettings(ctx)
		judged := false
		for _, kr := range krs {
			if kr.Key.ID != keyID {
				continue
			}
			judged = true
			for _, p := range compliance.Evaluate(kr, ps, s.Clock.Now()).Properties {
				if p.Result == compliance.ResultFail || (p.Property == "enabled" || p.Property == "symmetric") && p.Result != compliance.ResultPass {
					t.Errorf("validation report: %+v", p)
				}
			}
		}
		if !judged {
			t.Error("the validation report does not judge the imported key")
		}
	}
	validated()

	// The same Step 4 against a request that kept keyport's default
	// (SHA-256) is refused with a message saying which wrapping it wants.
	st, req, _ := s.call(t, "POST", "/api/v1/import-requests", s.TenantToken, map[string]any{"store_id": storeID, "key_name": "sha256"})
	if st != 201 || req["wrapping"] != "RSAES_OAEP_SHA_256" {
		t.Fatalf("default request: %d %v", st, req)
	}
	os.WriteFile(filepath.Join(dir, "publickey.crt"), []byte(req["public_key"].(string)), 0o600)
	replBash(t, dir, steps[4])
	wrapped := strings.Join(strings.Fields(replReadFile(t, filepath.Join(dir, "secure-key-import-ready.b64"))), "")
	st, refused, _ := s.call(t, "POST", "/api/v1/import-requests/"+req["id"].(string)+"/upload", s.TenantToken,
		map[string]any{"import_token": req["import_token"], "wrapped_key": wrapped})
	if st != 400 || !strings.Contains(errMessage(refused), "RSA-OAEP, SHA-256") {
		t.Errorf("rsautl -oaep against a SHA-256 request: %d %v", st, refused)
	}

	// "AWS may lose access to the key material ... and require you to
	// re-import the key material": the tenant re-imports secure-key.b64.
	mats, _ := s.DB.KeyMaterials(ctx, s.Tenant.ID, keyID)
	if err := s.KMS.LoseKeyMaterial(mats[0].KMSKeyARN); err != nil {
		t.Fatal(err)
	}
	s.Service.PurgeKey(s.Tenant.ID, keyID)
	if st, enc, _ := s.call(t, "POST", "/api/v1/datakey", s.TenantToken, map[string]any{"key_id": keyID}); st == 200 {
		t.Fatalf("the key still works without its material in KMS: %v", enc)
	}
	out = importOnce(`{"key_id":"` + keyID + `","wrapping":"RSAES_OAEP_SHA_1"}`)
	if out["key_id"] != keyID || out["reimported"] != true || out["fingerprint"] != fp || out["operation"] != models.OpDone {
		t.Fatalf("re-import of the backup: %v", out)
	}
	s.Service.PurgeKey(s.Tenant.ID, keyID)
	validated()

	// Example 2, Node.js, unchanged; its publicEncrypt default is OAEP
	// with SHA-1.
	if _, err := exec.LookPath("node"); err != nil {
		t.Log("node is not installed: Example 2 (Node.js) not replayed")
		return
	}
	node := func(request string) map[string]any {
		t.Helper()
		cmd := exec.Command("node", "testdata/replicon/axios-keyport.js", "testdata/replicon/example2-node.js")
		cmd.Env = append(os.Environ(), "KEYPORT_URL="+s.URL, "KEYPORT_TOKEN="+s.TenantToken, "KEYPORT_REQUEST="+request)
		raw, _ := cmd.Output()
		var res map[string]any
		if err := json.Unmarshal(raw, &res); err != nil {
			t.Fatalf("node: %v: %s", err, raw)
		}
		return res
	}
	res := node(`{"store_id":"` + storeID + `","key_name":"replicon node","wrapping":"RSAES_OAEP_SHA_1"}`)
	ok, _ := res["ok"].(map[string]any)
	post, _ := ok["respPost"].(map[string]any)
	material, _ := base64.StdEncoding.DecodeString(ok["keyMaterial"].(string))
	nodeFP, _ := keysvc.Fingerprint(material)
	if post["status"] != models.OpDone || post["fingerprint"] != nodeFP {
		t.Fatalf("Example 2: %v", res)
	}
	// With keyport's default wrapping the same code is refused, saying why.
	res = node(`{"store_id":"` + storeID + `","key_name":"replicon node sha256"}`)
	e, _ := res["error"].(map[string]any)
	if e == nil || !strings.Contains(errMessage(e), "RSA-OAEP, SHA-256") {
		t.Errorf("Example 2 against a SHA-256 request: %v", res)
	}
}

// testdataKey opens secure-key.b64 as Step 4 does (base64 -d, then openssl
// enc -d with the document's password): the tenant's 32-byte key.
func replBackupKey(t *testing.T, dir string) []byte {
	t.Helper()
	cmd := exec.Command("bash", "-c", "base64 -d < secure-key.b64 | openssl enc -d -aes-256-cbc -pass pass:RepliconRocks -md sha1")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil || len(out) != 32 {
		t.Fatalf("open secure-key.b64: %v (%d bytes)", err, len(out))
	}
	return out
}

func replReadFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
