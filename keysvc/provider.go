package keysvc

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"keyport/keysvc/awskms"
	"keyport/models"
)

// Names of the provider_settings rows.
const (
	settingAccountID       = "aws_account_id"
	settingPrincipalARN    = "principal_arn"
	settingAllowedRegions  = "allowed_regions"
	settingReplicaRegions  = "replica_regions"
	settingDRRegions       = "dr_regions"
	settingOneKeyPerTenant = "one_key_per_tenant"
	settingImportedKeyUse  = "imported_key_use"
	settingReplicaFailover = "replica_failover"
	settingKMSPrice        = "kms_price_per_10k"
)

// DefaultKMSPricePer10k is the price of 10,000 KMS requests (USD) that the
// cache savings are estimated with until the provider sets its own: AWS's
// list price for symmetric requests in most regions.
const DefaultKMSPricePer10k = 0.03

// Where a tenant's imported key material goes (mode 3), as the provider
// decides.
const (
	// ImportedIntoKMS: keyport imports it into the tenant's KMS, like the
	// material it generates (the default).
	ImportedIntoKMS = "kms"
	// ImportedHeld: keyport keeps it, sealed, for the provider's own use and
	// wraps the key's data keys under it itself; nothing goes into KMS.
	ImportedHeld = "provider"
)

// ProviderSettings are the provider-wide rules an operator sets.
type ProviderSettings struct {
	AccountID       string   // the provider's AWS account, shown in trust and key policies
	PrincipalARN    string   // the IAM principal keyport runs as, shown in trust policies
	AllowedRegions  []string // regions tenants may use; empty means every known region
	ReplicaRegions  []string // regions a multi-region key must have replicas in
	DRRegions       int      // regions beyond the primary each key must be registered in
	OneKeyPerTenant bool     // a tenant may register one key only
	ImportedKeyUse  string   // ImportedIntoKMS or ImportedHeld
	ReplicaFailover string   // FailoverNever, FailoverUnavailable (default) or FailoverRevoked
	KMSPricePer10k  float64  // USD per 10,000 KMS requests, for the cache's savings
}

// RegionAllowed reports whether tenants may use region.
func (p ProviderSettings) RegionAllowed(region string) bool {
	return awskms.KnownRegion(region) && (len(p.AllowedRegions) == 0 || slices.Contains(p.AllowedRegions, region))
}

// RequestBy says who asked for a change, for the audit event.
type RequestBy struct {
	// UserID is the actor's id: a user's, a service token's, an API
	// key's, or the name of a background task.
	UserID string
	// Kind is the actor's kind (models.ActorUser, ActorServiceToken,
	// ActorAPIKey, ActorSystem); "" lets the store tell it from UserID.
	Kind      string
	RequestID string
	// MFA: the user's sign-in asserted a second factor (approvals may
	// require it).
	MFA bool
	// OnBehalfOf is the person accountable for a request that a non-person
	// makes: an API key's creator. The four-eyes rule of approvals counts
	// persons (see Person), so one admin cannot request with a key and
	// approve in the portal, or the other way round.
	OnBehalfOf string
}

// Person is who counts as the requester or decider of an approval: the
// person behind an API key, else the actor.
func (b RequestBy) Person() string {
	if b.OnBehalfOf != "" {
		return b.OnBehalfOf
	}
	return b.UserID
}

// Audit is the audit event of action by b, with details.
func (b RequestBy) Audit(action string, details map[string]string) models.AuditInput {
	return models.AuditInput{Action: action, ActorKind: b.Kind, Actor: b.UserID, RequestID: b.RequestID, Details: details}
}

// requestByKey is the context key of WithRequestBy.
type requestByKey struct{}

// WithRequestBy returns ctx carrying who made the request, for the audit
// events the data plane writes on its own (key.datakey_fetch): the data
// API puts its service token and request id there, so keysvc needs to
// know nothing of HTTP.
func WithRequestBy(ctx context.Context, by RequestBy) context.Context {
	return context.WithValue(ctx, requestByKey{}, by)
}

// requestByFrom is the requester WithRequestBy put in ctx, if any.
func requestByFrom(ctx context.Context) (RequestBy, bool) {
	by, ok := ctx.Value(requestByKey{}).(RequestBy)
	return by, ok && by.UserID != ""
}

// ProviderSettings reads the provider settings.
func (s *Service) ProviderSettings(ctx context.Context) (ProviderSettings, error) {
	m, err := s.db.ProviderSettings(ctx)
	if err != nil {
		return ProviderSettings{}, err
	}
	p := ProviderSettings{
		AccountID:       m[settingAccountID],
		PrincipalARN:    m[settingPrincipalARN],
		AllowedRegions:  splitList(m[settingAllowedRegions]),
		ReplicaRegions:  splitList(m[settingReplicaRegions]),
		OneKeyPerTenant: m[settingOneKeyPerTenant] == "true",
		ImportedKeyUse:  ImportedIntoKMS,
	}
	if m[settingImportedKeyUse] == ImportedHeld {
		p.ImportedKeyUse = ImportedHeld
	}
	p.ReplicaFailover = failoverMode(m[settingReplicaFailover])
	p.DRRegions, _ = strconv.Atoi(m[settingDRRegions])
	p.KMSPricePer10k = DefaultKMSPricePer10k
	if v, err := parseKMSPrice(m[settingKMSPrice]); err == nil { // unset or unreadable: the default
		p.KMSPricePer10k = v
	}
	return p, nil
}

