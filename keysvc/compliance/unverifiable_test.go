package compliance

import (
	"strings"
	"testing"

	"keyport/keysvc"
)

// TestUnverifiableChecksAreNotVerified: a key registered with ALTR's grants
// (no kms:DescribeKey, no kms:GetKeyPolicy) passes its round trip; the
// report says which properties keyport could not verify and why, and
// fails none of them.
func TestUnverifiableChecksAreNotVerified(t *testing.T) {
	cs := []keysvc.Check{
		{Name: "Key in eu-west-1", Kind: keysvc.CheckDescribe, OK: true, Skipped: true, Required: true, Unverifiable: "kms:DescribeKey", Region: "eu-west-1"},
		{Name: "Replicas", Kind: keysvc.CheckReplicas, OK: true, Skipped: true, Required: true, Unverifiable: "kms:DescribeKey", Region: "eu-west-1"},
		{Name: "Encrypt and decrypt in eu-west-1", Kind: keysvc.CheckRoundTrip, OK: true, Required: true, Region: "eu-west-1"},
		{Name: "Key policy in eu-west-1", Kind: keysvc.CheckPolicy, OK: true, Skipped: true, Unverifiable: "kms:GetKeyPolicy", Region: "eu-west-1"},
	}
	ps := keysvc.ProviderSettings{ReplicaRegions: []string{"eu-central-1"}}
	got := map[string]PropertyResult{}
	for _, p := range Evaluate(cleanKey(cs...), ps, reportNow).Properties {
		got[p.Property] = p
	}
	for prop, action := range map[string]string{"enabled": "kms:DescribeKey", "symmetric": "kms:DescribeKey", "replicas": "kms:DescribeKey", "key_policy": "kms:GetKeyPolicy"} {
		if r := got[prop]; r.Result != ResultNotVerified || !strings.Contains(r.Deviation, "not verifiable without "+action) {
			t.Errorf("%s = %s %q, want not verified without %s", prop, r.Result, r.Deviation, action)
		}
	}
	for _, c := range inventoryKey(cleanKey(cs...)).Checks {
		if c.Name == "Key in eu-west-1" && c.Result != "not_verifiable" {
			t.Errorf("inventory check result = %q", c.Result)
		}
	}
}
