package compliance

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"keyport/keysvc"
	"keyport/models"
)

// Results of one expected property, and verdicts.
const (
	ResultPass        = "pass"
	ResultFail        = "fail"
	ResultNotVerified = "not_verified"

	VerdictPass       = "PASS"
	VerdictFail       = "FAIL"
	VerdictIncomplete = "INCOMPLETE" // nothing failed, but something could not be verified
	VerdictNoKeys     = "NO_KEYS"
)

// Validation is the configuration validation: each key's expected
// properties with pass, fail or not verified, and a verdict.
type Validation struct {
	Meta    Meta
	Verdict string // PASS, FAIL, INCOMPLETE, NO_KEYS
	Keys    []ValidatedKey
}

// ValidatedKey is one key's properties and verdict.
type ValidatedKey struct {
	TenantID    string
	TenantName  string
	KeyID       string
	KeyName     string
	ValidatedAt *time.Time
	Verdict     string
	Properties  []PropertyResult
}

// PropertyResult is one expected property of a key.
type PropertyResult struct {
	Property  string
	Expected  string
	Result    string // pass, fail, not_verified
	Deviation string
	Detail    string
}

// Validation judges every key in scope that is not deleted.
func (r *Reports) Validation(ctx context.Context, s Scope, meta Meta) (*Validation, error) {
	krs, err := s.keyReports(ctx, r.Store)
	if err != nil {
		return nil, err
	}
	ps, err := r.Settings.ProviderSettings(ctx)
	if err != nil {
		return nil, err
	}
	v := &Validation{Meta: meta, Keys: []ValidatedKey{}}
	now := r.Now()
	for _, kr := range krs {
		if kr.Key.State == models.StateDeleted {
			continue
		}
		v.Keys = append(v.Keys, Evaluate(kr, ps, now))
	}
	v.Verdict = Overall(v.Keys)
	return v, nil
}

// keyChecks sorts a validation's checks by what they examined.
type keyChecks struct {
	describe, roundTrip, policy, replicas []keysvc.Check
}

func sortChecks(cs []keysvc.Check) keyChecks {
	var k keyChecks
	for _, c := range cs {
		switch kindOf(c) {
		case keysvc.CheckDescribe:
			k.describe = append(k.describe, c)
		case keysvc.CheckRoundTrip:
			k.roundTrip = append(k.roundTrip, c)
		case keysvc.CheckPolicy:
			k.policy = append(k.policy, c)
		case keysvc.CheckReplicas:
			k.replicas = append(k.replicas, c)
		}
	}
	return k
}

// kindOf is what a check examined. Validations recorded before checks had a
// kind carry none; for them the kind follows from the name keysvc gave the
// check then, so reports over old rows judge as they always did.
func kindOf(c keysvc.Check) keysvc.CheckKind {
	switch {
	case c.Kind != "":
		return c.Kind
	case strings.HasPrefix(c.Name, "Key in "):
		return keysvc.CheckDescribe
	case strings.HasPrefix(c.Name, "Encrypt and decrypt in "):
		return keysvc.CheckRoundTrip
	case strings.HasPrefix(c.Name, "Key policy in "):
		return keysvc.CheckPolicy
	case c.Name == "Replicas":
		return keysvc.CheckReplicas
	}
	return ""
}

