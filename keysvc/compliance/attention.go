package compliance

import (
	"sort"
	"time"

	"keyport/models"
)

// attentionRank orders what needs attention: access revoked first (data
// is unreadable now), then what stops use soon, then what is merely due.
var attentionRank = map[string]int{
	"access revoked":           0,
	"pending deletion":         1,
	"disabled":                 2,
	"material expired":         3,
	"drift":                    4,
	"unreachable":              5,
	"rotation overdue":         6,
	"waiting for key material": 7,
	"never validated":          8,
}

// healthReasons name the healths that need attention, in attentionRank's
// words.
var healthReasons = map[models.Health]string{
	models.HealthAccessDenied:    "access revoked",
	models.HealthPendingDeletion: "pending deletion",
	models.HealthKMSDisabled:     "disabled",
	models.HealthMaterialExpired: "material expired",
	models.HealthDrift:           "drift",
	models.HealthUnreachable:     "unreachable",
	models.HealthPendingImport:   "waiting for key material",
	models.HealthUnknown:         "never validated",
	"":                           "never validated",
}

// Attention is a key that needs an operator's attention, with the reasons,
// worst first.
type Attention struct {
	TenantName string
	Key        models.Key
	Reasons    []string
}

// NeedsAttention lists the keys that need attention, the worst first.
func NeedsAttention(krs []models.KeyReport, now time.Time) []Attention {
	var out []Attention
	for _, kr := range krs {
		if rs := attentionReasons(kr, now); len(rs) > 0 {
			out = append(out, Attention{TenantName: kr.TenantName, Key: kr.Key, Reasons: rs})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		return attentionRank[out[i].Reasons[0]] < attentionRank[out[j].Reasons[0]]
	})
	return out
}

// attentionReasons says why a key (not deleted) needs attention, worst
// first; none for a healthy key.
func attentionReasons(kr models.KeyReport, now time.Time) []string {
	k := kr.Key
	if k.State == models.StateDeleted {
		return nil
	}
	var rs []string
	if r, ok := healthReasons[k.Health]; ok {
		rs = append(rs, r)
	}
	switch k.State {
	case models.StateDisabled:
		rs = append([]string{"disabled"}, rs...)
	case models.StatePendingDeletion:
		rs = append([]string{"pending deletion"}, rs...)
	}
	if len(kr.Versions) > 0 && now.Sub(kr.Versions[0].CreatedAt) > RotationPeriod {
		rs = append(rs, "rotation overdue")
	}
	sort.SliceStable(rs, func(i, j int) bool { return attentionRank[rs[i]] < attentionRank[rs[j]] })
	return dedupe(rs)
}

func dedupe(ss []string) []string {
	var out []string
	for _, s := range ss {
		if len(out) == 0 || out[len(out)-1] != s {
			out = append(out, s)
		}
	}
	return out
}
