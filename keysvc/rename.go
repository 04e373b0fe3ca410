package keysvc

import (
	"context"
	"errors"

	"keyport/models"
)

// RenameKey renames a tenant's key (audited as key.renamed with the old and
// new names); every replica's key table picks the name up by its
// revision. Names are unique in the tenant, ignoring case.
func (s *Service) RenameKey(ctx context.Context, tenantID string, by RequestBy, keyID, name string) (*models.Key, error) {
	k, err := s.db.RenameKey(ctx, tenantID, keyID, name, by.Audit("key.renamed", nil))
	if errors.Is(err, models.ErrNotFound) {
		return nil, ErrKeyNotFound
	}
	if err != nil {
		return nil, err
	}
	s.dp.keys.apply(k)
	return k, nil
}
