package managed

import (
	"context"
	"errors"
	"strings"

	"keyport/keysvc"
	"keyport/keysvc/awskms"
	"keyport/models"
)

// StoreInput is the "new key store" form as typed.
type StoreInput struct {
	Name         string
	ConnectionID string
	Region       string // empty: the connection's default region
}

// StoreSummary is a store with its keys counted by state.
type StoreSummary struct {
	Store  models.KeyStore
	Counts map[string]int
	Keys   []models.StoreKey
}

// CreateStore records a key store bound to one of the tenant's connections
// and a region the provider allows.
func (s *Service) CreateStore(ctx context.Context, tenantID string, by keysvc.RequestBy, in StoreInput) (*models.KeyStore, error) {
	// Every field is checked before any is refused: the form shows all
	// its errors at once.
	var errs models.ValidationErrors
	if _, err := models.ValidateName("name", in.Name, 100); err != nil {
		var ve *models.ValidationError
		if !errors.As(err, &ve) {
			return nil, err
		}
		errs = append(errs, ve)
	}
	region := strings.TrimSpace(in.Region)
	mc, err := s.db.GetConnection(ctx, tenantID, in.ConnectionID)
	switch {
	case errors.Is(err, models.ErrNotFound):
		errs = append(errs, &keysvc.ValidationError{Field: "connection_id", Message: "choose one of your AWS connections"})
	case err != nil:
		return nil, err
	case region == "":
		region = mc.DefaultRegion
	}
	ps, err := s.keys.ProviderSettings(ctx)
	if err != nil {
		return nil, err
	}
	switch {
	case region != "" && !awskms.KnownRegion(region):
		errs = append(errs, &keysvc.ValidationError{Field: "region", Message: "is not an AWS region: choose one from the list"})
	case region != "" && !ps.RegionAllowed(region):
		errs = append(errs, &keysvc.ValidationError{Field: "region", Message: "is not one of the regions your provider allows: choose one from the list"})
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	st := &models.KeyStore{TenantID: tenantID, ConnectionID: mc.ID, Region: region, Name: in.Name, CreatedBy: by.UserID}
	err = s.db.CreateKeyStore(ctx, st, by.Audit("key_store.created", map[string]string{"name": strings.TrimSpace(in.Name),
		"connection_id": mc.ID, "region": region}))
	return st, storeErr(err)
}

// RenameStore renames a tenant's key store.
func (s *Service) RenameStore(ctx context.Context, tenantID string, by keysvc.RequestBy, id, name string) error {
	err := s.db.RenameKeyStore(ctx, tenantID, id, name, by.Audit("key_store.renamed", map[string]string{"name": strings.TrimSpace(name)}))
	return storeErr(err)
}

// DeleteStore deletes a key store whose keys are all DELETED; otherwise
// the *models.StoreNotEmptyError names the keys in the way.
func (s *Service) DeleteStore(ctx context.Context, tenantID string, by keysvc.RequestBy, id string) error {
	return s.db.DeleteKeyStore(ctx, tenantID, id, by.Audit("key_store.deleted", nil))
}

// Stores lists a tenant's key stores with their keys counted by state.
func (s *Service) Stores(ctx context.Context, tenantID string) ([]StoreSummary, error) {
	sts, err := s.db.ListKeyStores(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	keys, err := s.db.StoreKeys(ctx, tenantID, "")
	if err != nil {
		return nil, err
	}
	out := make([]StoreSummary, len(sts))
	for i, st := range sts {
		out[i] = StoreSummary{Store: st, Counts: map[string]int{}}
		for _, k := range keys {
			if k.StoreID == st.ID {
				out[i].Counts[k.State]++
				out[i].Keys = append(out[i].Keys, k)
			}
		}
	}
	return out, nil
}

// storeErr turns the store's validation errors (a name in use is
// models.ErrNameTaken) into the form's.
func storeErr(err error) error {
	var ve *models.ValidationError
	if errors.As(err, &ve) {
		return &keysvc.ValidationError{Field: ve.Field, Message: ve.Message}
	}
	return err
}
