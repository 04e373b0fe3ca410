package keysvc

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"keyport/models"
)

// Deregistration is what deregistering a customer-managed key ends: the
// data-key versions that depend on it (data encrypted under them can no
// longer be decrypted through keyport) and the KMS keys, which stay in the
// tenant's account.
type Deregistration struct {
	Key      *models.Key
	Versions []models.DataKeyVersion
	Regions  []models.KeyRegion
}

// PrepareDeregister reads what deregistering a customer-managed key would
// end, for the confirmation page.
func (s *Service) PrepareDeregister(ctx context.Context, tenantID, keyID string) (*Deregistration, error) {
	k, err := s.db.GetKey(ctx, tenantID, keyID)
	if err != nil {
		return nil, err
	}
	if k.Mode != models.ModeCMK {
		return nil, &ValidationError{Field: "key", Message: "only a customer-managed key you registered can be deregistered; a key keyport made is deleted instead"}
	}
	if k.State == models.StateDeleted {
		return nil, &ValidationError{Field: "key", Message: "this key is no longer registered"}
	}
	vs, err := s.db.DataKeyVersions(ctx, tenantID, keyID)
	if err != nil {
		return nil, err
	}
	rs, err := s.db.KeyRegions(ctx, tenantID, keyID)
	if err != nil {
		return nil, err
	}
	return &Deregistration{Key: k, Versions: vs, Regions: rs}, nil
}

// DeregisterKey ends keyport's use of a customer-managed key the tenant
// registered: confirmName must be the key's name. The key becomes DELETED
// in keyport at once on every replica (new revision and cache epoch; this
// replica drops its cached data keys now), with a key.deregistered audit
// event naming its KMS keys and data-key versions. No KMS call is made:
// the key stays in the tenant's KMS, and its connection can be deleted
// afterwards. Its history stays for the audit log and reports.
func (s *Service) DeregisterKey(ctx context.Context, tenantID string, by RequestBy, keyID, confirmName string) (*models.Key, error) {
	d, err := s.PrepareDeregister(ctx, tenantID, keyID)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(confirmName) != d.Key.Name {
		return nil, &ValidationError{Field: "confirm_name", Message: "type the key's name exactly, " + d.Key.Name + ", to confirm"}
	}
	arns := make([]string, 0, len(d.Regions))
	for _, r := range d.Regions {
		arns = append(arns, r.KMSKeyARN)
	}
	details := map[string]string{"name": d.Key.Name, "kms_keys": strings.Join(arns, " "), "connection_id": d.Key.ConnectionID,
		"data_key_versions": strconv.Itoa(len(d.Versions)), "kms": "not called: the key stays in the tenant's KMS"}
	if n := len(d.Versions); n > 0 {
		details["versions"] = strconv.FormatInt(d.Versions[n-1].Version, 10) + "-" + strconv.FormatInt(d.Versions[0].Version, 10) // newest first
	}
	k, err := s.db.DeregisterKey(ctx, tenantID, keyID, by.Audit("key.deregistered", details))
	if errors.Is(err, models.ErrConflict) {
		return nil, &ValidationError{Field: "key", Message: "this key is no longer registered"}
	}
	if err != nil {
		return nil, err
	}
	s.dp.keys.apply(k)
	s.dp.cache.Purge(tenantID, keyID)
	return k, nil
}
