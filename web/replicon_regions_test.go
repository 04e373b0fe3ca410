package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"keyport/handlers"
	"keyport/keysvc"
	"keyport/web/devidp"
)

// replAWS runs the real aws CLI against the stack's kmslocal as the
// tenant's AWS admin (kmslocal's dummy credentials), in region, and
// returns its trimmed output.
func replAWS(t *testing.T, s *stack, dir, region string, args ...string) string {
	t.Helper()
	cmd := exec.Command("aws", append([]string{"--endpoint-url", s.KMS.URL(), "--region", region}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+awsAdminAKID, "AWS_SECRET_ACCESS_KEY="+awsAdminSecret,
		"AWS_CONFIG_FILE="+filepath.Join(dir, "none"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "none"),
		"AWS_PAGER=", "AWS_EC2_METADATA_DISABLED=true", "HOME="+dir)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return strings.TrimSpace(out.String())
}

// TestRepliconTwoRegions replays customer-managed BYOK as Replicon's
// document writes it, and tests the provider's "at least two regions" rule
// end to end. The operator requires one disaster-recovery region besides
// the primary; the tenant creates one symmetric key in each of two regions
// with the real aws CLI, applying the document's key policy verbatim (its
// account id 123456789012 replaced by the tenant's own, as the document
// says), and registers them. One ARN alone is refused, naming the rule;
// both are accepted and checked in each region; the validation report
// passes the rule, and fails it once the provider asks for more.
func TestRepliconTwoRegions(t *testing.T) {
	replNeedTool(t, "aws")
	const ops = "ops@replicon.test"
	s := newStack(t, func(c *handlers.Config) { c.Operators = []string{ops} })
	ctx := context.Background()
	dir := t.TempDir()

	// The provider: two regions allowed, one required besides the primary.
	opb := newBrowser(t)
	s.signIn(t, opb, devidp.Identity{Email: ops, EmailVerified: true})
	setProvider := func(dr string) {
		t.Helper()
		_, page := opb.get(t, s.URL+"/provider")
		res, page := opb.post(t, s.URL+"/provider/settings", url.Values{"csrf_token": {csrfToken(t, page)}, "account_id": {awsProviderAcct},
			"allowed_regions": {"us-west-2, eu-west-1"}, "dr_regions": {dr}}, nil)
		if res.StatusCode != http.StatusOK || !strings.Contains(page, "Settings saved") {
			t.Fatalf("provider settings: %d", res.StatusCode)
		}
	}
	setProvider("1")

	// The document's steps 1 and 2: one symmetric key per region, each
	// with Replicon's key policy.
	policy := strings.ReplaceAll(replReadFile(t, "testdata/replicon/key-policy.json"), "123456789012", awsTenantAcct)
	if !strings.Contains(policy, `"AWS": "arn:aws:iam::127450652264:root"`) || !strings.Contains(policy, `"kms:GrantIsForAWSResource": "true"`) {
		t.Fatal("the policy is not Replicon's")
	}
	if err := os.WriteFile(filepath.Join(dir, "key-policy.json"), []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	arns := map[string]string{}
	for _, region := range []string{"us-west-2", "eu-west-1"} {
		arn := replAWS(t, s, dir, region, "kms", "create-key", "--description", "Replicon BYOK", "--policy", "file://key-policy.json",
			"--query", "KeyMetadata.Arn", "--output", "text")
		if !strings.HasPrefix(arn, "arn:aws:kms:"+region+":"+awsTenantAcct+":key/") {
			t.Fatalf("create-key in %s: %q", region, arn)
		}
		arns[region] = arn
		var got struct{ Policy string }
		if err := json.Unmarshal([]byte(replAWS(t, s, dir, region, "kms", "get-key-policy", "--key-id", arn, "--policy-name", "default")), &got); err != nil ||
			got.Policy != policy {
			t.Fatalf("get-key-policy in %s: %v %q", region, err, got.Policy)
		}
	}

	// The tenant registers them.
	b := newBrowser(t)
	s.signIn(t, b, dana)
	s.addConnection(t, b, url.Values{"name": {"replicon"}, "account_id": {awsTenantAcct}, "default_region": {"us-west-2"},
		"kind": {"access_key"}, "access_key_id": {awsUserAKID}, "secret_access_key": {awsUserSecret}})
	tenantID := s.tenantOf(t, dana)
	cs, _ := s.DB.ListConnections(ctx, tenantID)
	register := func(extra string) (*http.Response, string) {
		_, page := b.get(t, s.URL+"/keys/new")
		return b.post(t, s.URL+"/keys", url.Values{"csrf_token": {csrfToken(t, page)}, "connection_id": {cs[0].ID}, "name": {"replicon"},
			"key_arn": {arns["us-west-2"]}, "extra_arns": {extra}}, nil)
	}
	res, page := register("")
	if res.StatusCode != http.StatusUnprocessableEntity ||
		!strings.Contains(page, "your provider requires keys in at least 1 region(s) besides the primary, for disaster recovery") {
		t.Fatalf("one region: %d", res.StatusCode)
	}
	if ks, _ := s.DB.ListKeys(ctx, tenantID); len(ks) != 0 {
		t.Fatalf("a refused registration made %d key(s)", len(ks))
	}
	res, page = register(arns["eu-west-1"])
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Request.URL.Path, "/keys/key_") {
		t.Fatalf("two regions: %d %s", res.StatusCode, res.Request.URL)
	}
	keyID := strings.TrimPrefix(res.Request.URL.Path, "/keys/")
	for _, arn := range arns {
		if !strings.Contains(page, arn) {
			t.Errorf("the key page does not show %s", arn)
		}
	}
	k, _ := s.DB.GetKey(ctx, tenantID, keyID)
	regions, _ := s.DB.KeyRegions(ctx, tenantID, keyID)
	if k.Health != "OK" || len(regions) != 2 {
		t.Fatalf("registered key: health %s, %d regions", k.Health, len(regions))
	}
	// Replicon's onboarding test of the keys: every check, in each region.
	_, checks, err := s.Keys.CheckKey(ctx, tenantID, keysvc.RequestBy{UserID: "keyport:test"}, keyID)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range checks {
		if !c.OK && !c.Skipped {
			t.Errorf("check %s: %s", c.Name, c.Detail)
		}
		for region := range arns {
			seen[region] = seen[region] || strings.HasSuffix(c.Name, " in "+region)
		}
	}
	if !seen["us-west-2"] || !seen["eu-west-1"] {
		t.Errorf("checks do not cover both regions: %v", seen)
	}

	// The validation report holds the key to the rule.
	replicas := func() map[string]any {
		t.Helper()
		_, body := b.get(t, s.URL+"/reports/validation?format=json")
		var doc struct {
			Keys []struct {
				Properties []map[string]any `json:"properties"`
			} `json:"keys"`
		}
		if err := json.Unmarshal([]byte(body), &doc); err != nil || len(doc.Keys) != 1 {
			t.Fatalf("validation report: %v\n%s", err, body)
		}
		for _, p := range doc.Keys[0].Properties {
			if p["property"] == "replicas" {
				return p
			}
		}
		t.Fatalf("no replicas property:\n%s", body)
		return nil
	}
	if p := replicas(); p["result"] != "pass" || !strings.Contains(p["expected"].(string), "at least 1 region(s) besides the primary") {
		t.Errorf("replicas with two regions: %v", p)
	}
	setProvider("2")
	if p := replicas(); p["result"] != "fail" || p["deviation"] != "registered in 1 region(s) besides the primary; the provider requires 2" {
		t.Errorf("replicas when the provider requires three regions: %v", p)
	}
}
