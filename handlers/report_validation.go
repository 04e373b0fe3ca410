package handlers

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"keyport/keysvc"
	"keyport/models"
	"keyport/views"
)

// Results of one expected property, and verdicts.
const (
	resultPass        = "pass"
	resultFail        = "fail"
	resultNotVerified = "not_verified"

	verdictPass       = "PASS"
	verdictFail       = "FAIL"
	verdictIncomplete = "INCOMPLETE" // nothing failed, but something could not be verified
	verdictNoKeys     = "NO_KEYS"
)

// Policy figures the validation holds keys to. Rotation periods per key
// arrive with rotation schedules; until then DESIGN.md's default applies.
const (
	defaultRotationPeriod = 365 * 24 * time.Hour
	expiryWarning         = 30 * 24 * time.Hour
	staleValidation       = 7 * 24 * time.Hour
)

// keyChecks sorts a validation's checks by what they examined. keysvc names
// each check after its step ("Key in eu-west-1", "Replicas", ...); Check has
// no kind field, so the names are the contract here.
type keyChecks struct {
	describe, roundTrip, policy, replicas []keysvc.Check
}

func sortChecks(cs []keysvc.Check) keyChecks {
	var k keyChecks
	for _, c := range cs {
		switch {
		case strings.HasPrefix(c.Name, "Key in "):
			k.describe = append(k.describe, c)
		case strings.HasPrefix(c.Name, "Encrypt and decrypt in "):
			k.roundTrip = append(k.roundTrip, c)
		case strings.HasPrefix(c.Name, "Key policy in "):
			k.policy = append(k.policy, c)
		case c.Name == "Replicas":
			k.replicas = append(k.replicas, c)
		}
	}
	return k
}

// evaluateKey judges one key against every expected property. It is pure:
// the store and the clock are read by the caller.
func evaluateKey(kr models.KeyReport, ps keysvc.ProviderSettings, now time.Time) views.ValidatedKey {
	k := kr.Key
	out := views.ValidatedKey{TenantID: k.TenantID, TenantName: kr.TenantName, KeyID: k.ID, KeyName: k.Name}
	var cs keyChecks
	validated := kr.Validation != nil
	if validated {
		at := kr.Validation.CreatedAt
		out.ValidatedAt = &at
		cs = sortChecks(keysvc.Checks(kr.Validation))
	}
	notValidated := views.PropertyResult{Result: resultNotVerified, Deviation: "the key was never validated"}
	add := func(property, expected string, r views.PropertyResult) {
		r.Property, r.Expected = property, expected
		out.Properties = append(out.Properties, r)
	}

	// Enabled, in keyport and in KMS.
	enabled := func() views.PropertyResult {
		if k.State != models.StateEnabled {
			return fail("keyport's state is " + string(k.State))
		}
		if !validated {
			return notValidated
		}
		return described(cs.describe, fmt.Sprintf("enabled in KMS in %d region(s)", len(cs.describe)),
			models.HealthKMSDisabled, models.HealthPendingDeletion)
	}
	add("enabled", "ENABLED in keyport and enabled in KMS in every region", enabled())

	symmetric := func() views.PropertyResult {
		if !validated {
			return notValidated
		}
		return described(cs.describe, "SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT, customer managed, in the connection's account", models.HealthDrift)
	}
	add("symmetric", "a customer-managed symmetric key (SYMMETRIC_DEFAULT) for ENCRYPT_DECRYPT in the connection's account", symmetric())

	policy := func() views.PropertyResult {
		if !validated {
			return notValidated
		}
		for _, c := range cs.roundTrip {
			if !c.OK && c.Health == models.HealthAccessDenied {
				return fail(c.Name + ": " + c.Detail)
			}
		}
		if c, bad := firstFailed(cs.policy); bad {
			return fail(c.Name + ": " + c.Detail)
		}
		for _, c := range cs.policy {
			if c.Skipped {
				return notVerified(c.Name + ": " + c.Detail)
			}
		}
		if len(cs.policy) == 0 {
			return notVerified("the key policy was not examined (the key could not be described)")
		}
		return pass("the key policy allows keyport " + strings.Join(keysvc.UsageActions, ", "))
	}
	add("key_policy", "the key policy grants keyport the actions it needs ("+strings.Join(keysvc.UsageActions, ", ")+")", policy())

	add("replicas", replicaExpectation(ps), replicas(kr, ps, cs, validated))
	add("rotation", fmt.Sprintf("a new data key at least every %d days", int(defaultRotationPeriod.Hours()/24)), rotation(kr, now))
	add("material_expiry", fmt.Sprintf("key material does not expire within %d days", int(expiryWarning.Hours()/24)), materialExpiry(kr))

	drift := func() views.PropertyResult {
		if !validated {
			return notValidated
		}
		if k.Health == models.HealthDrift {
			return fail(k.HealthDetail)
		}
		for _, c := range keysvc.Checks(kr.Validation) {
			if c.Required && !c.OK && c.Health == models.HealthDrift {
				return fail(c.Name + ": " + c.Detail)
			}
		}
		if age := now.Sub(kr.Validation.CreatedAt); age > staleValidation {
			return notVerified(fmt.Sprintf("last validated %d days ago", int(age.Hours()/24)))
		}
		return pass("KMS matches what keyport registered as of " + kr.Validation.CreatedAt.Format("2006-01-02 15:04 UTC"))
	}
	add("no_drift", "KMS matches what keyport registered, validated within the last 7 days", drift())

	out.Verdict = verdictOf(out.Properties)
	return out
}

