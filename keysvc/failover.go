package keysvc

import (
	"context"
	"errors"

	"keyport/keysvc/awskms"
	"keyport/models"
)

// When keyport may decrypt a data key through a replica region instead of
// the key's primary region: a provider setting (Provider settings,
// "Replica regions"). Encryption never needs KMS (the data key is cached
// or unwrapped), so this decides whether the key keeps working at all.
const (
	// FailoverNever: only the primary region's KMS key unwraps data keys;
	// the other regions' wrapped copies wait for a manual change.
	FailoverNever = "never"
	// FailoverUnavailable (the default): a replica serves while the
	// primary region is out of reach (throttling, errors, timeouts), never
	// when the tenant revoked, disabled or scheduled the deletion of the
	// primary key: a revocation stops keyport even if only the primary was
	// revoked, because that is what revoking means to the tenant.
	FailoverUnavailable = "unavailable"
	// FailoverRevoked: a replica serves also when the primary key was
	// revoked; the key's health then says "primary revoked, serving from
	// replica in R" until the primary answers again. For providers whose
	// tenants keep replicas as the key's other homes (ALTR's replicas in
	// us-east-2 and us-west-2 "must match the original key").
	FailoverRevoked = "revoked"
)

// failoverMode reads the stored setting, defaulting to FailoverUnavailable.
func failoverMode(v string) string {
	switch v {
	case FailoverNever, FailoverRevoked:
		return v
	}
	return FailoverUnavailable
}

// revocation reports whether a KMS failure is the key owner's doing: access
// refused, the key disabled or scheduled for deletion.
func revocation(err error) bool {
	return errors.Is(err, awskms.ErrAccessDenied) || errors.Is(err, awskms.ErrKeyDisabled) || errors.Is(err, awskms.ErrKeyPendingDeletion)
}

// mayFailOver says whether, the primary region having failed with err,
// the data plane may try the replica regions. The setting is read only on
// this path, which a healthy key never takes.
func (s *Service) mayFailOver(ctx context.Context, err error) bool {
	mode := FailoverUnavailable
	if ps, perr := s.ProviderSettings(context.WithoutCancel(ctx)); perr == nil {
		mode = ps.ReplicaFailover
	} else {
		s.log.Warn("read replica failover setting", "err", perr)
	}
	switch mode {
	case FailoverNever:
		return false
	case FailoverRevoked:
		return true
	}
	return !revocation(err)
}

// servedFrom records which region a data key came from. The primary
// answering makes the key healthy again; a replica answering after the
// primary was revoked makes it PRIMARY_REVOKED, and never healthy: the next
// success through the replica leaves it so. A replica answering while the
// primary was out of reach changes nothing.
func (s *Service) servedFrom(ctx context.Context, m keyMeta, primary bool, region string, primaryErr error) {
	switch {
	case primary:
		if m.Health != models.HealthOK {
			s.setHealth(ctx, m, models.HealthOK, "", false)
		}
	case revocation(primaryErr) && m.Health != models.HealthPrimaryRevoked:
		health, detail := models.HealthPrimaryRevoked, primaryRevokedDetail(region, revocationReason(primaryErr))
		k, err := s.db.UpdateKey(context.WithoutCancel(ctx), m.TenantID, m.ID, models.KeyUpdate{Health: &health, HealthDetail: &detail},
			models.AuditInput{Actor: "keyport:data-api", Action: "key.health_changed",
				Details: map[string]string{"health": string(health), "previous_health": string(m.Health), "serving_region": region}})
		if err != nil {
			s.log.Warn("record key health", "key_id", m.ID, "health", health, "err", err)
			return
		}
		s.dp.keys.apply(k)
	}
}

func primaryRevokedDetail(region, reason string) string {
	return "Primary revoked, serving from replica in " + region + ": " + reason
}

// revocationReason says what the primary's failure was, in a tenant's words.
func revocationReason(err error) string {
	switch {
	case errors.Is(err, awskms.ErrKeyDisabled):
		return "the primary KMS key is disabled."
	case errors.Is(err, awskms.ErrKeyPendingDeletion):
		return "the primary KMS key is scheduled for deletion."
	}
	return "KMS refused keyport on the primary KMS key (its key policy or IAM no longer allows keyport)."
}

// keyHealth is the health a validation's checks mean for a stored key,
// with the provider's failover rule applied: when only the primary region
// failed because the tenant revoked it, another region passed every check,
// and the provider fails over on revocation, the key is PRIMARY_REVOKED
// (serving from that replica) rather than unusable.
func (s *Service) keyHealth(ctx context.Context, checks []Check) (models.Health, string) {
	health, detail := healthOf(checks)
	switch health {
	case models.HealthAccessDenied, models.HealthKMSDisabled, models.HealthPendingDeletion:
	default:
		return health, detail
	}
	primary := ""
	failed := map[string]bool{}
	var regions []string
	for _, c := range checks {
		if c.Region == "" {
			continue
		}
		if primary == "" {
			primary = c.Region
		}
		if len(regions) == 0 || regions[len(regions)-1] != c.Region {
			regions = append(regions, c.Region)
		}
		if c.Required && !c.OK {
			failed[c.Region] = true
		}
	}
	if !failed[primary] {
		return health, detail
	}
	for _, c := range checks {
		// Only the primary's revocation counts: any other failure stands.
		if c.Required && !c.OK && (c.Region != primary || !revocationHealth(c.Health)) {
			return health, detail
		}
	}
	ps, err := s.ProviderSettings(ctx)
	if err != nil || ps.ReplicaFailover != FailoverRevoked {
		return health, detail
	}
	for _, r := range regions {
		if r != primary && !failed[r] {
			return models.HealthPrimaryRevoked, primaryRevokedDetail(r, revocationReason(healthErr(health)))
		}
	}
	return health, detail
}

func revocationHealth(h models.Health) bool {
	return h == models.HealthAccessDenied || h == models.HealthKMSDisabled || h == models.HealthPendingDeletion
}

// healthErr maps a revocation health back to the data plane's error, so
// both paths word the reason alike.
func healthErr(h models.Health) error {
	switch h {
	case models.HealthKMSDisabled:
		return awskms.ErrKeyDisabled
	case models.HealthPendingDeletion:
		return awskms.ErrKeyPendingDeletion
	}
	return awskms.ErrAccessDenied
}
