package web_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"keyport/keysvc/kmslocal"
	"keyport/web/devidp"
)

var cleo = devidp.Identity{Email: "cleo@clevertap.test", Name: "Cleo Owner", EmailVerified: true}

const (
	cleverTapAKID   = "AKIACLEVERTAPBYOK001"
	cleverTapSecret = "CleverTapByokSecretAccessKey000000000001" // 40 characters
	drRegion        = "eu-west-1"
)

// TestCleverTapStepsVerbatim replays CleverTap's BYOK document (reference
// 001, testdata/clevertap/steps.txt) against kmslocal, step by step: the
// customer shares its KMS key ARNs (a primary and a disaster-recovery
// region) and provisions an IAM policy; keyport generates the data key in
// the customer's KMS and fetches it to encrypt; the rotation frequency is
// configured in the customer's KMS (KMS automatic rotation, 90 to 2,560
// days, from the key page); a forced rotation makes the next version,
// older versions stay; and a new version becomes current only once it
// decrypts in every registered region: with one region's key disabled, or
// its key policy refusing Decrypt, the rotation fails naming the region and
// the current version stays.
func TestCleverTapStepsVerbatim(t *testing.T) {
	s := newFullStack(t, nil)
	ctx := context.Background()
	admin := func(region string) *kms.Client {
		return kms.NewFromConfig(s.KMS.AWSConfig(region, awsAdminAKID, awsAdminSecret))
	}
	newKey := func(region string) string {
		out, err := admin(region).CreateKey(ctx, &kms.CreateKeyInput{})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.KeyMetadata.Arn)
	}
	primary, dr := newKey(awsRegion), newKey(drRegion)

	// "Customer provisions an IAM policy to grant CleverTap servers access
	// to their KMS."
	pol, err := os.ReadFile("testdata/clevertap/policy.json")
	if err != nil {
		t.Fatal(err)
	}
	pol = bytes.ReplaceAll(bytes.ReplaceAll(pol, []byte("PRIMARY_KEY_ARN"), []byte(primary)), []byte("DR_KEY_ARN"), []byte(dr))
	if err := s.KMS.AddPrincipal(kmslocal.Principal{AccessKeyID: cleverTapAKID, SecretAccessKey: cleverTapSecret,
		ARN: "arn:aws:iam::" + awsTenantAcct + ":user/clevertap-byok", Policies: []json.RawMessage{pol}}); err != nil {
		t.Fatal(err)
	}

	// "Customer shares their AWS KMS ARN credentials."
	b := newBrowser(t)
	s.signIn(t, b, cleo)
	tenant := s.tenantOf(t, cleo)
	if res, _ := s.addConnection(t, b, url.Values{"name": {"clevertap"}, "account_id": {awsTenantAcct}, "default_region": {awsRegion},
		"kind": {"access_key"}, "access_key_id": {cleverTapAKID}, "secret_access_key": {cleverTapSecret}}); res.StatusCode != http.StatusOK {
		t.Fatalf("add connection: %d", res.StatusCode)
	}
	cs, _ := s.DB.ListConnections(ctx, tenant)
	_, page := b.get(t, s.URL+"/keys/new")
	res, page := b.post(t, s.URL+"/keys", url.Values{"csrf_token": {csrfToken(t, page)}, "connection_id": {cs[0].ID}, "name": {"pii"},
		"key_arn": {primary}, "extra_arns": {dr}}, nil)
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Request.URL.Path, "/keys/key_") {
		t.Fatalf("register: %d %s\n%s", res.StatusCode, res.Request.URL, page)
	}
	keyID := strings.TrimPrefix(res.Request.URL.Path, "/keys/")

	// "CleverTap generates the encryption key in the customer KMS": data-key
	// version 1, wrapped in both regions under keyport's context.
	ws, _ := s.DB.DataKeyWraps(ctx, tenant, keyID, 1)
	if len(ws) != 2 || ws[0].NoContext || ws[1].NoContext {
		t.Fatalf("version 1 wraps: %+v", ws)
	}

	// "CleverTap fetches the key from the customer KMS to encrypt data."
	token, _, err := s.Keys.NewServiceToken(ctx, tenant, "clevertap", "test")
	if err != nil {
		t.Fatal(err)
	}
	pt := base64.StdEncoding.EncodeToString([]byte("email: cleo@example.com"))
	cx := map[string]string{"field": "email"}
	code, enc := s.dataAPI(t, token, "/api/v1/encrypt", map[string]any{"key_id": keyID, "plaintext": pt, "context": cx})
	if code != http.StatusOK || enc["key_version"] != float64(1) {
		t.Fatalf("encrypt: %d %v", code, enc)
	}
	ct1 := enc["ciphertext"].(string)

	// "The rotation frequency can be configured in the customer KMS during
	// key creation or modified later": KMS automatic rotation, off at first.
	calls := s.KMS.Calls("GetKeyRotationStatus")
	_, page = b.get(t, s.URL+"/keys/"+keyID)
	if strings.Count(page, `data-testid="kms-rotation-status">off<`) != 2 {
		t.Fatalf("KMS rotation status not shown as off in both regions")
	}
	// The status is what validation recorded: viewing the page asks KMS
	// nothing (issue 18).
	b.get(t, s.URL+"/keys/"+keyID)
	if n := s.KMS.Calls("GetKeyRotationStatus") - calls; n != 0 {
		t.Errorf("viewing the key page twice made %d GetKeyRotationStatus calls, want 0", n)
	}
	for _, days := range []string{"89", "2561", "ninety"} {
		res, _ := b.post(t, s.URL+"/keys/"+keyID+"/kms-rotation", url.Values{"csrf_token": {csrfToken(t, page)}, "kms_rotation_days": {days}}, nil)
		if res.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("period %s: %d, want 422", days, res.StatusCode)
		}
	}
	res, page = b.post(t, s.URL+"/keys/"+keyID+"/kms-rotation", url.Values{"csrf_token": {csrfToken(t, page)}, "kms_rotation_days": {"90"}}, nil)
	if res.StatusCode != http.StatusOK || strings.Count(page, `data-testid="kms-rotation-status">every 90 days<`) != 2 {
		t.Fatalf("enable KMS rotation: %d", res.StatusCode)
	}
	for _, r := range []struct{ region, arn string }{{awsRegion, primary}, {drRegion, dr}} {
		st, err := admin(r.region).GetKeyRotationStatus(ctx, &kms.GetKeyRotationStatusInput{KeyId: aws.String(r.arn)})
		if err != nil || !st.KeyRotationEnabled || aws.ToInt32(st.RotationPeriodInDays) != 90 {
			t.Errorf("KMS rotation in %s: %v %+v", r.region, err, st)
		}
	}
	if acts := strings.Join(s.auditActions(t, tenant), " "); !strings.Contains(acts, "key.kms_auto_rotation_enabled") {
		t.Errorf("no audit event key.kms_auto_rotation_enabled: %s", acts)
	}

	// "Force rotation can be triggered on demand": version 2, checked in
	// both regions before it became current.
	rotate := func() (int, string) {
		_, page := b.get(t, s.URL+"/keys/"+keyID+"/rotation")
		res, page := b.post(t, s.URL+"/keys/"+keyID+"/rotate", url.Values{"csrf_token": {csrfToken(t, page)}}, nil)
		return res.StatusCode, page
	}
	if code, page := rotate(); code != http.StatusOK {
		t.Fatalf("forced rotation: %d\n%s", code, page)
	}
	current := func() int64 {
		k, err := s.DB.GetKey(ctx, tenant, keyID)
		if err != nil {
			t.Fatal(err)
		}
		return k.CurrentVersion
	}
	if v := current(); v != 2 {
		t.Fatalf("version after the forced rotation: %d", v)
	}

	// "Validates the latest key version ... before making it available":
	// the DR region's key disabled, then its key policy refusing Decrypt.
	if _, err := admin(drRegion).DisableKey(ctx, &kms.DisableKeyInput{KeyId: aws.String(dr)}); err != nil {
		t.Fatal(err)
	}
	code, page = rotate()
	if code != http.StatusUnprocessableEntity || !strings.Contains(page, "The rotation failed") || !strings.Contains(page, "in "+drRegion) ||
		!strings.Contains(page, "disabled") {
		t.Errorf("rotation with %s disabled: %d\n%s", drRegion, code, page)
	}
	if v := current(); v != 2 {
		t.Fatalf("a rotation that %s could not serve became current: version %d", drRegion, v)
	}
	if _, err := admin(drRegion).EnableKey(ctx, &kms.EnableKeyInput{KeyId: aws.String(dr)}); err != nil {
		t.Fatal(err)
	}
	denyDecrypt := `{"Version":"2012-10-17","Statement":[
		{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + awsTenantAcct + `:root"},"Action":"kms:*","Resource":"*"},
		{"Sid":"NoDecryptForTheProvider","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::` + awsTenantAcct + `:user/clevertap-byok"},"Action":"kms:Decrypt","Resource":"*"}]}`
	if _, err := admin(drRegion).PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(dr), PolicyName: aws.String("default"),
		Policy: aws.String(denyDecrypt)}); err != nil {
		t.Fatal(err)
	}
	s.Clock.Advance(time.Minute) // past the failed job's retry wait
	code, page = rotate()
	if code != http.StatusUnprocessableEntity || !strings.Contains(page, "did not decrypt the new data key in "+drRegion) {
		t.Errorf("rotation whose %s copy does not decrypt: %d\n%s", drRegion, code, page)
	}
	if v := current(); v != 2 {
		t.Fatalf("a version %s cannot decrypt became current: version %d", drRegion, v)
	}

	// "Older versions remain stored": version 1's ciphertext still opens,
	// new encryptions use version 2.
	if code, dec := s.dataAPI(t, token, "/api/v1/decrypt", map[string]any{"ciphertext": ct1, "context": cx}); code != http.StatusOK || dec["plaintext"] != pt {
		t.Errorf("decrypt version 1: %d %v", code, dec)
	}
	if code, enc := s.dataAPI(t, token, "/api/v1/encrypt", map[string]any{"key_id": keyID, "plaintext": pt, "context": cx}); code != http.StatusOK || enc["key_version"] != float64(2) {
		t.Errorf("encrypt after the failed rotations: %d %v", code, enc)
	}
	if vs, _ := s.DB.DataKeyVersions(ctx, tenant, keyID); len(vs) != 2 {
		t.Errorf("%d versions stored, want 2", len(vs))
	}
}