// ProviderSettingsInput is the settings form as typed.
type ProviderSettingsInput struct {
	AccountID       string
	PrincipalARN    string
	AllowedRegions  string // comma or space separated
	ReplicaRegions  string
	DRRegions       string
	OneKeyPerTenant bool
	ImportedKeyUse  string // ImportedIntoKMS (or empty) or ImportedHeld
	ReplicaFailover string // FailoverNever, FailoverUnavailable (or empty) or FailoverRevoked
	KMSPricePer10k  string // USD per 10,000 KMS requests; empty means DefaultKMSPricePer10k
}

// UpdateProviderSettings validates and stores the provider settings, with an
// audit event naming what changed. It returns the names of the changed
// settings.
func (s *Service) UpdateProviderSettings(ctx context.Context, by RequestBy, in ProviderSettingsInput) ([]string, error) {
	vals, err := validateProviderSettings(in)
	if err != nil {
		return nil, err
	}
	return s.db.SetProviderSettings(ctx, vals, by.Audit("provider.settings_updated", nil))
}

func validateProviderSettings(in ProviderSettingsInput) (map[string]string, error) {
	acct := strings.TrimSpace(in.AccountID)
	if acct != "" && !awskms.ValidAccountID(acct) {
		return nil, &ValidationError{Field: "account_id", Message: "must be the provider's 12-digit AWS account id"}
	}
	principal := strings.TrimSpace(in.PrincipalARN)
	if principal != "" {
		a, err := parsePrincipalARN(principal)
		if err != nil {
			return nil, err
		}
		if acct != "" && a != acct {
			return nil, &ValidationError{Field: "principal_arn", Message: "must be in the provider account " + acct}
		}
	}
	allowed, err := regionList("allowed_regions", in.AllowedRegions)
	if err != nil {
		return nil, err
	}
	replicas, err := regionList("replica_regions", in.ReplicaRegions)
	if err != nil {
		return nil, err
	}
	for _, r := range replicas {
		if len(allowed) > 0 && !slices.Contains(allowed, r) {
			return nil, &ValidationError{Field: "replica_regions", Message: r + " is not among the allowed regions"}
		}
	}
	dr := 0
	if v := strings.TrimSpace(in.DRRegions); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 5 {
			return nil, &ValidationError{Field: "dr_regions", Message: "must be a whole number from 0 to 5"}
		}
		dr = n
	}
	use := strings.TrimSpace(in.ImportedKeyUse)
	switch use {
	case "":
		use = ImportedIntoKMS
	case ImportedIntoKMS, ImportedHeld:
	default:
		return nil, &ValidationError{Field: "imported_key_use", Message: "choose whether imported keys go into the tenant's KMS or stay with keyport"}
	}
	failover := strings.TrimSpace(in.ReplicaFailover)
	switch failover {
	case "":
		failover = FailoverUnavailable
	case FailoverNever, FailoverUnavailable, FailoverRevoked:
	default:
		return nil, &ValidationError{Field: "replica_failover", Message: "choose when keyport may decrypt through a replica region"}
	}
	vals := map[string]string{
		settingImportedKeyUse: use,
		settingAccountID:      acct, settingPrincipalARN: principal,
		settingAllowedRegions: strings.Join(allowed, ","), settingReplicaRegions: strings.Join(replicas, ","),
		settingDRRegions: strconv.Itoa(dr), settingOneKeyPerTenant: strconv.FormatBool(in.OneKeyPerTenant),
	}
	vals[settingReplicaFailover] = failover
	price := DefaultKMSPricePer10k
	if v := strings.TrimSpace(in.KMSPricePer10k); v != "" {
		p, err := parseKMSPrice(v)
		if err != nil {
			return nil, &ValidationError{Field: "kms_price_per_10k", Message: "must be a price in US dollars from 0 to 1000, such as 0.03"}
		}
		price = p
	}
	vals[settingKMSPrice] = strconv.FormatFloat(price, 'f', -1, 64)
	return vals, nil
}

// parseKMSPrice reads a price per 10,000 KMS requests: a plain decimal
// number of dollars ("0.03", "$0.03"), 0 to 1000.
func parseKMSPrice(s string) (float64, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "$")
	if s == "" || strings.ContainsAny(s, "eEnNiIxX_+-") { // no exponents, NaN, Inf, hex or signs
		return 0, strconv.ErrSyntax
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || v > 1000 {
		return 0, strconv.ErrRange
	}
	return v, nil
}

// parsePrincipalARN accepts an IAM user, role or account root of the
// standard partition and returns its account.
func parsePrincipalARN(s string) (string, error) {
	bad := &ValidationError{Field: "principal_arn", Message: "must be an IAM user, role or root ARN such as arn:aws:iam::999988887777:user/keyport"}
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "iam" || parts[3] != "" || !awskms.ValidAccountID(parts[4]) {
		return "", bad
	}
	if msg := awskms.PartitionMessage(parts[1]); msg != "" {
		return "", &ValidationError{Field: "principal_arn", Message: strings.Replace(msg, "arn:aws:kms:", "arn:aws:iam:", 1)}
	}
	res := parts[5]
	if res != "root" && !strings.HasPrefix(res, "user/") && !strings.HasPrefix(res, "role/") || !awskms.RoleNameRE.MatchString(res) {
		return "", bad
	}
	return parts[4], nil
}

// regionList parses a comma- or space-separated list of known regions,
// without duplicates, in the order given.
func regionList(field, s string) ([]string, error) {
	var out []string
	for _, r := range splitList(s) {
		if !awskms.KnownRegion(r) {
			return nil, &ValidationError{Field: field, Message: "names a region" + awskms.Quoted(r) + " that is not a known AWS region"}
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out, nil
}

func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
}
