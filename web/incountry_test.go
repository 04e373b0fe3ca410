package web_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"keyport/keysvc/envelope"
	"keyport/keysvc/kmslocal"
	"keyport/web/devidp"
	"keyport/web/mailcatcher"
)

// needAWSCLI returns the path of the real aws CLI, or skips the test
// (fails it with KEYPORT_E2E=1) when it is not installed.
func needAWSCLI(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("aws")
	if err != nil {
		if os.Getenv("KEYPORT_E2E") == "1" {
			t.Fatal("the aws CLI is not installed (Debian package awscli); KEYPORT_E2E=1 needs it")
		}
		t.Skip("the aws CLI is not installed (Debian package awscli): skipping the replay of the vendor's CLI steps")
	}
	return path
}

// awsCLI runs the real aws CLI against the stack's kmslocal as one access
// key, with nothing of the machine's AWS configuration, and returns its
// standard output.
func (s *stack) awsCLI(t *testing.T, cli, akid, secret, region string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(cli, append(args, "--endpoint-url", s.KMS.URL(), "--output", "json")...)
	home := t.TempDir()
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "AWS_ACCESS_KEY_ID=" + akid, "AWS_SECRET_ACCESS_KEY=" + secret,
		"AWS_DEFAULT_REGION=" + region, "AWS_PAGER=", "AWS_CONFIG_FILE=" + home + "/config", "AWS_SHARED_CREDENTIALS_FILE=" + home + "/credentials"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// vendorCommand reads the command a testdata file quotes (its last line
// that is not a comment), fills in the placeholders and splits it into the
// aws CLI's arguments.
func vendorCommand(t *testing.T, file string, fill map[string]string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var cmd string
	for _, line := range strings.Split(string(b), "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
			cmd = l
		}
	}
	for k, v := range fill {
		cmd = strings.ReplaceAll(cmd, k, v)
	}
	f := strings.Fields(cmd)
	if len(f) < 2 || f[0] != "aws" {
		t.Fatalf("%s: no aws command: %q", file, cmd)
	}
	return f[1:]
}

