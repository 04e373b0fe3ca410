package handlers

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"keyport/keysvc"
	"keyport/models"
	"keyport/views"
)

var reportNow = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// cleanKey is a key whose last validation, a day ago, passed every check
// keysvc runs, with a data key made 10 days ago.
func cleanKey(checks ...keysvc.Check) models.KeyReport {
	if checks == nil {
		checks = cleanChecks()
	}
	raw, _ := json.Marshal(checks)
	return models.KeyReport{
		Key:        models.Key{ID: "key_clean", TenantID: "tnt_a", Name: "orders", Mode: models.ModeCMK, State: models.StateEnabled, Health: models.HealthOK, CurrentVersion: 1},
		TenantName: "Acme",
		Regions:    []models.KeyRegion{{Region: "eu-west-1", KMSKeyARN: "arn:aws:kms:eu-west-1:111122223333:key/k1"}},
		Versions:   []models.KeyReportVersion{{DataKeyVersion: models.DataKeyVersion{Version: 1, CreatedAt: reportNow.AddDate(0, 0, -10)}}},
		Validation: &models.KeyValidation{OK: true, Checks: string(raw), CreatedAt: reportNow.Add(-24 * time.Hour)},
	}
}

// cleanChecks are the checks keysvc records for a good key, with the names
// it gives them.
func cleanChecks() []keysvc.Check {
	return []keysvc.Check{
		{Name: "Key in eu-west-1", OK: true, Required: true, Detail: "Enabled, symmetric, for encrypt and decrypt."},
		{Name: "Encrypt and decrypt in eu-west-1", OK: true, Required: true},
		{Name: "Key policy in eu-west-1", OK: true, Detail: "The key policy allows every action keyport needs."},
	}
}

// withCheck replaces the check named like c.
func withCheck(c keysvc.Check) []keysvc.Check {
	cs := cleanChecks()
	for i := range cs {
		if cs[i].Name == c.Name {
			cs[i] = c
			return cs
		}
	}
	return append(cs, c)
}

func TestValidationReportFlagsEachPlantedDeviation(t *testing.T) {
	replicas := keysvc.ProviderSettings{ReplicaRegions: []string{"eu-central-1"}}
	for _, tc := range []struct {
		name     string
		kr       func() models.KeyReport
		ps       keysvc.ProviderSettings
		property string
		result   string
		verdict  string
	}{
		{"clean key", func() models.KeyReport { return cleanKey() }, keysvc.ProviderSettings{}, "", resultPass, verdictPass},
		{"clean key with the replicas required", func() models.KeyReport {
			return cleanKey(append(cleanChecks(), keysvc.Check{Name: "Replicas", OK: true, Required: true, Detail: "Replicas exist in eu-central-1."})...)
		}, replicas, "replicas", resultPass, verdictPass},
		{"disabled in KMS", func() models.KeyReport {
			return cleanKey(withCheck(keysvc.Check{Name: "Key in eu-west-1", Required: true, Health: models.HealthKMSDisabled, Detail: "The key is disabled in KMS."})...)
		}, keysvc.ProviderSettings{}, "enabled", resultFail, verdictFail},
		{"disabled in keyport", func() models.KeyReport {
			kr := cleanKey()
			kr.Key.State = models.StateDisabled
			return kr
		}, keysvc.ProviderSettings{}, "enabled", resultFail, verdictFail},
		{"asymmetric", func() models.KeyReport {
			return cleanKey(withCheck(keysvc.Check{Name: "Key in eu-west-1", Required: true, Health: models.HealthDrift,
				Detail: "The key is RSA_2048 for SIGN_VERIFY; keyport needs a symmetric key (SYMMETRIC_DEFAULT) for ENCRYPT_DECRYPT."})...)
		}, keysvc.ProviderSettings{}, "symmetric", resultFail, verdictFail},
		{"policy lacks actions", func() models.KeyReport {
			return cleanKey(withCheck(keysvc.Check{Name: "Key policy in eu-west-1", Detail: "The key policy does not allow kms:ReEncrypt*."})...)
		}, keysvc.ProviderSettings{}, "key_policy", resultFail, verdictFail},
		{"access revoked", func() models.KeyReport {
			return cleanKey(withCheck(keysvc.Check{Name: "Encrypt and decrypt in eu-west-1", Required: true, Health: models.HealthAccessDenied, Detail: "KMS refused kms:GenerateDataKey."})...)
		}, keysvc.ProviderSettings{}, "key_policy", resultFail, verdictFail},
		{"policy unreadable", func() models.KeyReport {
			return cleanKey(withCheck(keysvc.Check{Name: "Key policy in eu-west-1", OK: true, Skipped: true, Detail: "keyport may not read the key policy."})...)
		}, keysvc.ProviderSettings{}, "key_policy", resultNotVerified, verdictIncomplete},
		{"replica missing", func() models.KeyReport {
			return cleanKey(append(cleanChecks(), keysvc.Check{Name: "Replicas", Required: true, Health: models.HealthDrift, Detail: "The key has no replica in eu-central-1."})...)
		}, replicas, "replicas", resultFail, verdictFail},
		{"too few DR regions", func() models.KeyReport { return cleanKey() }, keysvc.ProviderSettings{DRRegions: 1}, "replicas", resultFail, verdictFail},
		{"rotation overdue", func() models.KeyReport {
			kr := cleanKey()
			kr.Versions[0].CreatedAt = reportNow.AddDate(0, 0, -400)
			return kr
		}, keysvc.ProviderSettings{}, "rotation", resultFail, verdictFail},
		{"no data key", func() models.KeyReport {
			kr := cleanKey()
			kr.Versions = nil
			return kr
		}, keysvc.ProviderSettings{}, "rotation", resultFail, verdictFail},
		{"material expired", func() models.KeyReport {
			kr := cleanKey()
			kr.Key.Health, kr.Key.HealthDetail = models.HealthMaterialExpired, "Key in eu-west-1: material expired"
			return kr
		}, keysvc.ProviderSettings{}, "material_expiry", resultFail, verdictFail},
		{"drift", func() models.KeyReport {
			kr := cleanKey()
			kr.Key.Health, kr.Key.HealthDetail = models.HealthDrift, "Key in eu-west-1: the key belongs to account 444455556666"
			return kr
		}, keysvc.ProviderSettings{}, "no_drift", resultFail, verdictFail},
		{"stale validation", func() models.KeyReport {
			kr := cleanKey()
			kr.Validation.CreatedAt = reportNow.AddDate(0, 0, -20)
			return kr
		}, keysvc.ProviderSettings{}, "no_drift", resultNotVerified, verdictIncomplete},
		{"never validated", func() models.KeyReport {
			kr := cleanKey()
			kr.Validation = nil
			return kr
		}, keysvc.ProviderSettings{}, "enabled", resultNotVerified, verdictIncomplete},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := evaluateKey(tc.kr(), tc.ps, reportNow)
			if got.Verdict != tc.verdict {
				t.Errorf("verdict = %s, want %s: %+v", got.Verdict, tc.verdict, got.Properties)
			}
			if len(got.Properties) != 7 {
				t.Fatalf("%d properties, want 7", len(got.Properties))
			}
			for _, p := range got.Properties {
				switch {
				case p.Property == tc.property && p.Result != tc.result:
					t.Errorf("%s = %s (%s), want %s", p.Property, p.Result, p.Deviation, tc.result)
				case p.Property == tc.property && p.Result != resultPass && p.Deviation == "":
					t.Errorf("%s is %s without a deviation", p.Property, p.Result)
				case tc.property == "" && p.Result != resultPass:
					t.Errorf("clean key: %s = %s (%s)", p.Property, p.Result, p.Deviation)
				}
			}
		})
	}
}