// described judges a property that the regions' describe checks show: it
// fails on a failed check with one of the failOn healths, is not verified
// when a check failed otherwise or none ran, and passes with passDetail.
func described(describe []keysvc.Check, passDetail string, failOn ...models.Health) views.PropertyResult {
	for _, c := range describe {
		if !c.OK && slices.Contains(failOn, c.Health) {
			return fail(c.Name + ": " + c.Detail)
		}
	}
	if c, bad := firstFailed(describe); bad {
		return notVerified(c.Name + ": " + c.Detail)
	}
	if len(describe) == 0 {
		return notVerified("no region's key was described")
	}
	return pass(passDetail)
}

func replicaExpectation(ps keysvc.ProviderSettings) string {
	var parts []string
	if len(ps.ReplicaRegions) > 0 {
		parts = append(parts, "replicas in "+strings.Join(ps.ReplicaRegions, ", "))
	}
	if ps.DRRegions > 0 {
		parts = append(parts, fmt.Sprintf("registered in at least %d region(s) besides the primary", ps.DRRegions))
	}
	if len(parts) == 0 {
		return "the regions the provider requires (none)"
	}
	return strings.Join(parts, "; ")
}

func replicas(kr models.KeyReport, ps keysvc.ProviderSettings, cs keyChecks, validated bool) views.PropertyResult {
	if extra := len(kr.Regions) - 1; ps.DRRegions > 0 && extra < ps.DRRegions {
		return fail(fmt.Sprintf("registered in %d region(s) besides the primary; the provider requires %d", max(extra, 0), ps.DRRegions))
	}
	if len(ps.ReplicaRegions) == 0 {
		return pass("no replicas required")
	}
	if !validated {
		return notVerified("the key was never validated")
	}
	if c, bad := firstFailed(cs.replicas); bad {
		return fail(c.Detail)
	}
	if len(cs.replicas) == 0 {
		return notVerified("replicas were not examined (the primary key could not be described)")
	}
	return pass(cs.replicas[0].Detail)
}

func rotation(kr models.KeyReport, now time.Time) views.PropertyResult {
	if len(kr.Versions) == 0 {
		return fail("the key has no data key yet")
	}
	last := kr.Versions[0].CreatedAt
	days := int(now.Sub(last).Hours() / 24)
	if now.Sub(last) > defaultRotationPeriod {
		return fail(fmt.Sprintf("the newest data key is %d days old (version %d, %s)", days, kr.Versions[0].Version, last.Format("2006-01-02")))
	}
	return pass(fmt.Sprintf("the newest data key is %d days old; next rotation due by %s", days, last.Add(defaultRotationPeriod).Format("2006-01-02")))
}

func materialExpiry(kr models.KeyReport) views.PropertyResult {
	switch kr.Key.Health {
	case models.HealthMaterialExpired, models.HealthPendingImport:
		return fail(kr.Key.HealthDetail)
	}
	if kr.Key.Mode == models.ModeCMK {
		return pass("no expiry recorded: the key material of a customer-managed key is kept by the tenant's KMS")
	}
	// Material expiry of generated and imported keys is recorded by the
	// import work; until it is, keyport cannot vouch for it.
	return notVerified("keyport does not record this key's material expiry yet")
}

func pass(detail string) views.PropertyResult {
	return views.PropertyResult{Result: resultPass, Detail: detail}
}

func fail(deviation string) views.PropertyResult {
	return views.PropertyResult{Result: resultFail, Deviation: deviation}
}

func notVerified(why string) views.PropertyResult {
	return views.PropertyResult{Result: resultNotVerified, Deviation: why}
}

func firstFailed(cs []keysvc.Check) (keysvc.Check, bool) {
	for _, c := range cs {
		if !c.OK {
			return c, true
		}
	}
	return keysvc.Check{}, false
}

// verdictOf is FAIL when anything failed, INCOMPLETE when something could
// not be verified, else PASS: a compliance verdict never passes what was not
// examined.
func verdictOf(props []views.PropertyResult) string {
	v := verdictPass
	for _, p := range props {
		switch p.Result {
		case resultFail:
			return verdictFail
		case resultNotVerified:
			v = verdictIncomplete
		}
	}
	return v
}

// overallVerdict combines the keys' verdicts the same way.
func overallVerdict(keys []views.ValidatedKey) string {
	if len(keys) == 0 {
		return verdictNoKeys
	}
	v := verdictPass
	for _, k := range keys {
		switch k.Verdict {
		case verdictFail:
			return verdictFail
		case verdictIncomplete:
			v = verdictIncomplete
		}
	}
	return v
}
