package keysvc

import (
	"context"
	"strconv"

	"keyport/keysvc/awskms"
	"keyport/models"
)

// CheckKey re-validates a tenant's key now ("Check now"): it runs every
// check, records them, and sets the key's health from them (ENABLED when a
// PENDING key passes). A health that means keyport must stop using the key
// (access denied, disabled, pending deletion) also drops its cached data
// keys on every replica.
func (s *Service) CheckKey(ctx context.Context, tenantID string, by RequestBy, keyID string) (*models.Key, []Check, error) {
	k, err := s.db.GetKey(ctx, tenantID, keyID)
	if err != nil {
		return nil, nil, err
	}
	checks, err := s.validateKey(ctx, k)
	if err != nil {
		return nil, nil, err
	}
	k, err = s.applyHealth(ctx, k, checks, by.Audit("key.validated", nil), true)
	return k, checks, err
}

// validateKey runs the checks of a stored key and records them.
func (s *Service) validateKey(ctx context.Context, k *models.Key) ([]Check, error) {
	rs, err := s.db.KeyRegions(ctx, k.TenantID, k.ID)
	if err != nil {
		return nil, err
	}
	var checks []Check
	if len(rs) > 0 && rs[0].Region == HeldRegion {
		checks = s.heldChecks(ctx, k) // no KMS key: no connection or provider rules to check against
	} else {
		mc, err := s.db.GetConnection(ctx, k.TenantID, k.ConnectionID)
		if err != nil {
			return nil, err
		}
		ps, err := s.ProviderSettings(ctx)
		if err != nil {
			return nil, err
		}
		regions := make([]regionKey, 0, len(rs))
		for _, r := range rs {
			regions = append(regions, regionKey{Region: r.Region, ARN: r.KMSKeyARN})
		}
		if k.TenantDataKeys {
			checks, err = s.tenantDKKeyChecks(ctx, k, awskms.ConnectionFromModel(mc), regions, ps)
			if err != nil {
				return nil, err
			}
		} else {
			checks = s.runChecks(ctx, k.TenantID, k.ID, awskms.ConnectionFromModel(mc), regions, ps).Checks
		}
		if k.Mode == models.ModeCMK {
			s.refreshKMSAutoRotation(ctx, k.TenantID, k.ID)
		}
	}
	s.recordValidation(ctx, k.TenantID, k.ID, checks)
	return checks, nil
}

// applyHealth stores the health the checks mean. always=false (the sweep)
// writes only when the health changed, so an unchanged key adds no audit
// event every interval.
func (s *Service) applyHealth(ctx context.Context, k *models.Key, checks []Check, audit models.AuditInput, always bool) (*models.Key, error) {
	health, detail := s.keyHealth(ctx, checks)
	if !always && health == k.Health && detail == k.HealthDetail {
		return k, nil
	}
	u := models.KeyUpdate{Health: &health, HealthDetail: &detail, Validated: true}
	if health == models.HealthOK && k.State == models.StatePending {
		st := models.StateEnabled
		u.State = &st
	}
	switch health {
	case models.HealthAccessDenied, models.HealthKMSDisabled, models.HealthPendingDeletion:
		u.BumpEpoch = k.Health != health // stop serving cached data keys at once
	}
	audit.Details = map[string]string{"ok": strconv.FormatBool(health == models.HealthOK), "health": string(health), "previous_health": string(k.Health)}
	return s.db.UpdateKey(ctx, k.TenantID, k.ID, u, audit)
}

// SweepOnce validates every enabled or pending customer-managed key once,
// one key at a time so a provider with many tenants does not burst KMS. The
// scheduler runs it as a job, once per KEYPORT_VALIDATION_INTERVAL across
// all replicas.
func (s *Service) SweepOnce(ctx context.Context) {
	keys, err := s.db.KeysChangedSince(ctx, 0)
	if err != nil {
		s.log.Warn("validation sweep: list keys", "err", err)
		return
	}
	for i := range keys {
		k := &keys[i]
		if ctx.Err() != nil {
			return
		}
		if k.Mode != models.ModeCMK || (k.State != models.StateEnabled && k.State != models.StatePending) {
			continue
		}
		checks, err := s.validateKey(ctx, k)
		if err == nil {
			_, err = s.applyHealth(ctx, k, checks, models.AuditInput{Action: "key.validated", Actor: "system"}, false)
		}
		if err != nil && ctx.Err() == nil {
			s.log.Warn("validation sweep", "key_id", k.ID, "err", err)
		}
	}
}
