package keysvc

// Keys whose data keys the tenant supplies (InCountry's BYOK): the tenant
// runs `aws kms generate-data-key-without-plaintext --key-id ARN
// --key-spec AES_256` itself, with or without keyport's encryption context,
// and hands keyport the CiphertextBlob. keyport then only needs kms:Decrypt
// (and kms:DescribeKey to validate): it never generates a data key for such
// a key, and a due rotation asks the tenant for the next one.

import (
	"context"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"keyport/keysvc/awskms"
	"keyport/models"
)

// ErrTenantDataKeyNeeded: the key runs on data keys its tenant supplies, so
// keyport does not make the next one; the tenant is asked to upload it.
var ErrTenantDataKeyNeeded = errors.New("keysvc: this key uses data keys its owner supplies; upload the next one on the key page")

// maxDataKeyBlob bounds an uploaded CiphertextBlob (KMS's are under 300
// bytes; the bound only stops abuse).
const maxDataKeyBlob = 6144

// decodeDataKeyBlob reads the base64 CiphertextBlob as pasted (line breaks
// and spaces allowed).
func decodeDataKeyBlob(v string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(v), ""))
	if err != nil || len(b) == 0 || len(b) > maxDataKeyBlob {
		return nil, &ValidationError{Field: "encrypted_data_key", Message: "must be the base64 CiphertextBlob printed by generate-data-key-without-plaintext"}
	}
	return b, nil
}

// openTenantDataKey asks KMS to decrypt a tenant's data key under keyport's
// encryption context and, if KMS says the ciphertext does not match it,
// without one: `generate-data-key-without-plaintext` without
// --encryption-context makes such a blob. noContext says which worked, so
// later unwraps ask the same way. The caller zeroes the plaintext.
func openTenantDataKey(ctx context.Context, client *kms.Client, keyARN string, blob []byte, ec map[string]string) (plaintext []byte, noContext bool, err error) {
	out, err := client.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob, KeyId: aws.String(keyARN), EncryptionContext: ec})
	if err == nil {
		return out.Plaintext, false, nil
	}
	if awskms.ErrorCode(err) != "InvalidCiphertextException" {
		return nil, false, err
	}
	out, err2 := client.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob, KeyId: aws.String(keyARN)})
	if err2 != nil {
		return nil, false, err // the first answer says more: the blob is not for this key and context
	}
	return out.Plaintext, true, nil
}

// wrapContext is the encryption context a wrapped data key was made under.
func wrapContext(tenantID, keyID string, w models.DataKeyWrap) map[string]string {
	if w.NoContext {
		return nil
	}
	return KMSContext(tenantID, keyID)
}

// notApplicableRoundTrip replaces the GenerateDataKey round trip for a key
// whose data keys the tenant supplies: keyport never generates one, so the
// tenant need not grant it.
func notApplicableRoundTrip(region string) Check {
	return Check{Name: "Generate data keys in " + region, Kind: CheckRoundTrip, OK: true, Skipped: true,
		Detail: "Not applicable: you supply this key's data keys, so keyport never asks KMS to generate one and needs no kms:GenerateDataKey. kms:Decrypt and kms:DescribeKey are enough."}
}

// runTenantDKChecks validates a key whose data keys the tenant supplies:
// DescribeKey per region (and the provider's replicas), the round trip
// marked not applicable, and, for a stored key, a Decrypt of the current
// data key in each region it is wrapped in. At registration current is nil:
// the data key brought with the form is checked by firstDataKey.
func (s *Service) runTenantDKChecks(ctx context.Context, tenantID, keyID string, conn awskms.Connection, regions []regionKey, ps ProviderSettings, current []models.DataKeyWrap) *validation {
	v := &validation{Resolved: map[string]string{}}
	for i, rk := range regions {
		client, err := s.clients.KMS(ctx, conn, rk.Region)
		if err != nil {
			v.Checks = append(v.Checks, Check{Name: "Key in " + rk.Region, Kind: CheckDescribe, Required: true, Health: models.HealthUnreachable, Detail: "keyport could not build a KMS client for this connection."})
			continue
		}
		md, c := describeCheck(ctx, client, conn, rk)
		v.Checks = append(v.Checks, c)
		if md == nil || !c.OK {
			continue
		}
		v.Resolved[rk.Region] = aws.ToString(md.Arn)
		if i == 0 && len(ps.ReplicaRegions) > 0 {
			v.Checks = append(v.Checks, replicaCheck(md, rk.Region, ps.ReplicaRegions))
		}
		v.Checks = append(v.Checks, notApplicableRoundTrip(rk.Region))
		for _, w := range current {
			if w.Region == rk.Region {
				v.Checks = append(v.Checks, currentDataKeyCheck(ctx, client, rk, w, wrapContext(tenantID, keyID, w)))
			}
		}
		v.Checks = append(v.Checks, policyCheck(ctx, client, aws.ToString(md.Arn), rk.Region, ActingPrincipals(conn)))
	}
	return v
}

