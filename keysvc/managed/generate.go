package managed

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"keyport/keysvc"
	"keyport/keysvc/awskms"
	"keyport/models"
)

// CreateKeyInput is the "create a key" form: keyport makes the material
// (mode 2), or the tenant uploaded it through an import request (mode 3).
type CreateKeyInput struct {
	StoreID      string
	Name         string
	Alias        string // "alias/..." in KMS; empty: alias/keyport/<name>
	ValidDays    int    // 0: the material does not expire in KMS; else 1-365
	AutoReupload bool   // re-import the same material before it expires

	held bool // keyport keeps the material (mode 3, as the provider says): no KMS key, no alias
}

var aliasRE = regexp.MustCompile(`^alias/[a-zA-Z0-9/_-]{1,200}$`)

// DefaultAlias is the alias keyport proposes for a key name.
func DefaultAlias(name string) string {
	slug := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		case r == ' ' || r == '.':
			return '-'
		}
		return -1
	}, strings.TrimSpace(name))
	if slug == "" {
		slug = "key"
	}
	return "alias/keyport/" + slug
}

// CreateGeneratedKey creates a key with keyport-generated material (mode
// 2): 256 bits from crypto/rand, sealed at once under the provider KEK,
// its fingerprint recorded, then (as a recorded operation) an EXTERNAL
// KMS key in the store's account, the import, validation, the alias and
// data-key version 1.
func (s *Service) CreateGeneratedKey(ctx context.Context, tenantID string, by keysvc.RequestBy, in CreateKeyInput) (*OperationResult, error) {
	mat, err := s.newMaterial(by)
	if err != nil {
		return nil, err
	}
	return s.startCreate(ctx, tenantID, by, in, models.ModeGenerated, *mat)
}

