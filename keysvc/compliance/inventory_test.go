package compliance

import (
	"testing"

	"keyport/keysvc"
	"keyport/models"
)

func TestInventoryKey(t *testing.T) {
	kr := cleanKey(append(cleanChecks(), keysvc.Check{Name: "Replicas", Kind: keysvc.CheckReplicas, Skipped: true, Detail: "not examined"})...)
	kr.Regions = append(kr.Regions, models.KeyRegion{Region: "eu-central-1", KMSKeyARN: "arn:aws:kms:eu-central-1:111122223333:alias/orders", Priority: 1})
	kr.Versions = append([]models.KeyReportVersion{{DataKeyVersion: models.DataKeyVersion{Version: 2, CreatedAt: reportNow.AddDate(0, 0, -1)}}}, kr.Versions...)
	kr.Key.CurrentVersion = 2
	k := inventoryKey(kr)
	if k.RotationPeriodDays != 365 || k.Origin != "tenant's KMS key (customer managed)" {
		t.Errorf("rotation period %d, origin %q", k.RotationPeriodDays, k.Origin)
	}
	if len(k.Aliases) != 1 || k.Aliases[0] != "alias/orders" {
		t.Errorf("aliases = %v", k.Aliases)
	}
	if len(k.Regions) != 2 || !k.Regions[0].Primary || k.Regions[1].Primary {
		t.Errorf("regions = %+v", k.Regions)
	}
	if len(k.Versions) != 2 || !k.Versions[0].Current || k.Versions[1].Current {
		t.Errorf("versions = %+v", k.Versions)
	}
	if want := reportNow.AddDate(0, 0, -1).Add(RotationPeriod); k.NextRotation == nil || !k.NextRotation.Equal(want) {
		t.Errorf("next rotation = %v, want %v", k.NextRotation, want)
	}
	var results []string
	for _, c := range k.Checks {
		results = append(results, c.Result)
	}
	if len(results) != 4 || results[0] != ResultPass || results[3] != "skipped" {
		t.Errorf("check results = %v", results)
	}
	if k.ValidationOK == nil || !*k.ValidationOK || k.LastValidation == nil {
		t.Error("the last validation is missing")
	}

	never := cleanKey()
	never.Validation, never.Versions = nil, nil
	k = inventoryKey(never)
	if k.LastValidation != nil || k.LastRotation != nil || k.Checks == nil || k.Versions == nil || k.Aliases == nil {
		t.Errorf("a key never validated nor rotated: %+v", k)
	}
}

func TestDetails(t *testing.T) {
	if d := Details(`{"a":"b"}`); d["a"] != "b" || len(d) != 1 {
		t.Errorf("Details = %v", d)
	}
	if d := Details(`not json`); d["raw"] != "not json" {
		t.Errorf("Details = %v", d)
	}
}