// Evaluate judges one key against every expected property. It is pure: the
// caller reads the store and the clock.
func Evaluate(kr models.KeyReport, ps keysvc.ProviderSettings, now time.Time) ValidatedKey {
	k := kr.Key
	out := ValidatedKey{TenantID: k.TenantID, TenantName: kr.TenantName, KeyID: k.ID, KeyName: k.Name}
	var cs keyChecks
	validated := kr.Validation != nil
	if validated {
		at := kr.Validation.CreatedAt
		out.ValidatedAt = &at
		cs = sortChecks(keysvc.Checks(kr.Validation))
	}
	notValidated := PropertyResult{Result: ResultNotVerified, Deviation: "the key was never validated"}
	add := func(property, expected string, r PropertyResult) {
		r.Property, r.Expected = property, expected
		out.Properties = append(out.Properties, r)
	}

	// Enabled, in keyport and in KMS.
	enabled := func() PropertyResult {
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

	symmetric := func() PropertyResult {
		if !validated {
			return notValidated
		}
		return described(cs.describe, "SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT, customer managed, in the connection's account", models.HealthDrift)
	}
	add("symmetric", "a customer-managed symmetric key (SYMMETRIC_DEFAULT) for ENCRYPT_DECRYPT in the connection's account", symmetric())

	policy := func() PropertyResult {
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
			if c.Unverifiable != "" {
				return notVerified(c.Name + ": not verifiable without " + c.Unverifiable)
			}
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
	add("rotation", fmt.Sprintf("a new data key at least every %s", daysText(int(rotationPeriod(kr).Hours()/24))), rotation(kr, now))
	add("material_expiry", fmt.Sprintf("key material does not expire within %s", daysText(int(expiryWarning.Hours()/24))), materialExpiry(kr, now))

	drift := func() PropertyResult {
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
			return notVerified("last validated " + daysText(int(age.Hours()/24)) + " ago")
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
func described(describe []keysvc.Check, passDetail string, failOn ...models.Health) PropertyResult {
	for _, c := range describe {
		if !c.OK && slices.Contains(failOn, c.Health) {
			return fail(c.Name + ": " + c.Detail)
		}
	}
	if c, bad := firstFailed(describe); bad {
		return notVerified(c.Name + ": " + c.Detail)
	}
	for _, c := range describe {
		if c.Unverifiable != "" {
			return notVerified(c.Name + ": not verifiable without " + c.Unverifiable)
		}
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

func replicas(kr models.KeyReport, ps keysvc.ProviderSettings, cs keyChecks, validated bool) PropertyResult {
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
	if c := cs.replicas[0]; c.Unverifiable != "" {
		return notVerified("not verifiable without " + c.Unverifiable)
	}
	return pass(cs.replicas[0].Detail)
}

func rotation(kr models.KeyReport, now time.Time) PropertyResult {
	if len(kr.Versions) == 0 {
		return fail("the key has no data key yet")
	}
	last := kr.Versions[0].CreatedAt
	age := daysText(int(now.Sub(last).Hours() / 24))
	if now.Sub(last) > rotationPeriod(kr) {
		return fail(fmt.Sprintf("the newest data key is %s old (version %d, %s)", age, kr.Versions[0].Version, last.Format("2006-01-02")))
	}
	return pass(fmt.Sprintf("the newest data key is %s old; next rotation due by %s", age, nextRotation(kr).Format("2006-01-02")))
}

// daysText is "1 day" or "n days".
func daysText(n int) string {
	if n == 1 {
		return "1 day"
	}
	return fmt.Sprintf("%d days", n)
}

func materialExpiry(kr models.KeyReport, now time.Time) PropertyResult {
	switch kr.Key.Health {
	case models.HealthMaterialExpired, models.HealthPendingImport:
		return fail(kr.Key.HealthDetail)
	}
	if kr.Key.Mode == models.ModeCMK {
		return pass("no expiry recorded: the key material of a customer-managed key is kept by the tenant's KMS")
	}
	m := kr.Managed
	switch {
	case m == nil:
		return notVerified("keyport has no record of this key's material")
	case m.Held:
		return pass("the material is kept by keyport and does not expire")
	case m.ValidDays == 0 && m.MaterialValidTo == nil:
		return pass("the material was imported without an expiry: it never expires in KMS")
	case m.MaterialValidTo == nil:
		return notVerified("the current material has no recorded expiry in KMS")
	case m.MaterialValidTo.Sub(now) < expiryWarning:
		return fail("the material expires in KMS on " + m.MaterialValidTo.UTC().Format("2006-01-02 15:04 UTC"))
	}
	return pass("the material expires in KMS on " + m.MaterialValidTo.UTC().Format("2006-01-02"))
}

func pass(detail string) PropertyResult {
	return PropertyResult{Result: ResultPass, Detail: detail}
}

func fail(deviation string) PropertyResult {
	return PropertyResult{Result: ResultFail, Deviation: deviation}
}

func notVerified(why string) PropertyResult {
	return PropertyResult{Result: ResultNotVerified, Deviation: why}
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
func verdictOf(props []PropertyResult) string {
	v := VerdictPass
	for _, p := range props {
		switch p.Result {
		case ResultFail:
			return VerdictFail
		case ResultNotVerified:
			v = VerdictIncomplete
		}
	}
	return v
}

// Overall combines the keys' verdicts the same way; NO_KEYS when there are
// none.
func Overall(keys []ValidatedKey) string {
	if len(keys) == 0 {
		return VerdictNoKeys
	}
	v := VerdictPass
	for _, k := range keys {
		switch k.Verdict {
		case VerdictFail:
			return VerdictFail
		case VerdictIncomplete:
			v = VerdictIncomplete
		}
	}
	return v
}
