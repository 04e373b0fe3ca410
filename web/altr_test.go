package web_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"keyport/handlers"
)

// altrDir holds ALTR's steps, quoted from its BYOK document, and the key
// policy, IAM policy and AWS CLI commands that carry them out.
const altrDir = "testdata/altr"

// TestALTRDocument replays ALTR's "Bring Your Own Key (BYOK) for
// Tokenization" against kmslocal: its AWS CLI commands make a multi-region
// key in us-east-1 with replicas in us-east-2 and us-west-2 under a policy
// granting exactly kms:Encrypt, kms:Decrypt, kms:ReEncrypt* and
// kms:GenerateDataKey* (no kms:DescribeKey), and keyport registers,
// validates and uses the key through its pages and data API, reporting
// what it cannot verify without DescribeKey instead of refusing the key.
func TestALTRDocument(t *testing.T) {
	awsPath := altrCLI(t)
	s := newFullStack(t, nil)
	b := newBrowser(t)
	s.signIn(t, b, carol)
	tenant := s.tenantOf(t, carol)
	conn := altrRoleConnection(t, s, b, tenant)

	// The role keyport assumes carries the document's permissions as its IAM
	// policy (step 2's "IAM Policy with the proper permissions").
	if err := s.KMS.SetIdentityPolicy(awsRoleARN, altrFile(t, "iam-policy.json")); err != nil {
		t.Fatal(err)
	}
	out := altrRunCommands(t, s, awsPath)
	keyID, arn := out[0], out[len(out)-1]
	if !strings.HasPrefix(keyID, "mrk-") || arn != "arn:aws:kms:us-east-1:"+awsTenantAcct+":key/"+keyID {
		t.Fatalf("CLI made key %q with ARN %q, want a multi-region key in us-east-1", keyID, arn)
	}

	// kmslocal enforces the policy as AWS would: keyport's role may not
	// describe the key, in the primary region or a replica.
	for _, region := range []string{"us-east-1", "us-east-2"} {
		_, err := altrRoleKMS(t, s, region).DescribeKey(context.Background(), &kms.DescribeKeyInput{KeyId: aws.String(strings.Replace(arn, "us-east-1", region, 1))})
		var apiErr smithy.APIError
		if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "AccessDeniedException" {
			t.Fatalf("DescribeKey as keyport's role in %s: %v, want AccessDeniedException", region, err)
		}
	}

	// Step 5: the us-east-1 ARN, and the replicas' regions, which keyport
	// cannot discover without DescribeKey.
	_, page := b.get(t, s.URL+"/keys/new")
	res, page := b.post(t, s.URL+"/keys", url.Values{"csrf_token": {csrfToken(t, page)}, "connection_id": {conn}, "name": {"token vault"},
		"key_arn": {arn}, "extra_arns": {"us-east-2\nus-west-2"}}, nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(page, "Key registered") {
		t.Fatalf("register ALTR's key: %d\n%s", res.StatusCode, altrChecks(page))
	}
	keyURL := s.URL + res.Request.URL.Path
	keyportID := strings.TrimPrefix(res.Request.URL.Path, "/keys/")
	altrWantKeyPage(t, page)

	// Check now: the same verdict, recorded as a validation.
	res, page = b.post(t, keyURL+"/check", url.Values{"csrf_token": {csrfToken(t, page)}}, nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(page, "Checked just now") {
		t.Fatalf("check now: %d", res.StatusCode)
	}
	altrWantKeyPage(t, page)

	// The data API encrypts and decrypts with it.
	tok, _, err := s.Keys.NewServiceToken(context.Background(), tenant, "tokenization", "operator")
	if err != nil {
		t.Fatal(err)
	}
	st, enc := altrCall(t, s, tok, "/api/v1/encrypt", map[string]any{"key_id": keyportID, "plaintext": b64("4111 1111 1111 1111"), "context": map[string]string{"vault": "tokens"}})
	if st != http.StatusOK {
		t.Fatalf("encrypt: %d %v", st, enc)
	}
	if err := s.Keys.Purge(context.Background(), tenant, keyportID, "test"); err != nil {
		t.Fatal(err)
	}
	st, dec := altrCall(t, s, tok, "/api/v1/decrypt", map[string]any{"ciphertext": enc["ciphertext"], "context": map[string]string{"vault": "tokens"}})
	if st != http.StatusOK || dec["plaintext"] != b64("4111 1111 1111 1111") {
		t.Fatalf("decrypt: %d %v", st, dec)
	}
	if n := s.KMS.Calls("DescribeKey"); n == 0 {
		t.Error("keyport never tried DescribeKey, so the test proves nothing about it")
	}
}

// altrWantKeyPage checks a key page or registration result for ALTR's key:
// healthy, every region used and checked, and DescribeKey's checks shown as
// not verifiable rather than failed.
func altrWantKeyPage(t *testing.T, page string) {
	t.Helper()
	if strings.Contains(page, `data-ok="false"`) || !strings.Contains(page, `data-health="OK"`) {
		t.Errorf("a check failed or the key is not healthy:\n%s", altrChecks(page))
	}
	if !strings.Contains(page, `data-unverifiable="kms:DescribeKey"`) || !strings.Contains(page, "not verifiable without kms:DescribeKey") {
		t.Errorf("no check says it is not verifiable without kms:DescribeKey:\n%s", altrChecks(page))
	}
	for _, region := range []string{"us-east-1", "us-east-2", "us-west-2"} {
		if !strings.Contains(page, "Encrypt and decrypt in "+region) {
			t.Errorf("region %s was not checked", region)
		}
	}
	if !strings.Contains(page, "It uses and checks the regions you listed: us-east-2, us-west-2") {
		t.Errorf("the replica regions check does not say keyport uses the listed regions:\n%s", altrChecks(page))
	}
}

// TestMultiRegionReplicasDiscovered: with kms:DescribeKey granted, keyport
// finds an mrk- key's replicas from its multi-region configuration when only
// the primary's ARN is registered, and checks each region.
func TestMultiRegionReplicasDiscovered(t *testing.T) {
	s := newFullStack(t, nil)
	b := newBrowser(t)
	s.signIn(t, b, carol)
	tenant := s.tenantOf(t, carol)
	conn := altrRoleConnection(t, s, b, tenant)
	arn := altrMultiRegionKey(t, s, "us-east-2", "us-west-2")

	keyID, page := altrRegister(t, s, b, conn, arn)
	if strings.Contains(page, `data-ok="false"`) || !strings.Contains(page, `data-health="OK"`) || strings.Contains(page, "data-unverifiable=\"kms:") {
		t.Errorf("checks:\n%s", altrChecks(page))
	}
	if !strings.Contains(page, "KMS lists replicas in us-east-2, us-west-2; keyport uses and checks each.") {
		t.Errorf("replicas not reported as discovered:\n%s", altrChecks(page))
	}
	rs, err := s.DB.KeyRegions(context.Background(), tenant, keyID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rs {
		got = append(got, r.Region+"="+r.KMSKeyARN)
		if !strings.HasSuffix(r.KMSKeyARN, arn[strings.LastIndex(arn, "/"):]) {
			t.Errorf("region %s uses %s, not the replica of %s", r.Region, r.KMSKeyARN, arn)
		}
	}
	if len(rs) != 3 || rs[0].Region != "us-east-1" || rs[1].Region != "us-east-2" || rs[2].Region != "us-west-2" {
		t.Fatalf("registered regions = %v", got)
	}
	for _, region := range []string{"us-east-1", "us-east-2", "us-west-2"} {
		if !strings.Contains(page, "Encrypt and decrypt in "+region) {
			t.Errorf("region %s was not checked", region)
		}
	}

	// The default failover rule: a primary region out of reach is served
	// by the next region, and the key stays healthy.
	ctx := context.Background()
	tok, _, err := s.Keys.NewServiceToken(ctx, tenant, "tokenization", "operator")
	if err != nil {
		t.Fatal(err)
	}
	st, enc := altrCall(t, s, tok, "/api/v1/encrypt", map[string]any{"key_id": keyID, "plaintext": b64("x")})
	if st != http.StatusOK {
		t.Fatalf("encrypt: %d %v", st, enc)
	}
	if err := s.Keys.Purge(ctx, tenant, keyID, "test"); err != nil {
		t.Fatal(err)
	}
	s.KMS.FailNext("Decrypt", 1, "KMSInternalException")
	before := s.KMS.Calls("Decrypt")
	if st, dec := altrCall(t, s, tok, "/api/v1/decrypt", map[string]any{"ciphertext": enc["ciphertext"]}); st != http.StatusOK {
		t.Fatalf("decrypt with the primary region failing: %d %v", st, dec)
	}
	if n := s.KMS.Calls("Decrypt") - before; n != 2 {
		t.Errorf("decrypt made %d KMS calls, want 2 (the primary, then us-east-2)", n)
	}
	if _, k := altrCall(t, s, tok, "/api/v1/keys/"+keyID, nil); k["health"] != "OK" {
		t.Errorf("health after an outage of the primary = %v, want OK", k["health"])
	}
}

// TestPrimaryRevokedServesFromReplica: ALTR's "revoke only the us-east-1
// key". With the provider's failover on revocation, decrypts go on through a
// replica, the key says "primary revoked, serving from replica in
// us-east-2" and stays so through more successful decrypts and a check;
// with failover off (the default) the same revocation stops decrypts.
func TestPrimaryRevokedServesFromReplica(t *testing.T) {
	s := newFullStack(t, func(c *handlers.Config) { c.Operators = []string{carol.Email} })
	b := newBrowser(t)
	s.signIn(t, b, carol)
	tenant := s.tenantOf(t, carol)
	conn := altrRoleConnection(t, s, b, tenant)
	altrFailover(t, s, b, "revoked")
	arn := altrMultiRegionKey(t, s, "us-east-2", "us-west-2")
	keyID, page := altrRegister(t, s, b, conn, arn)
	token := csrfToken(t, page)
	keyURL := s.URL + "/keys/" + keyID

	// The key page states how long keyport may decrypt after a revocation.
	if !strings.Contains(page, `data-testid="cache-ttl">5 minutes<`) || !strings.Contains(page, "keep decrypting with data keys it already holds for up to 5 minutes") {
		t.Errorf("key page does not state the cache lifetime after a revocation")
	}
	if !strings.Contains(page, "If you revoke or disable only the primary key (us-east-1), keyport keeps decrypting through a replica") {
		t.Errorf("key page does not state the failover rule")
	}

	tok, _, err := s.Keys.NewServiceToken(context.Background(), tenant, "tokenization", "operator")
	if err != nil {
		t.Fatal(err)
	}
	ec := map[string]string{"vault": "tokens"}
	st, enc := altrCall(t, s, tok, "/api/v1/encrypt", map[string]any{"key_id": keyID, "plaintext": b64("secret"), "context": ec})
	if st != http.StatusOK {
		t.Fatalf("encrypt: %d %v", st, enc)
	}
	// decrypt drops the cached data keys first, so every decrypt asks KMS.
	decrypt := func() (int, map[string]any) {
		t.Helper()
		if res, _ := b.post(t, keyURL+"/purge", url.Values{"csrf_token": {token}}, nil); res.StatusCode != http.StatusOK {
			t.Fatalf("purge: %d", res.StatusCode)
		}
		return altrCall(t, s, tok, "/api/v1/decrypt", map[string]any{"ciphertext": enc["ciphertext"], "context": ec})
	}
	wantServing := func(step, reason string) {
		t.Helper()
		for i := range 3 {
			if st, dec := decrypt(); st != http.StatusOK || dec["plaintext"] != b64("secret") {
				t.Fatalf("%s: decrypt %d through the replica: %d %v", step, i, st, dec)
			}
			if st, k := altrCall(t, s, tok, "/api/v1/keys/"+keyID, nil); st != http.StatusOK || k["health"] != "PRIMARY_REVOKED" {
				t.Fatalf("%s: after decrypt %d the key's health is %v, want PRIMARY_REVOKED", step, i, k["health"])
			}
		}
		_, page := b.get(t, keyURL)
		if !strings.Contains(page, `data-health="PRIMARY_REVOKED"`) || !strings.Contains(page, "Primary revoked, serving from replica in us-east-2: "+reason) {
			t.Errorf("%s: key page does not say it serves from the replica", step)
		}
		// A check of the key agrees with the data path: no flap either way.
		if _, page = b.post(t, keyURL+"/check", url.Values{"csrf_token": {token}}, nil); !strings.Contains(page, `data-health="PRIMARY_REVOKED"`) ||
			!strings.Contains(page, "Primary revoked, serving from replica in us-east-2") {
			t.Errorf("%s: after Check now the key is not PRIMARY_REVOKED", step)
		}
		if st, dec := decrypt(); st != http.StatusOK {
			t.Fatalf("%s: decrypt after the check: %d %v", step, st, dec)
		}
	}

	admin := altrAdminKMS(t, s, "us-east-1")
	ctx := context.Background()
	// Revoke by disabling the primary only.
	if _, err := admin.DisableKey(ctx, &kms.DisableKeyInput{KeyId: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	wantServing("primary disabled", "the primary KMS key is disabled.")
	changes := altrHealthChanges(t, s, tenant)

	// The primary answers again: healthy.
	if _, err := admin.EnableKey(ctx, &kms.EnableKeyInput{KeyId: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	if st, _ := decrypt(); st != http.StatusOK {
		t.Fatalf("decrypt after the primary is enabled again: %d", st)
	}
	if _, k := altrCall(t, s, tok, "/api/v1/keys/"+keyID, nil); k["health"] != "OK" {
		t.Fatalf("health after the primary answers again = %v", k["health"])
	}

	// Revoke by removing keyport's grant from the primary's key policy only.
	adminOnly := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + awsTenantAcct + `:user/admin"},"Action":"kms:*","Resource":"*"}]}`
	if _, err := admin.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(arn), PolicyName: aws.String("default"), Policy: aws.String(adminOnly)}); err != nil {
		t.Fatal(err)
	}
	wantServing("grant removed", "KMS refused keyport on the primary KMS key")
	if n := altrHealthChanges(t, s, tenant); n != changes+1 {
		t.Errorf("the second revocation wrote %d health events, want 1 (no flapping)", n-changes)
	}

	// Failover off (the default rule): the same revocation stops decrypts.
	altrFailover(t, s, b, "unavailable")
	if st, dec := decrypt(); st != http.StatusFailedDependency || errCode(dec) != "key_access_revoked" {
		t.Fatalf("decrypt with failover off: %d %v, want 424 key_access_revoked", st, dec)
	}
	if _, k := altrCall(t, s, tok, "/api/v1/keys/"+keyID, nil); k["health"] != "ACCESS_DENIED" {
		t.Errorf("health with failover off = %v, want ACCESS_DENIED", k["health"])
	}
	_, page = b.get(t, keyURL)
	if !strings.Contains(page, "keyport stops using the key in every region") {
		t.Errorf("key page does not state that a revocation stops keyport")
	}
	// "never" does not use the replicas even while the primary is fine.
	altrFailover(t, s, b, "never")
	if st, _ := decrypt(); st != http.StatusFailedDependency {
		t.Errorf("decrypt with failover never: %d", st)
	}
}

// altrCLI is the aws command, or skips (fails with KEYPORT_E2E=1) without it.
func altrCLI(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("aws")
	if err != nil {
		if os.Getenv("KEYPORT_E2E") == "1" {
			t.Fatal("the AWS CLI (aws) is required with KEYPORT_E2E=1: apt-get install -y awscli")
		}
		t.Skip("the AWS CLI (aws) is not installed (Debian package awscli); ALTR's commands need it. KEYPORT_E2E=1 makes this a failure.")
	}
	return path
}

func altrFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(altrDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// altrRunCommands runs commands.txt with the aws CLI as the tenant's admin
// against kmslocal and returns each command's output, trimmed.
func altrRunCommands(t *testing.T, s *stack, awsPath string) []string {
	t.Helper()
	home := t.TempDir()
	vars := map[string]string{}
	var outs []string
	sc := bufio.NewScanner(strings.NewReader(altrFile(t, "commands.txt")))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "aws ") {
			continue
		}
		for k, v := range vars {
			line = strings.ReplaceAll(line, "${"+k+"}", v)
		}
		if strings.Contains(line, "${") {
			t.Fatalf("unresolved variable in %q", line)
		}
		args := append(strings.Fields(line)[1:], "--endpoint-url", s.KMS.URL())
		cmd := exec.Command(awsPath, args...)
		cmd.Dir = altrDir
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "AWS_ACCESS_KEY_ID=" + awsAdminAKID, "AWS_SECRET_ACCESS_KEY=" + awsAdminSecret,
			"AWS_CONFIG_FILE=" + filepath.Join(home, "none"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "none"),
			"AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER=", "AWS_MAX_ATTEMPTS=1"}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s: %v\n%s", line, err, stderr.String())
		}
		out := strings.TrimSpace(stdout.String())
		if len(outs) == 0 {
			vars["KEY_ID"] = out
		}
		outs = append(outs, out)
	}
	if len(outs) != 5 {
		t.Fatalf("commands.txt ran %d commands, want 5", len(outs))
	}
	return outs
}

// altrRoleConnection adds the role connection keyport uses for the tenant's
// account and returns its id.
func altrRoleConnection(t *testing.T, s *stack, b *browser, tenant string) string {
	t.Helper()
	res, _ := s.addConnection(t, b, url.Values{"name": {"altr role"}, "account_id": {awsTenantAcct}, "default_region": {"us-east-1"},
		"kind": {"assume_role"}, "role_arn": {awsRoleARN}})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("role connection: %d", res.StatusCode)
	}
	cs, err := s.DB.ListConnections(context.Background(), tenant)
	if err != nil || len(cs) != 1 {
		t.Fatalf("connections: %v %d", err, len(cs))
	}
	return cs[0].ID
}

// altrRoleKMS is a KMS client acting as keyport's role in the tenant's
// account, as keyport reaches it: the provider assumes the role with the
// external id.
func altrRoleKMS(t *testing.T, s *stack, region string) *kms.Client {
	t.Helper()
	cfg := s.KMS.AWSConfig(region, "AKIASTACKPROVIDER001", "stack-provider-secret")
	out, err := sts.NewFromConfig(cfg).AssumeRole(context.Background(), &sts.AssumeRoleInput{RoleArn: aws.String(awsRoleARN),
		RoleSessionName: aws.String("altr-test"), ExternalId: aws.String(awsExternalID)})
	if err != nil {
		t.Fatal(err)
	}
	c := out.Credentials
	cfg.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
	return kms.NewFromConfig(cfg, func(o *kms.Options) { o.RetryMaxAttempts = 1 })
}

func altrAdminKMS(t *testing.T, s *stack, region string) *kms.Client {
	t.Helper()
	return kms.NewFromConfig(s.KMS.AWSConfig(region, awsAdminAKID, awsAdminSecret), func(o *kms.Options) { o.RetryMaxAttempts = 1 })
}

// altrMultiRegionKey makes a multi-region key in us-east-1 with the default
// key policy and replicas in the given regions, as the tenant's admin.
func altrMultiRegionKey(t *testing.T, s *stack, replicas ...string) string {
	t.Helper()
	ctx := context.Background()
	admin := altrAdminKMS(t, s, "us-east-1")
	out, err := admin.CreateKey(ctx, &kms.CreateKeyInput{MultiRegion: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range replicas {
		if _, err := admin.ReplicateKey(ctx, &kms.ReplicateKeyInput{KeyId: out.KeyMetadata.KeyId, ReplicaRegion: aws.String(r)}); err != nil {
			t.Fatal(err)
		}
	}
	return aws.ToString(out.KeyMetadata.Arn)
}

// altrRegister registers arn alone through the register form and returns
// the key's id and page.
func altrRegister(t *testing.T, s *stack, b *browser, conn, arn string) (string, string) {
	t.Helper()
	_, page := b.get(t, s.URL+"/keys/new")
	res, page := b.post(t, s.URL+"/keys", url.Values{"csrf_token": {csrfToken(t, page)}, "connection_id": {conn}, "name": {"token vault"}, "key_arn": {arn}}, nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(page, "Key registered") {
		t.Fatalf("register: %d\n%s", res.StatusCode, altrChecks(page))
	}
	return strings.TrimPrefix(res.Request.URL.Path, "/keys/"), page
}

// altrFailover sets the provider's replica failover rule as an operator.
func altrFailover(t *testing.T, s *stack, b *browser, mode string) {
	t.Helper()
	_, page := b.get(t, s.URL+"/provider")
	res, page := b.post(t, s.URL+"/provider/settings", url.Values{"csrf_token": {csrfToken(t, page)}, "replica_failover": {mode}}, nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(page, `name="replica_failover" value="`+mode+`" checked`) {
		t.Fatalf("set replica failover %s: %d", mode, res.StatusCode)
	}
}

// altrHealthChanges counts the tenant's key.health_changed events.
func altrHealthChanges(t *testing.T, s *stack, tenant string) int {
	t.Helper()
	n := 0
	for _, a := range s.auditActions(t, tenant) {
		if strings.HasPrefix(a, "key.health_changed:") {
			n++
		}
	}
	return n
}

// altrCall sends a data API request (GET without a body) with a token.
func altrCall(t *testing.T, s *stack, token, path string, body any) (int, map[string]any) {
	t.Helper()
	method, r := http.MethodGet, io.Reader(nil)
	if body != nil {
		buf, _ := json.Marshal(body)
		method, r = http.MethodPost, bytes.NewReader(buf)
	}
	req, _ := http.NewRequest(method, s.URL+path, r)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s: not JSON: %q", path, raw)
	}
	return res.StatusCode, out
}

// altrChecks is the checks list of a page, for failure messages.
func altrChecks(page string) string {
	i := strings.Index(page, `data-testid="checks"`)
	if i < 0 {
		return "(no checks on the page)"
	}
	j := strings.Index(page[i:], "</ul>")
	if j < 0 {
		j = len(page) - i
	}
	return page[i : i+j]
}