// dataAPI calls the data API with a service token.
func (s *stack) dataAPI(t *testing.T, token, path string, body any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, s.URL+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

var ivy = devidp.Identity{Email: "ivy@incountry.test", Name: "Ivy Owner", EmailVerified: true}

// InCountry's IAM user for the provider: only the policy of the document.
const (
	inCountryAKID   = "AKIAINCOUNTRYBYOK001"
	inCountrySecret = "InCountryByokSecretAccessKey000000000001" // 40 characters
)

// TestInCountryStepsVerbatim replays InCountry's BYOK document (reference
// 003) against kmslocal: a symmetric single-region KMS key; the data key
// made with the document's own command, run with the real aws CLI (no
// encryption context); the document's least-privilege IAM policy
// (kms:Decrypt and kms:DescribeKey on the key's ARN) for the IAM user
// whose access key the provider gets; registration with the blob through
// keyport's pages; validation; encrypt and decrypt through the data API;
// and a scheduled rotation that asks for a new data key instead of making
// one, then takes the tenant's upload as the next version.
func TestInCountryStepsVerbatim(t *testing.T) {
	cli := needAWSCLI(t)
	s := newFullStack(t, nil)
	ctx := context.Background()

	// "Create a KMS Key via AWS KMS": symmetric, encrypt and decrypt,
	// origin KMS, single-region; the ARN is copied.
	arn := s.tenantKMSKey(t, "")

	// "Generate an Encrypted Data Key via AWS KMS", as the admin user that
	// holds kms:GenerateDataKeyWithoutPlaintext, in the key's region.
	genDataKey := func() string {
		t.Helper()
		out := s.awsCLI(t, cli, awsAdminAKID, awsAdminSecret, awsRegion,
			vendorCommand(t, "testdata/incountry/commands.txt", map[string]string{"<KMS_KEY_ARN>": arn})...)
		var resp struct{ CiphertextBlob, KeyId string }
		if err := json.Unmarshal(out, &resp); err != nil || resp.CiphertextBlob == "" {
			t.Fatalf("the CLI's answer is not the document's JSON: %v\n%s", err, out)
		}
		if resp.KeyId != arn {
			t.Fatalf("KeyId %q, want the key's ARN %q", resp.KeyId, arn)
		}
		return resp.CiphertextBlob
	}
	blob := genDataKey()

	// "Create a New IAM Policy With Decrypt Access to the Created KMS Key"
	// and "Create a New IAM User with a Previously Created IAM Policy".
	pol, err := os.ReadFile("testdata/incountry/policy.json")
	if err != nil {
		t.Fatal(err)
	}
	pol = bytes.ReplaceAll(pol, []byte("KMS_KEY_ARN"), []byte(arn))
	if err := s.KMS.AddPrincipal(kmslocal.Principal{AccessKeyID: inCountryAKID, SecretAccessKey: inCountrySecret,
		ARN: "arn:aws:iam::" + awsTenantAcct + ":user/incountry-byok", Policies: []json.RawMessage{pol}}); err != nil {
		t.Fatal(err)
	}

	// "Setting up a BYOK AWS KMS Key": encrypted data key, access key,
	// secret access key, KMS key ARN and region code, through the pages.
	b := newBrowser(t)
	s.signIn(t, b, ivy)
	tenant := s.tenantOf(t, ivy)
	if res, _ := s.addConnection(t, b, url.Values{"name": {"incountry"}, "account_id": {awsTenantAcct}, "default_region": {awsRegion},
		"kind": {"access_key"}, "access_key_id": {inCountryAKID}, "secret_access_key": {inCountrySecret}}); res.StatusCode != http.StatusOK {
		t.Fatalf("add connection: %d", res.StatusCode)
	}
	cs, _ := s.DB.ListConnections(ctx, tenant)
	_, page := b.get(t, s.URL+"/keys/new")
	res, page := b.post(t, s.URL+"/keys", url.Values{"csrf_token": {csrfToken(t, page)}, "connection_id": {cs[0].ID}, "name": {"customers"},
		"key_arn": {arn}, "encrypted_data_key": {blob}}, nil)
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Request.URL.Path, "/keys/key_") {
		t.Fatalf("register with InCountry's data key and policy: %d %s\n%s", res.StatusCode, res.Request.URL, page)
	}
	keyID := strings.TrimPrefix(res.Request.URL.Path, "/keys/")
	for _, want := range []string{"Not applicable: you supply this key", "made without an encryption context", `data-testid="tenant-data-key"`,
		"not verifiable without kms:GetKeyRotationStatus"} {
		if !strings.Contains(page, want) {
			t.Errorf("key page lacks %q", want)
		}
	}
	ws, _ := s.DB.DataKeyWraps(ctx, tenant, keyID, 1)
	if len(ws) != 1 || base64.StdEncoding.EncodeToString(ws[0].Ciphertext) != blob || !ws[0].NoContext {
		t.Fatalf("version 1 is not the tenant's blob recorded without context: %+v", ws)
	}

	// Validation passes with the least-privilege policy.
	s.Clock.Advance(time.Second) // the check's record is the latest one
	_, page = b.get(t, s.URL+"/keys/"+keyID)
	res, page = b.post(t, s.URL+"/keys/"+keyID+"/check", url.Values{"csrf_token": {csrfToken(t, page)}}, nil)
	k, _ := s.DB.GetKey(ctx, tenant, keyID)
	if res.StatusCode != http.StatusOK || k.Health != "OK" || !strings.Contains(page, "The current data key (version 1) decrypts in "+awsRegion) {
		t.Fatalf("validation: %d health %s %q", res.StatusCode, k.Health, k.HealthDetail)
	}

	// Encrypt and decrypt through the data API; keyport's own record
	// format (key id, version, tenant binding) is unchanged.
	token, _, err := s.Keys.NewServiceToken(ctx, tenant, "incountry", "test")
	if err != nil {
		t.Fatal(err)
	}
	pt := base64.StdEncoding.EncodeToString([]byte("passport 123"))
	cx := map[string]string{"field": "passport"}
	code, enc := s.dataAPI(t, token, "/api/v1/encrypt", map[string]any{"key_id": keyID, "plaintext": pt, "context": cx})
	if code != http.StatusOK || enc["key_version"] != float64(1) {
		t.Fatalf("encrypt: %d %v", code, enc)
	}
	ct1 := enc["ciphertext"].(string)
	raw, _ := base64.StdEncoding.DecodeString(ct1)
	if h, err := envelope.ParseCiphertext(raw); err != nil || h.KeyID != keyID || h.Version != 1 {
		t.Fatalf("ciphertext header: %v %+v", err, h)
	}
	decrypt := func(ct string) (int, map[string]any) {
		return s.dataAPI(t, token, "/api/v1/decrypt", map[string]any{"ciphertext": ct, "context": cx})
	}
	// After a purge the data key comes from KMS again, unwrapped without
	// an encryption context as it was made.
	_, page = b.get(t, s.URL+"/keys/"+keyID)
	b.post(t, s.URL+"/keys/"+keyID+"/purge", url.Values{"csrf_token": {csrfToken(t, page)}}, nil)
	if code, dec := decrypt(ct1); code != http.StatusOK || dec["plaintext"] != pt {
		t.Fatalf("decrypt after purge: %d %v", code, dec)
	}

	// Scheduled rotation (365 days by default): a request for a new data
	// key, never one keyport makes.
	s.Jobs.Tick(ctx) // the default policy
	s.Clock.Advance(366 * 24 * time.Hour)
	for range 3 {
		s.Jobs.Tick(ctx)
		s.Jobs.RunDue(ctx)
	}
	if k, _ = s.DB.GetKey(ctx, tenant, keyID); k.CurrentVersion != 1 {
		t.Fatalf("a scheduled rotation replaced the tenant's data key: version %d", k.CurrentVersion)
	}
	acts := strings.Join(s.auditActions(t, tenant), " ")
	if !strings.Contains(acts, "key.data_key_requested") || strings.Contains(acts, "key.data_key_rotated") {
		t.Fatalf("audit: %s", acts)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	m, err := s.Mail.WaitFor(wctx, func(m mailcatcher.Message) bool {
		return m.Subject == "Action needed: upload a new data key for key customers"
	})
	if err != nil || len(m.To) != 1 || m.To[0] != ivy.Email || !strings.Contains(m.Text, "generate-data-key-without-plaintext") {
		t.Fatalf("request email: %v %+v", err, m.To)
	}
	before := 0
	for _, m := range s.Mail.Messages() {
		if strings.Contains(m.Text, "keyport will rotate the key") {
			t.Errorf("a notice promises a rotation keyport will not make: %s", m.Subject)
		}
		if strings.HasPrefix(m.Subject, "Key customers needs a new data key in ") {
			before++
		}
	}
	if before == 0 {
		t.Error("no notice before the due date said a new data key will be needed")
	}
	s.signIn(t, b, ivy) // a year later: a new session
	_, page = b.get(t, s.URL+"/keys/"+keyID)
	if !strings.Contains(page, `data-testid="data-key-due"`) || !strings.Contains(page, `data-testid="data-key-form"`) {
		t.Fatal("the key page neither says a data key is due nor offers the upload")
	}
	if strings.Contains(page, `data-testid="rotate-now"`) {
		t.Error("the key page offers Rotate now for a key keyport must not make data keys for")
	}

	// The tenant runs the command again and uploads the blob.
	blob2 := genDataKey()
	res, page = b.post(t, s.URL+"/keys/"+keyID+"/data-key", url.Values{"csrf_token": {csrfToken(t, page)}, "encrypted_data_key": {blob}}, nil)
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "the data key the key uses now") {
		t.Errorf("the current data key again: %d", res.StatusCode)
	}
	res, page = b.post(t, s.URL+"/keys/"+keyID+"/data-key", url.Values{"csrf_token": {csrfToken(t, page)}, "encrypted_data_key": {blob2}}, nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(page, "new current version") || strings.Contains(page, `data-testid="data-key-due"`) {
		t.Fatalf("upload: %d\n%s", res.StatusCode, page)
	}
	if k, _ = s.DB.GetKey(ctx, tenant, keyID); k.CurrentVersion != 2 {
		t.Fatalf("version after the upload: %d", k.CurrentVersion)
	}
	code, enc = s.dataAPI(t, token, "/api/v1/encrypt", map[string]any{"key_id": keyID, "plaintext": pt, "context": cx})
	if code != http.StatusOK || enc["key_version"] != float64(2) {
		t.Fatalf("encrypt under the uploaded version: %d %v", code, enc)
	}
	for _, ct := range []string{ct1, enc["ciphertext"].(string)} {
		if code, dec := decrypt(ct); code != http.StatusOK || dec["plaintext"] != pt {
			t.Errorf("decrypt: %d %v", code, dec)
		}
	}
	acts = strings.Join(s.auditActions(t, tenant), " ")
	if !strings.Contains(acts, "key.data_key_uploaded") {
		t.Errorf("no audit event key.data_key_uploaded: %s", acts)
	}
	if strings.Contains(s.Logs.String(), inCountrySecret) {
		t.Error("the IAM secret reached the logs")
	}
}
