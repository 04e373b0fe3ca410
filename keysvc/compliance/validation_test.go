package compliance

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"keyport/keysvc"
	"keyport/models"
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

// cleanChecks are the checks keysvc records for a good key, with the kinds
// and names it gives them.
func cleanChecks() []keysvc.Check {
	return []keysvc.Check{
		{Name: "Key in eu-west-1", Kind: keysvc.CheckDescribe, OK: true, Required: true, Detail: "Enabled, symmetric, for encrypt and decrypt."},
		{Name: "Encrypt and decrypt in eu-west-1", Kind: keysvc.CheckRoundTrip, OK: true, Required: true},
		{Name: "Key policy in eu-west-1", Kind: keysvc.CheckPolicy, OK: true, Detail: "The key policy allows every action keyport needs."},
	}
}

// withCheck replaces the check of c's kind.
func withCheck(c keysvc.Check) []keysvc.Check {
	cs := cleanChecks()
	for i := range cs {
		if cs[i].Kind == c.Kind {
			cs[i] = c
			return cs
		}
	}
	return append(cs, c)
}

// withoutKinds is a validation as recorded before checks had a kind.
func withoutKinds(kr models.KeyReport) models.KeyReport {
	if kr.Validation == nil {
		return kr
	}
	cs := keysvc.Checks(kr.Validation)
	for i := range cs {
		cs[i].Kind = ""
	}
	raw, _ := json.Marshal(cs)
	v := *kr.Validation
	v.Checks = string(raw)
	kr.Validation = &v
	return kr
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
		{"clean key", func() models.KeyReport { return cleanKey() }, keysvc.ProviderSettings{}, "", ResultPass, VerdictPass},
		{"clean key with the replicas required", func() models.KeyReport {
			return cleanKey(append(cleanChecks(), keysvc.Check{Name: "Replicas", Kind: keysvc.CheckReplicas, OK: true, Required: true, Detail: "Replicas exist in eu-central-1."})...)
		}, replicas, "replicas", ResultPass, VerdictPass},
		{"disabled in KMS", func() models.KeyReport {
			return cleanKey(withCheck(keysvc.Check{Name: "Key in eu-west-1", Kind: keysvc.CheckDescribe, Required: true, Health: models.HealthKMSDisabled, Detail: "The key is disabled in KMS."})...)
		}, keysvc.ProviderSettings{}, "enabled", ResultFail, VerdictFail},
		{"disabled in keyport", func() models.KeyReport {
			kr := cleanKey()
			kr.Key.State = models.StateDisabled
			return kr
		}, keysvc.ProviderSettings{}, "enabled", ResultFail, VerdictFail},
		{"asymmetric", func() models.KeyReport {
			return cleanKey(withCheck(keysvc.Check{Name: "Key in eu-west-1", Kind: keysvc.CheckDescribe, Required: true, Health: models.HealthDrift,
				Detail: "The key is RSA_2048 for SIGN_VERIFY; keyport needs a symmetric key (SYMMETRIC_DEFAULT) for ENCRYPT_DECRYPT."})...)
		}, keysvc.ProviderSettings{}, "symmetric", ResultFail, VerdictFail},
		{"policy lacks actions", func() models.KeyReport {
			return cleanKey(withCheck(keysvc.Check{Name: "Key policy in eu-west-1", Kind: keysvc.CheckPolicy, Detail: "The key policy does not allow kms:ReEncrypt*."})...)
		}, keysvc.ProviderSettings{}, "key_policy", ResultFail, VerdictFail},
		{"access revoked", func() models.KeyReport {
			return cleanKey(withCheck(keysvc.Check{Name: "Encrypt and decrypt in eu-west-1", Kind: keysvc.CheckRoundTrip, Required: true, Health: models.HealthAccessDenied, Detail: "KMS refused kms:GenerateDataKey."})...)
		}, keysvc.ProviderSettings{}, "key_policy", ResultFail, VerdictFail},
		{"policy unreadable", func() models.KeyReport {
			return cleanKey(withCheck(keysvc.Check{Name: "Key policy in eu-west-1", Kind: keysvc.CheckPolicy, OK: true, Skipped: true, Detail: "keyport may not read the key policy."})...)
		}, keysvc.ProviderSettings{}, "key_policy", ResultNotVerified, VerdictIncomplete},
		{"replica missing", func() models.KeyReport {
			return cleanKey(append(cleanChecks(), keysvc.Check{Name: "Replicas", Kind: keysvc.CheckReplicas, Required: true, Health: models.HealthDrift, Detail: "The key has no replica in eu-central-1."})...)
		}, replicas, "replicas", ResultFail, VerdictFail},
		{"too few DR regions", func() models.KeyReport { return cleanKey() }, keysvc.ProviderSettings{DRRegions: 1}, "replicas", ResultFail, VerdictFail},
		{"rotation overdue", func() models.KeyReport {
			kr := cleanKey()
			kr.Versions[0].CreatedAt = reportNow.AddDate(0, 0, -400)
			return kr
		}, keysvc.ProviderSettings{}, "rotation", ResultFail, VerdictFail},
		{"no data key", func() models.KeyReport {
			kr := cleanKey()
			kr.Versions = nil
			return kr
		}, keysvc.ProviderSettings{}, "rotation", ResultFail, VerdictFail},
		{"material expired", func() models.KeyReport {
			kr := cleanKey()
			kr.Key.Health, kr.Key.HealthDetail = models.HealthMaterialExpired, "Key in eu-west-1: material expired"
			return kr
		}, keysvc.ProviderSettings{}, "material_expiry", ResultFail, VerdictFail},
		{"drift", func() models.KeyReport {
			kr := cleanKey()
			kr.Key.Health, kr.Key.HealthDetail = models.HealthDrift, "Key in eu-west-1: the key belongs to account 444455556666"
			return kr
		}, keysvc.ProviderSettings{}, "no_drift", ResultFail, VerdictFail},
		{"stale validation", func() models.KeyReport {
			kr := cleanKey()
			kr.Validation.CreatedAt = reportNow.AddDate(0, 0, -20)
			return kr
		}, keysvc.ProviderSettings{}, "no_drift", ResultNotVerified, VerdictIncomplete},
		{"never validated", func() models.KeyReport {
			kr := cleanKey()
			kr.Validation = nil
			return kr
		}, keysvc.ProviderSettings{}, "enabled", ResultNotVerified, VerdictIncomplete},
	} {
		// Validations recorded before checks had a kind judge the same.
		for _, legacy := range []bool{false, true} {
			name := tc.name
			if legacy {
				name += " (recorded without kinds)"
			}
			t.Run(name, func(t *testing.T) {
				kr := tc.kr()
				if legacy {
					kr = withoutKinds(kr)
				}
				got := Evaluate(kr, tc.ps, reportNow)
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
					case p.Property == tc.property && p.Result != ResultPass && p.Deviation == "":
						t.Errorf("%s is %s without a deviation", p.Property, p.Result)
					case tc.property == "" && p.Result != ResultPass:
						t.Errorf("clean key: %s = %s (%s)", p.Property, p.Result, p.Deviation)
					}
				}
			})
		}
	}
}

