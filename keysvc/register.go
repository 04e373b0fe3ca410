package keysvc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"keyport/keysvc/awskms"
	"keyport/models"
)

// RegisterInput is the "register a customer-managed key" form as typed.
type RegisterInput struct {
	ConnectionID string
	Name         string
	KeyARN       string // primary region: key or alias ARN
	ExtraARNs    string // one key ARN per line, each in another region, for DR
	// KeyID is the id reserved for the key when the form was shown, so the
	// tenant could make its own data key under the encryption context that
	// names it. Empty or malformed ids are replaced by a fresh one.
	KeyID string
	// EncryptedDataKey is an optional GenerateDataKeyWithoutPlaintext
	// ciphertext (base64) made by the tenant under the primary key.
	EncryptedDataKey string
}

// RegisterError is a registration refused by validation: the checks say
// which passed and which failed, and nothing was stored.
type RegisterError struct {
	Checks []Check
}

// Error names the health the first failed check means; the checks carry
// the reasons.
func (e *RegisterError) Error() string {
	h, detail := healthOf(e.Checks)
	return "keysvc: key validation failed (" + string(h) + "): " + detail
}

// Registered is a key registered with every required check passed.
type Registered struct {
	Key    *models.Key
	Checks []Check
}

var keyIDRE = regexp.MustCompile(`^key_[a-z2-7]{24}$`)

// NewKeyID reserves an id for a key about to be registered.
func NewKeyID() string { return models.NewID("key_") }

// RegisterKey validates a customer-managed key and, when every required
// check passes, records it ENABLED with data-key version 1 wrapped in every
// region. Bad input gives a *ValidationError and failed checks a
// *RegisterError; either way nothing is stored and no audit event written.
func (s *Service) RegisterKey(ctx context.Context, tenantID string, by RequestBy, in RegisterInput) (*Registered, error) {
	keyID := strings.TrimSpace(in.KeyID)
	if !keyIDRE.MatchString(keyID) {
		keyID = NewKeyID()
	}
	mc, err := s.db.GetConnection(ctx, tenantID, in.ConnectionID)
	if errors.Is(err, models.ErrNotFound) {
		return nil, &ValidationError{Field: "connection_id", Message: "choose one of your AWS connections"}
	}
	if err != nil {
		return nil, err
	}
	conn := awskms.ConnectionFromModel(mc)
	ps, err := s.ProviderSettings(ctx)
	if err != nil {
		return nil, err
	}
	s.discoverReplicas(ctx, conn, ps, &in)
	regions, err := s.checkRegisterInput(ctx, tenantID, conn, ps, in)
	if err != nil {
		return nil, err
	}
	var tenantDK []byte
	if v := strings.TrimSpace(in.EncryptedDataKey); v != "" {
		if tenantDK, err = decodeDataKeyBlob(v); err != nil {
			return nil, err
		}
	}

	var v *validation
	if tenantDK != nil {
		v = s.runTenantDKChecks(ctx, tenantID, keyID, conn, regions, ps, nil) // the tenant's data key: kms:Decrypt is all keyport needs
	} else {
		v = s.runChecks(ctx, tenantID, keyID, conn, regions, ps)
	}
	if !v.OK() {
		return nil, &RegisterError{Checks: v.Checks}
	}
	wraps, check, err := s.firstDataKey(ctx, tenantID, keyID, conn, regions, v.Resolved, tenantDK)
	if err != nil {
		return nil, err
	}
	if check != nil {
		v.Checks = append(v.Checks, *check)
		if !check.OK {
			return nil, &RegisterError{Checks: v.Checks}
		}
	}

	now := s.now()
	nk := &models.NewKey{
		Key: models.Key{ID: keyID, TenantID: tenantID, ConnectionID: conn.ID, Name: in.Name, Mode: models.ModeCMK,
			State: models.StateEnabled, Health: models.HealthOK, CreatedBy: by.UserID, ValidatedAt: &now, TenantDataKeys: tenantDK != nil},
		Version: &models.DataKeyVersion{Version: 1, Reason: "register", CreatedBy: by.UserID},
		Wraps:   wraps,
	}
	arns := make([]string, 0, len(regions))
	for i, rk := range regions {
		nk.Regions = append(nk.Regions, models.KeyRegion{Region: rk.Region, KMSKeyARN: rk.ARN, Priority: i})
		arns = append(arns, rk.ARN)
	}
	source := "generated"
	if tenantDK != nil {
		source = "tenant"
		if wraps[0].NoContext {
			source = "tenant, no encryption context"
		}
	}
	audit := by.Audit("key.registered", map[string]string{"name": strings.TrimSpace(in.Name), "connection_id": conn.ID,
		"kms_key_arns": strings.Join(arns, ","), "data_key": source})
	if err := s.db.CreateKey(ctx, nk, audit); err != nil {
		return nil, err // a name taken meanwhile is models.ErrNameTaken
	}
	s.recordValidation(ctx, tenantID, keyID, v.Checks)
	s.refreshKMSAutoRotation(ctx, tenantID, keyID)
	return &Registered{Key: &nk.Key, Checks: v.Checks}, nil
}