// startCreate checks the input, records the key and its create operation,
// and drives the operation.
func (s *Service) startCreate(ctx context.Context, tenantID string, by keysvc.RequestBy, in CreateKeyInput, mode models.Mode, mat models.KeyMaterial) (*OperationResult, error) {
	st, err := s.db.GetKeyStore(ctx, tenantID, in.StoreID)
	if errors.Is(err, models.ErrNotFound) {
		return nil, &keysvc.ValidationError{Field: "store_id", Message: "choose one of your key stores"}
	}
	if err != nil {
		return nil, err
	}
	// Every field is checked before any is refused, so the form shows all
	// its errors at once, each at its own field.
	var errs models.ValidationErrors
	name := strings.TrimSpace(in.Name)
	if name == "" || len([]rune(name)) > 100 {
		errs = append(errs, &keysvc.ValidationError{Field: "name", Message: "is required, at most 100 characters"})
	} else if taken, err := s.db.KeyNameTaken(ctx, tenantID, name); err != nil {
		return nil, err
	} else if taken {
		errs = append(errs, models.ErrNameTaken)
	}
	if err := s.checkProviderRules(ctx, tenantID, st, in.held); err != nil {
		return nil, err
	}
	alias := strings.TrimSpace(in.Alias)
	if in.held {
		alias, in.ValidDays, in.AutoReupload = "", 0, false // nothing goes into KMS
	} else {
		// An alias the tenant left empty comes from the name: its problems
		// are the name's.
		aliasField := "alias"
		if alias == "" {
			alias, aliasField = DefaultAlias(name), "name"
		}
		aliasOK := aliasRE.MatchString(alias) && !strings.HasPrefix(alias, "alias/aws/")
		if !aliasOK && aliasField == "alias" {
			errs = append(errs, &keysvc.ValidationError{Field: "alias", Message: "must look like alias/keyport/orders: letters, digits, /, _ and -, not alias/aws/"})
		}
		if in.ValidDays < 0 || in.ValidDays > MaxValidDays {
			errs = append(errs, &keysvc.ValidationError{Field: "valid_days", Message: "must be 0 (no expiry) or 1 to 365 days"})
		}
		if aliasOK && !errsAt(errs, aliasField) {
			err := s.checkAliasFree(ctx, tenantID, st, alias)
			var ve *keysvc.ValidationError
			switch {
			case errors.As(err, &ve) && aliasField == "name":
				errs = append(errs, &keysvc.ValidationError{Field: "name", Message: "gives the alias " + alias + ", which already names a KMS key in your account; choose another name, or type an alias"})
			case errors.As(err, &ve):
				errs = append(errs, ve)
			case err != nil:
				return nil, err
			}
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	nk := &models.NewManagedKey{
		Key:      models.Key{TenantID: tenantID, ConnectionID: st.ConnectionID, Name: name, Mode: mode, CreatedBy: by.UserID},
		Managed:  models.ManagedKey{StoreID: st.ID, AliasName: alias, ValidDays: in.ValidDays, AutoReupload: in.AutoReupload, Held: in.held},
		Material: mat,
		Op:       models.KeyOperation{Kind: models.OpCreate, Step: stepStart, Actor: by.UserID},
	}
	audit := by.Audit("key.create_started", map[string]string{"name": name, "store_id": st.ID, "alias": alias, "mode": string(mode),
		"fingerprint": mat.Fingerprint, "valid_days": strconv.Itoa(in.ValidDays), "held": strconv.FormatBool(in.held)})
	if err := s.db.StartManagedKey(ctx, nk, audit); err != nil {
		return nil, err // a name in use is models.ErrNameTaken
	}
	return s.drive(ctx, &nk.Op)
}

// checkProviderRules applies the provider's settings to a key keyport is
// about to make, as registration does to a key the tenant brings: one key
// per tenant, the store's region still allowed, and the replica and DR
// regions, which a keyport-made key (one single-region KMS key) cannot
// satisfy. A held key has no KMS key, so only the first applies to it.
func (s *Service) checkProviderRules(ctx context.Context, tenantID string, st *models.KeyStore, held bool) error {
	ps, err := s.keys.ProviderSettings(ctx)
	if err != nil {
		return err
	}
	if ps.OneKeyPerTenant {
		keys, err := s.db.ListKeys(ctx, tenantID)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if k.State != models.StateDeleted {
				return &keysvc.ValidationError{Field: "name", Message: "your provider allows one key per tenant, and this tenant has one already (" + k.Name + ")"}
			}
		}
	}
	if held {
		return nil
	}
	if !ps.RegionAllowed(st.Region) {
		return &keysvc.ValidationError{Field: "name", Message: "cannot be created here: the store is in " + st.Region + ", which your provider no longer allows (allowed: " + strings.Join(ps.AllowedRegions, ", ") + ")"}
	}
	if len(ps.ReplicaRegions) > 0 {
		return &keysvc.ValidationError{Field: "name", Message: "cannot be created: your provider requires multi-region keys with replicas in " + strings.Join(ps.ReplicaRegions, ", ") +
			"; keyport makes single-region keys: register a multi-region key of your own instead"}
	}
	if ps.DRRegions > 0 {
		return &keysvc.ValidationError{Field: "name", Message: "cannot be created: your provider requires keys in at least " + strconv.Itoa(ps.DRRegions) +
			" region(s) besides the primary; keyport makes keys in the store's region only: register keys of your own in each region instead"}
	}
	return nil
}

// checkAliasFree refuses an alias that already names a key in the store's
// account and region: keyport never takes over an alias it did not make.
// errsAt reports whether errs already has an error at field.
func errsAt(errs models.ValidationErrors, field string) bool {
	for _, e := range errs {
		if e.Field == field {
			return true
		}
	}
	return false
}

func (s *Service) checkAliasFree(ctx context.Context, tenantID string, st *models.KeyStore, alias string) error {
	_, client, err := s.storeKMS(ctx, tenantID, st)
	if err != nil {
		return err
	}
	_, err = client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(alias)})
	switch {
	case err == nil:
		return &keysvc.ValidationError{Field: "alias", Message: "already names a KMS key in your account; choose another alias"}
	case awskms.ErrorCode(err) == "NotFoundException":
		return nil
	}
	return awskms.ClassifyKMSError(err)
}