// TestChecksAreSortedByKindNotName: a check's kind decides what it
// examined, whatever its display name says.
func TestChecksAreSortedByKindNotName(t *testing.T) {
	cs := sortChecks([]keysvc.Check{
		{Name: "Schlüsselrichtlinie", Kind: keysvc.CheckPolicy},
		{Name: "Key policy in eu-west-1", Kind: keysvc.CheckDescribe},
		{Name: "Replicas", Kind: keysvc.CheckTenantDataKey},
	})
	if len(cs.policy) != 1 || cs.policy[0].Name != "Schlüsselrichtlinie" || len(cs.describe) != 1 || len(cs.replicas) != 0 {
		t.Errorf("sorted = %+v", cs)
	}
}

func TestOverallVerdict(t *testing.T) {
	for _, tc := range []struct {
		verdicts []string
		want     string
	}{
		{nil, VerdictNoKeys},
		{[]string{VerdictPass, VerdictPass}, VerdictPass},
		{[]string{VerdictPass, VerdictIncomplete}, VerdictIncomplete},
		{[]string{VerdictIncomplete, VerdictFail, VerdictPass}, VerdictFail},
	} {
		var keys []ValidatedKey
		for _, v := range tc.verdicts {
			keys = append(keys, ValidatedKey{Verdict: v})
		}
		if got := Overall(keys); got != tc.want {
			t.Errorf("Overall(%v) = %s, want %s", tc.verdicts, got, tc.want)
		}
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
	drifted := cleanKey()
	drifted.Key.ID, drifted.Key.Health = "key_drift", models.HealthDrift
	revoked.Key.ID = "key_revoked"
	got := NeedsAttention([]models.KeyReport{healthy, drifted, deleted, revoked}, reportNow)
	if len(got) != 2 || got[0].Key.ID != "key_revoked" || got[1].Key.ID != "key_drift" {
		t.Errorf("NeedsAttention = %+v", got)
	}
}