// checkRegisterInput checks everything that needs no KMS call and returns
// the regions, primary first.
func (s *Service) checkRegisterInput(ctx context.Context, tenantID string, conn awskms.Connection, ps ProviderSettings, in RegisterInput) ([]regionKey, error) {
	// A bad name is reported together with a bad key ARN (issue 14: every
	// error at once); the checks after the ARN need a good one.
	var bad models.ValidationErrors
	name := strings.TrimSpace(in.Name)
	if name == "" || len([]rune(name)) > 100 {
		bad = append(bad, &ValidationError{Field: "name", Message: "is required, at most 100 characters"})
	}
	// Indexed look-ups, not a pass over the tenant's keys: registering
	// costs the same at 10,000 keys as at one.
	if name != "" {
		taken, err := s.db.KeyNameTaken(ctx, tenantID, name)
		if err != nil {
			return nil, err
		}
		if taken {
			return nil, models.ErrNameTaken
		}
	}
	if ps.OneKeyPerTenant {
		live, err := s.db.TenantHasLiveKey(ctx, tenantID)
		if err != nil {
			return nil, err
		}
		if live {
			return nil, &ValidationError{Field: "key_arn", Message: "your provider allows one key per tenant, and this tenant has one already"}
		}
	}
	primary, err := awskms.ParseKeyARN("key_arn", in.KeyARN)
	var ve *ValidationError
	switch {
	case errors.As(err, &ve):
		return nil, append(bad, ve)
	case err != nil:
		return nil, err
	case len(bad) > 0:
		return nil, bad
	}
	if err := s.checkARNScope("key_arn", primary, conn, ps); err != nil {
		return nil, err
	}
	regions := []regionKey{{Region: primary.Region, ARN: primary.ARN}}
	for _, line := range strings.FieldsFunc(in.ExtraARNs, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' }) {
		if strings.TrimSpace(line) == "" {
			continue
		}
		a, err := awskms.ParseKeyARN("extra_arns", line)
		if err != nil {
			return nil, err
		}
		if err := s.checkARNScope("extra_arns", a, conn, ps); err != nil {
			return nil, err
		}
		for _, rk := range regions {
			if rk.Region == a.Region {
				return nil, &ValidationError{Field: "extra_arns", Message: "names region " + a.Region + " twice: give one key per region"}
			}
		}
		regions = append(regions, regionKey{Region: a.Region, ARN: a.ARN})
	}
	if len(regions) > 6 {
		return nil, &ValidationError{Field: "extra_arns", Message: "at most 5 regions besides the primary"}
	}
	if n := len(regions) - 1; n < ps.DRRegions {
		return nil, &ValidationError{Field: "extra_arns", Message: fmt.Sprintf("your provider requires keys in at least %d region(s) besides the primary, for disaster recovery", ps.DRRegions)}
	}
	return regions, nil
}

// checkARNScope ties an ARN to the connection's account and the provider's
// regions.
func (s *Service) checkARNScope(field string, a awskms.KeyARN, conn awskms.Connection, ps ProviderSettings) error {
	if a.Account != conn.AccountID {
		return &ValidationError{Field: field, Message: "is in account " + a.Account + ", but the chosen connection is for account " + conn.AccountID + ": choose the connection for that account"}
	}
	if !ps.RegionAllowed(a.Region) {
		return &ValidationError{Field: field, Message: "is in " + a.Region + ", which your provider does not allow (allowed: " + strings.Join(ps.AllowedRegions, ", ") + ")"}
	}
	return nil
}

