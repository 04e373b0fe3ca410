package compliance

import (
	"testing"
	"time"

	"keyport/keysvc"
	"keyport/models"
)

func resultOf(t *testing.T, vk ValidatedKey, property string) PropertyResult {
	t.Helper()
	for _, p := range vk.Properties {
		if p.Property == property {
			return p
		}
	}
	t.Fatalf("no property %s in %+v", property, vk.Properties)
	return PropertyResult{}
}

// TestMaterialThatNeverExpiresPasses: a keyport-generated key imported
// without an expiry is verified ("never expires"), so the verdict is PASS,
// not INCOMPLETE; material close to its expiry fails.
func TestMaterialThatNeverExpiresPasses(t *testing.T) {
	kr := cleanKey()
	kr.Key.Mode = models.ModeGenerated
	kr.Managed = &models.KeyReportManaged{StoreName: "production", AliasName: "alias/keyport/orders"}
	vk := Evaluate(kr, keysvc.ProviderSettings{}, reportNow)
	if r := resultOf(t, vk, "material_expiry"); r.Result != ResultPass || vk.Verdict != VerdictPass {
		t.Errorf("never-expiring material: %+v, verdict %s", r, vk.Verdict)
	}

	soon := reportNow.Add(3 * 24 * time.Hour)
	kr.Managed.ValidDays, kr.Managed.MaterialValidTo = 90, &soon
	vk = Evaluate(kr, keysvc.ProviderSettings{}, reportNow)
	if r := resultOf(t, vk, "material_expiry"); r.Result != ResultFail {
		t.Errorf("material expiring in 3 days: %+v", r)
	}
	later := reportNow.AddDate(0, 0, 80)
	kr.Managed.MaterialValidTo = &later
	if r := resultOf(t, Evaluate(kr, keysvc.ProviderSettings{}, reportNow), "material_expiry"); r.Result != ResultPass {
		t.Errorf("material expiring in 80 days: %+v", r)
	}
	kr.Managed.Held = true
	kr.Managed.MaterialValidTo = nil
	if r := resultOf(t, Evaluate(kr, keysvc.ProviderSettings{}, reportNow), "material_expiry"); r.Result != ResultPass {
		t.Errorf("held material: %+v", r)
	}
}

// TestReportsUseTheKeysRotationPolicy: a key rotated every 7 days whose
// newest data key is 10 days old fails, and its inventory row says 7 days
// and the policy's next rotation; a key without a policy keeps the 365-day
// default.
func TestReportsUseTheKeysRotationPolicy(t *testing.T) {
	kr := cleanKey() // newest data key 10 days old
	next := reportNow.Add(-3 * 24 * time.Hour)
	kr.RotationPeriodDays, kr.NextRotationAt = 7, &next
	vk := Evaluate(kr, keysvc.ProviderSettings{}, reportNow)
	r := resultOf(t, vk, "rotation")
	if r.Result != ResultFail || r.Expected != "a new data key at least every 7 days" {
		t.Errorf("rotation under a 7-day policy: %+v", r)
	}
	ik := inventoryKey(kr)
	if ik.RotationPeriodDays != 7 || ik.NextRotation == nil || !ik.NextRotation.Equal(next) {
		t.Errorf("inventory: period %d, next %v", ik.RotationPeriodDays, ik.NextRotation)
	}

	kr = cleanKey()
	if r := resultOf(t, Evaluate(kr, keysvc.ProviderSettings{}, reportNow), "rotation"); r.Result != ResultPass || r.Expected != "a new data key at least every 365 days" {
		t.Errorf("rotation without a policy: %+v", r)
	}
}

// TestInventoryStoreAndAliases: the store column names the key store (not
// the AWS connection) and a keyport-held key lists its alias.
func TestInventoryStoreAndAliases(t *testing.T) {
	kr := cleanKey()
	kr.Connection = "role connection"
	kr.Key.Mode = models.ModeGenerated
	valid := reportNow.AddDate(0, 0, 90)
	kr.Managed = &models.KeyReportManaged{StoreName: "production", AliasName: "alias/keyport/orders", ValidDays: 90, MaterialValidTo: &valid}
	ik := inventoryKey(kr)
	if ik.Store != "production" || ik.Connection != "role connection" {
		t.Errorf("store %q, connection %q", ik.Store, ik.Connection)
	}
	if len(ik.Aliases) != 1 || ik.Aliases[0] != "alias/keyport/orders" {
		t.Errorf("aliases = %v", ik.Aliases)
	}
	if ik.MaterialExpiresAt == nil || !ik.MaterialExpiresAt.Equal(valid) {
		t.Errorf("material expires at %v", ik.MaterialExpiresAt)
	}
	cmk := inventoryKey(cleanKey())
	if cmk.Store != "" {
		t.Errorf("a customer-managed key has store %q", cmk.Store)
	}
}