// currentDataKeyCheck decrypts the key's current data key in one region.
func currentDataKeyCheck(ctx context.Context, client *kms.Client, rk regionKey, w models.DataKeyWrap, ec map[string]string) Check {
	c := Check{Name: "Your data key in " + rk.Region, Kind: CheckTenantDataKey, Required: true}
	out, err := client.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: w.Ciphertext, KeyId: aws.String(w.KMSKeyARN), EncryptionContext: ec})
	if err != nil {
		c.Health, c.Detail = kmsFailure(err, "kms:Decrypt", rk)
		return c
	}
	n := len(out.Plaintext)
	clear(out.Plaintext)
	if n != 32 {
		c.Health, c.Detail = models.HealthDrift, "KMS decrypted the current data key to "+strconv.Itoa(n)+" bytes, not 32."
		return c
	}
	c.OK, c.Detail = true, "The current data key (version "+strconv.FormatInt(w.Version, 10)+") decrypts in "+rk.Region+"."
	return c
}

// AddTenantDataKey makes a data key the tenant generated (base64
// CiphertextBlob, with or without keyport's encryption context) the key's
// next data-key version: KMS must decrypt it to 256 bits in the primary
// region, every other region gets a copy wrapped under keyport's context,
// and every copy must decrypt in its region before the version becomes
// current. Only keys registered with a tenant data key take one; each is
// audited as key.data_key_uploaded.
func (s *Service) AddTenantDataKey(ctx context.Context, tenantID, keyID string, by RequestBy, encrypted string) (int64, error) {
	k, err := s.db.GetKey(ctx, tenantID, keyID)
	if errors.Is(err, models.ErrNotFound) {
		return 0, ErrKeyNotFound
	}
	if err != nil {
		return 0, err
	}
	if k.Mode != models.ModeCMK || !k.TenantDataKeys {
		return 0, &ValidationError{Field: "encrypted_data_key", Message: "this key's data keys are made by keyport; rotate it instead"}
	}
	m, err := s.dp.keys.get(ctx, tenantID, keyID)
	if err != nil {
		return 0, err
	}
	if err := m.usable(); err != nil {
		return 0, err
	}
	blob, err := decodeDataKeyBlob(encrypted)
	if err != nil {
		return 0, err
	}
	regions, err := s.db.KeyRegions(ctx, tenantID, keyID)
	if err != nil || len(regions) == 0 {
		return 0, errors.Join(awskms.ErrKeyNotUsable, err)
	}
	if cur, err := s.db.DataKeyWraps(ctx, tenantID, keyID, k.CurrentVersion); err == nil {
		for _, w := range cur {
			if string(w.Ciphertext) == string(blob) {
				return 0, &ValidationError{Field: "encrypted_data_key", Message: "is the data key the key uses now; generate a new one"}
			}
		}
	}
	ec := KMSContext(tenantID, keyID)
	primary := regions[0]
	client, err := s.dp.kmsFor(ctx, tenantID, k.ConnectionID, primary.Region)
	if err != nil {
		return 0, err
	}
	pt, noContext, err := openTenantDataKey(ctx, client, primary.KMSKeyARN, blob, ec)
	if err != nil {
		return 0, &ValidationError{Field: "encrypted_data_key", Message: "KMS did not decrypt it with this key's KMS key in " + primary.Region +
			" (" + errCode(err) + "). Generate it with the command shown, for " + primary.KMSKeyARN + "."}
	}
	defer clear(pt)
	if len(pt) != 32 {
		return 0, &ValidationError{Field: "encrypted_data_key", Message: "is not a 256-bit data key; generate it with --key-spec AES_256"}
	}
	wraps := []models.DataKeyWrap{{Region: primary.Region, KMSKeyARN: primary.KMSKeyARN, Ciphertext: blob, NoContext: noContext}}
	for _, r := range regions[1:] {
		rc, err := s.dp.kmsFor(ctx, tenantID, k.ConnectionID, r.Region)
		if err != nil {
			return 0, err
		}
		enc, err := rc.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(r.KMSKeyARN), Plaintext: pt, EncryptionContext: ec})
		if err != nil {
			return 0, regionErr(r.Region, "wrap", err)
		}
		wraps = append(wraps, models.DataKeyWrap{Region: r.Region, KMSKeyARN: r.KMSKeyARN, Ciphertext: enc.CiphertextBlob})
	}
	if err := s.proveWraps(ctx, m, wraps, pt); err != nil {
		return 0, err
	}
	next := k.CurrentVersion + 1
	ctxMode := "keyport"
	if noContext {
		ctxMode = "none"
	}
	err = s.db.AddDataKeyVersion(ctx, tenantID, keyID, &models.DataKeyVersion{Version: next, Reason: "tenant", CreatedBy: by.UserID}, wraps,
		by.Audit("key.data_key_uploaded", map[string]string{"version": strconv.FormatInt(next, 10), "encryption_context": ctxMode}))
	if errors.Is(err, models.ErrConflict) {
		return 0, ErrRotationRaced
	}
	if err != nil {
		return 0, err
	}
	if k, err = s.db.GetKey(ctx, tenantID, keyID); err != nil {
		return 0, err
	}
	s.dp.keys.apply(k)
	return next, nil
}

// tenantDKKeyChecks are the checks of a stored key whose data keys the
// tenant supplies, with its current data key decrypted in every region.
func (s *Service) tenantDKKeyChecks(ctx context.Context, k *models.Key, conn awskms.Connection, regions []regionKey, ps ProviderSettings) ([]Check, error) {
	wraps, err := s.db.DataKeyWraps(ctx, k.TenantID, k.ID, k.CurrentVersion)
	if err != nil {
		return nil, err
	}
	return s.runTenantDKChecks(ctx, k.TenantID, k.ID, conn, regions, ps, wraps).Checks, nil
}