// firstDataKey makes data-key version 1: the tenant's own encrypted data key
// (checked to unwrap to 32 bytes under the key's context) or a new one from
// GenerateDataKey in the primary region; then the plaintext is encrypted
// under every other region's key, so each region holds a wrapped copy. The
// plaintext is zeroed before returning. A refused tenant data key comes
// back as a failed Check.
func (s *Service) firstDataKey(ctx context.Context, tenantID, keyID string, conn awskms.Connection, regions []regionKey, resolved map[string]string, tenantDK []byte) ([]models.DataKeyWrap, *Check, error) {
	ec := KMSContext(tenantID, keyID)
	primary := regions[0]
	client, err := s.clients.KMS(ctx, conn, primary.Region)
	if err != nil {
		return nil, nil, err
	}
	var plaintext, wrapped []byte
	var check *Check
	noContext := false
	if tenantDK != nil {
		pt, noCtx, err := openTenantDataKey(ctx, client, primary.ARN, tenantDK, ec)
		check = &Check{Name: "Your data key", Kind: CheckTenantDataKey, Required: true, Health: models.HealthDrift}
		switch {
		case err != nil:
			check.Detail = "KMS did not decrypt your data key with this key, neither under the encryption context shown nor without one (" + errCode(err) + "). Generate it again with the command shown, for this key."
			return nil, check, nil
		case len(pt) != 32:
			clear(pt)
			check.Detail = "Your data key is not 256 bits. Generate it with --key-spec AES_256."
			return nil, check, nil
		}
		check.OK, check.Health, check.Detail = true, "", "Your data key decrypts to 256 bits under this key's encryption context; keyport will use it as data-key version 1."
		if noCtx {
			check.Detail = "Your data key decrypts to 256 bits under this key. It was made without an encryption context, so keyport unwraps it without one; " +
				"what keyport encrypts with it is still bound to your tenant and this key. keyport will use it as data-key version 1."
		}
		plaintext, wrapped, noContext = pt, tenantDK, noCtx
	} else if len(regions) == 1 {
		// No other region to wrap the plaintext for: KMS keeps it.
		out, err := client.GenerateDataKeyWithoutPlaintext(ctx, &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: aws.String(primary.ARN),
			KeySpec: types.DataKeySpecAes256, EncryptionContext: ec})
		if err != nil {
			return nil, nil, fmt.Errorf("generate first data key: %w", awskms.ClassifyKMSError(err))
		}
		wrapped = out.CiphertextBlob
	} else {
		out, err := client.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(primary.ARN), KeySpec: types.DataKeySpecAes256, EncryptionContext: ec})
		if err != nil {
			return nil, nil, fmt.Errorf("generate first data key: %w", awskms.ClassifyKMSError(err))
		}
		plaintext, wrapped = out.Plaintext, out.CiphertextBlob
	}
	defer clear(plaintext)
	wraps := []models.DataKeyWrap{{Region: primary.Region, KMSKeyARN: resolved[primary.Region], Ciphertext: wrapped, NoContext: noContext}}
	for _, rk := range regions[1:] {
		rc, err := s.clients.KMS(ctx, conn, rk.Region)
		if err != nil {
			return nil, nil, err
		}
		out, err := rc.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(rk.ARN), Plaintext: plaintext, EncryptionContext: ec})
		if err != nil {
			return nil, nil, fmt.Errorf("wrap first data key in %s: %w", rk.Region, awskms.ClassifyKMSError(err))
		}
		wraps = append(wraps, models.DataKeyWrap{Region: rk.Region, KMSKeyARN: resolved[rk.Region], Ciphertext: out.CiphertextBlob})
	}
	return wraps, check, nil
}

// recordValidation stores a validation run. It is a record for the key
// page; failing to write it must not undo what was validated, so errors are
// logged.
func (s *Service) recordValidation(ctx context.Context, tenantID, keyID string, checks []Check) {
	b, err := json.Marshal(checks)
	if err == nil {
		err = s.db.AddKeyValidation(ctx, &models.KeyValidation{KeyID: keyID, TenantID: tenantID, OK: checksOK(checks), Checks: string(b)})
	}
	if err == nil {
		err = s.db.PruneKeyValidations(ctx, tenantID, keyID, 50)
	}
	if err != nil {
		s.log.Warn("record key validation", "key_id", keyID, "err", err)
	}
}

// Checks decodes a stored validation's checks.
func Checks(v *models.KeyValidation) []Check {
	var cs []Check
	if v != nil {
		_ = json.Unmarshal([]byte(v.Checks), &cs) // written by recordValidation; a bad row shows no checks
	}
	return cs
}