func TestCSVNeutralisesFormulas(t *testing.T) {
	evil := []string{"=HYPERLINK(\"http://evil.test\",\"x\")", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"}
	r := &views.InventoryReport{Meta: views.ReportMeta{Report: "key_inventory", Scope: "=cmd|' /C calc'!A0"}}
	for _, e := range evil {
		r.Keys = append(r.Keys, views.InventoryKey{ID: "key_1", Name: e, Store: e, Aliases: []string{e}})
	}
	body, err := inventoryCSV(r)
	if err != nil {
		t.Fatal(err)
	}
	rd := csv.NewReader(bytes.NewReader(body))
	rd.FieldsPerRecord = -1
	recs, err := rd.ReadAll()
	if err != nil {
		t.Fatalf("the CSV does not parse: %v", err)
	}
	cells := 0
	for _, rec := range recs {
		for _, cell := range rec {
			cells++
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("cell %q starts with a formula character", cell)
			}
		}
	}
	if !strings.Contains(string(body), "'=HYPERLINK") || !strings.Contains(string(body), "'-2+3") || cells < 30 {
		t.Errorf("the formulas were not kept as text:\n%s", body)
	}
	if csvCell("plain") != "plain" || csvCell("") != "" || csvCell("a=b") != "a=b" {
		t.Error("harmless cells were changed")
	}
}

func TestReportFileNamesAreSafe(t *testing.T) {
	at := time.Date(2026, 11, 22, 14, 30, 5, 0, time.UTC)
	safe := regexp.MustCompile(`^keyport-[a-z0-9-]+-[a-z0-9-]+-20261122T143005Z\.(csv|json)$`)
	for _, scope := range []string{"Acme Corp", `evil"; filename=x.exe`, "../../etc/passwd", "Ünïcödé ☃", "", "\r\nSet-Cookie: x=y", strings.Repeat("a", 500)} {
		name := reportFileName(scope, "key_inventory", at, "csv")
		if !safe.MatchString(name) || len(name) > 120 {
			t.Errorf("reportFileName(%q) = %q", scope, name)
		}
	}
	if got := reportFileName("Acme Corp-tnt_abc", "activity", at, "json"); got != "keyport-acme-corp-tnt-abc-activity-20261122T143005Z.json" {
		t.Errorf("name = %q", got)
	}
}

func TestAttentionOrdersWorstFirst(t *testing.T) {
	healthy := cleanKey()
	if rs := attentionReasons(healthy, reportNow); len(rs) != 0 {
		t.Errorf("a healthy key needs attention: %v", rs)
	}
	revoked := cleanKey()
	revoked.Key.Health = models.HealthAccessDenied
	revoked.Versions[0].CreatedAt = reportNow.AddDate(-2, 0, 0)
	if rs := attentionReasons(revoked, reportNow); strings.Join(rs, ",") != "access revoked,rotation overdue" {
		t.Errorf("reasons = %v", rs)
	}
	deleted := revoked
	deleted.Key.State = models.StateDeleted
	if rs := attentionReasons(deleted, reportNow); rs != nil {
		t.Errorf("a deleted key needs attention: %v", rs)
	}
}
