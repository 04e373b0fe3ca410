package web_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"keyport/models"
	"keyport/views"
)

// registerRealKey registers a key over HTTP against kmslocal and returns
// its id.
func registerRealKey(t *testing.T, s *stack, b *browser, conn, name, arn string) string {
	t.Helper()
	_, page := b.get(t, s.URL+"/keys/new")
	res, page := b.post(t, s.URL+"/keys", url.Values{"csrf_token": {csrfToken(t, page)}, "connection_id": {conn}, "name": {name}, "key_arn": {arn}}, nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(page, "Key registered") {
		t.Fatalf("register %s: %d", name, res.StatusCode)
	}
	return strings.TrimPrefix(res.Request.URL.Path, "/keys/")
}

var (
	headHash  = regexp.MustCompile(`^[0-9a-f]{64}$`)
	safeName  = regexp.MustCompile(`^attachment; filename="keyport-[a-z0-9-]+-(key-inventory|activity|configuration-validation)-\d{8}T\d{6}Z\.(csv|json)"$`)
	csvHeadRE = regexp.MustCompile(`(?m)^audit_chain_head_hash,([0-9a-f]{64})$`)
)

func TestReportsForAuditors(t *testing.T) {
	w := newAuditWorld(t)
	s := w.s
	ctx := context.Background()
	owner := newBrowser(t)
	s.signIn(t, owner, auditOwner)
	s.addConnection(t, owner, url.Values{"name": {"prod"}, "account_id": {awsTenantAcct}, "default_region": {awsRegion},
		"kind": {"access_key"}, "access_key_id": {awsUserAKID}, "secret_access_key": {awsUserSecret}})
	cs, _ := s.DB.ListConnections(ctx, w.tenantA)
	var conn string
	for _, c := range cs {
		if c.Name == "prod" {
			conn = c.ID
		}
	}
	clean := registerRealKey(t, s, owner, conn, "orders", s.tenantKMSKey(t, ""))
	pausedARN := s.tenantKMSKey(t, "")
	paused := registerRealKey(t, s, owner, conn, "=paused", pausedARN) // a name a spreadsheet would run
	admin := kms.NewFromConfig(s.KMS.AWSConfig(awsRegion, awsAdminAKID, awsAdminSecret))
	if _, err := admin.DisableKey(ctx, &kms.DisableKeyInput{KeyId: aws.String(pausedARN)}); err != nil {
		t.Fatal(err)
	}
	s.Clock.Advance(time.Minute) // the check after disabling is the latest validation
	_, page := owner.get(t, s.URL+"/keys/"+paused)
	owner.post(t, s.URL+"/keys/"+paused+"/check", url.Values{"csrf_token": {csrfToken(t, page)}}, nil)
	hour := s.Clock.Now().UTC().Format("2006-01-02T15")
	if err := s.DB.AddKeyUsage(ctx, []models.KeyUsage{{KeyID: clean, Period: hour, Decrypts: 41, CacheHits: 40, KMSCalls: 1}}); err != nil {
		t.Fatal(err)
	}

	get := func(b *browser, path string) (*http.Response, string) {
		t.Helper()
		res, body := b.get(t, s.URL+path)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", path, res.StatusCode)
		}
		if res.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q", path, res.Header.Get("Cache-Control"))
		}
		if strings.Contains(body, awsUserSecret) || strings.Contains(body, "beta-only-marker") {
			t.Errorf("%s holds a secret or another tenant's data", path)
		}
		return res, body
	}
	if _, page := get(w.auditor, "/reports"); !strings.Contains(page, `href="/reports/inventory?format=csv"`) {
		t.Error("reports page lacks the download links")
	}
	for _, name := range []string{"inventory", "activity", "validation"} {
		for _, format := range []string{"csv", "json"} {
			res, body := get(w.auditor, "/reports/"+name+"?format="+format)
			if cd := res.Header.Get("Content-Disposition"); !safeName.MatchString(cd) {
				t.Errorf("%s %s: Content-Disposition %q", name, format, cd)
			}
			if format == "csv" {
				rd := csv.NewReader(strings.NewReader(body))
				rd.FieldsPerRecord = -1
				if _, err := rd.ReadAll(); err != nil || csvHeadRE.FindStringSubmatch(body) == nil {
					t.Errorf("%s csv: %v, or no chain head", name, err)
				}
				if strings.Contains(body, "\n=paused") || strings.Contains(body, ",=paused") {
					t.Errorf("%s csv: a formula cell was not escaped", name)
				}
			}
		}
		_, page := get(w.auditor, "/reports/"+name+"?format=html")
		if !regexp.MustCompile(`data-testid="report-head">[0-9a-f]{64}<`).MatchString(page) {
			t.Errorf("%s html: no chain head", name)
		}
	}

	var inv views.InventoryReport
	_, body := get(w.auditor, "/reports/inventory?format=json")
	if err := json.Unmarshal([]byte(body), &inv); err != nil {
		t.Fatal(err)
	}
	if !headHash.MatchString(inv.Meta.ChainHead.Hash) || inv.Meta.ChainHead.Seq == 0 || inv.Meta.GeneratedBy != auditAuditor.Email {
		t.Errorf("inventory meta = %+v", inv.Meta)
	}
	names := map[string]views.InventoryKey{}
	for _, k := range inv.Keys {
		names[k.Name] = k
		if k.TenantID != w.tenantA {
			t.Errorf("inventory lists a key of tenant %s", k.TenantID)
		}
	}
	if o := names["orders"]; len(o.Versions) != 1 || !headHash.MatchString(o.Versions[0].Fingerprint) || len(o.Regions) != 1 ||
		!strings.HasPrefix(o.Regions[0].ARN, "arn:aws:kms:") || o.Store != "" || o.Connection != "prod" || o.LastValidation == nil || len(o.Checks) == 0 {
		t.Errorf("inventory entry of orders = %+v", o)
	}
	if len(names) != 3 { // orders, =paused and ledger
		t.Errorf("inventory lists %d keys", len(names))
	}

	var val views.ValidationReport
	_, body = get(w.auditor, "/reports/validation?format=json")
	if err := json.Unmarshal([]byte(body), &val); err != nil {
		t.Fatal(err)
	}
	verdicts := map[string]views.ValidatedKey{}
	for _, k := range val.Keys {
		verdicts[k.KeyID] = k
	}
	if v := verdicts[clean]; v.Verdict != "PASS" {
		t.Errorf("clean key: %s %+v", v.Verdict, v.Properties)
	}
	if v := verdicts[paused]; v.Verdict != "FAIL" || v.Properties[0].Property != "enabled" || v.Properties[0].Result != "fail" {
		t.Errorf("key disabled in KMS: %s %+v", v.Verdict, v.Properties)
	}
	if val.Verdict != "FAIL" {
		t.Errorf("overall verdict %s", val.Verdict)
	}

	// The report prints the last verification, made on the audit page.
	_, page = w.auditor.get(t, s.URL+"/audit")
	if res, _ := w.auditor.post(t, s.URL+"/audit/verify", url.Values{"csrf_token": {csrfToken(t, page)}}, nil); res.StatusCode != http.StatusOK {
		t.Fatalf("verify: %d", res.StatusCode)
	}
	var act views.ActivityReport
	_, body = get(w.auditor, "/reports/activity?format=json")
	if err := json.Unmarshal([]byte(body), &act); err != nil {
		t.Fatal(err)
	}
	actions := map[string]bool{}
	for _, e := range act.Events {
		actions[e.Action] = true
		if e.TenantID != w.tenantA {
			t.Errorf("activity lists an event of tenant %q", e.TenantID)
		}
	}
	if !act.Verification.OK || act.Verification.VerifiedAt == nil || !actions["key.registered"] || !actions["key.validated"] || !actions["report.downloaded"] {
		t.Errorf("activity: verified %v, actions %v", act.Verification.OK, actions)
	}
	if len(act.Usage) != 1 || act.Usage[0].Decrypts != 41 || act.Usage[0].CacheHits != 40 || act.Usage[0].KeyName != "orders" {
		t.Errorf("activity usage = %+v", act.Usage)
	}
	if res, _ := w.auditor.get(t, s.URL+"/reports/activity?format=json&from=2026-13-01"); res.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("bad period: %d", res.StatusCode)
	}

	// Another tenant: its own (empty) inventory, whatever it names.
	var other views.InventoryReport
	_, body = get(w.outside, "/reports/inventory?format=json&tenant="+w.tenantA+"&tenant_id="+w.tenantA)
	if err := json.Unmarshal([]byte(body), &other); err != nil || len(other.Keys) != 0 || other.Meta.TenantID != w.tenantB {
		t.Errorf("outsider's inventory: %v, %+v", err, other.Meta)
	}
	if res, _ := w.outside.get(t, s.URL+"/reports/secrets?format=json"); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown report: %d", res.StatusCode)
	}

	// The operator's reports span tenants; the overview puts the disabled
	// key first.
	ops := newBrowser(t)
	s.signIn(t, ops, auditOps)
	_, body = get(ops, "/operator/reports/inventory?format=json")
	var all views.InventoryReport
	if err := json.Unmarshal([]byte(body), &all); err != nil || all.Meta.Scope != "all tenants" || len(all.Keys) < 3 {
		t.Errorf("operator inventory: %v, %d keys", err, len(all.Keys))
	}
	_, page = get(ops, "/operator")
	first := regexp.MustCompile(`data-testid="attention-row" data-key="([^"]+)"`).FindStringSubmatch(page)
	if first == nil || first[1] != paused {
		t.Errorf("attention list does not start with the disabled key: %v", first)
	}
}
