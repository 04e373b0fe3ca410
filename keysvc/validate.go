package keysvc

import (
	"bytes"
	"context"
	"errors"
	"keyport/keysvc/awskms"
	"keyport/models"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"
)

// regionKey is one region's KMS key of a logical key.
type regionKey struct {
	Region string
	ARN    string // as registered: key or alias ARN
}

// validation is the outcome of a validation run: the checks and, per
// region, the key ARN the registered ARN resolved to.
type validation struct {
	Checks   []Check
	Resolved map[string]string
}

// OK reports whether every required check passed.
func (v *validation) OK() bool {
	return checksOK(v.Checks)
}

func checksOK(cs []Check) bool {
	for _, c := range cs {
		if c.Required && !c.OK {
			return false
		}
	}
	return true
}

// health is the health the checks mean: the first failed required
// check's, or OK.
func healthOf(cs []Check) (models.Health, string) {
	for _, c := range cs {
		if c.Required && !c.OK {
			h := c.Health
			if h == "" {
				h = models.HealthDrift
			}
			return h, c.Name + ": " + c.Detail
		}
	}
	return models.HealthOK, ""
}

// ActingPrincipals are the principals KMS sees when keyport uses a key
// through conn: the assumed role, or the IAM user of the tenant's account
// (allowed through the account root's delegation to IAM).
func ActingPrincipals(conn awskms.Connection) []string {
	if conn.Kind == awskms.KindAssumeRole {
		return []string{conn.RoleARN}
	}
	return []string{"arn:aws:iam::" + conn.AccountID + ":root"}
}

// runChecks validates a key's KMS keys: DescribeKey (enabled, symmetric,
// encrypt/decrypt, customer managed, right account), replicas when the
// provider requires them, a GenerateDataKey + Decrypt round trip under the
// key's encryption context, and a lint of the key policy when keyport may
// read it.
func (s *Service) runChecks(ctx context.Context, tenantID, keyID string, conn awskms.Connection, regions []regionKey, ps ProviderSettings) *validation {
	v := &validation{Resolved: map[string]string{}}
	for i, rk := range regions {
		client, err := s.clients.KMS(ctx, conn, rk.Region)
		if err != nil {
			v.Checks = append(v.Checks, Check{Name: "Key in " + rk.Region, Kind: CheckDescribe, Required: true, Region: rk.Region, Health: models.HealthUnreachable, Detail: "keyport could not build a KMS client for this connection."})
			continue
		}
		md, c, err := describeKMS(ctx, client, conn, rk)
		if notGranted(err) {
			// A tenant may grant only the data-key actions (ALTR's
			// policy): what DescribeKey would show is then not
			// verifiable, and the round trip below still proves use.
			c = unverifiable(c, "kms:DescribeKey", "keyport cannot read this key's state, kind or replicas. The encrypt and decrypt check proves keyport can use it.")
		}
		c.Region = rk.Region
		v.Checks = append(v.Checks, c)
		if !c.OK {
			continue
		}
		if md != nil {
			v.Resolved[rk.Region] = aws.ToString(md.Arn)
		}
		if i == 0 {
			if dc, ok := discoveryCheck(md, rk, regions); ok {
				v.Checks = append(v.Checks, dc)
			}
		}
		if i == 0 && len(ps.ReplicaRegions) > 0 {
			if md != nil {
				v.Checks = append(v.Checks, replicaCheck(md, rk.Region, ps.ReplicaRegions))
			} else {
				v.Checks = append(v.Checks, unverifiable(Check{Name: "Replicas", Kind: CheckReplicas, Required: true, Region: rk.Region}, "kms:DescribeKey",
					"Your provider requires replicas in "+strings.Join(ps.ReplicaRegions, ", ")+"; keyport cannot see the key's replicas."))
			}
		}
		rt, resolved := roundTrip(ctx, client, rk, KMSContext(tenantID, keyID))
		rt.Region = rk.Region
		v.Checks = append(v.Checks, rt)
		if _, ok := v.Resolved[rk.Region]; !ok && resolved != "" {
			v.Resolved[rk.Region] = resolved // GenerateDataKey names the key ARN an alias points at
		}
		arn := v.Resolved[rk.Region]
		if arn == "" {
			arn = rk.ARN
		}
		pc := policyCheck(ctx, client, arn, rk.Region, ActingPrincipals(conn))
		pc.Region = rk.Region
		v.Checks = append(v.Checks, pc)
	}
	return v
}

// describeCheck runs DescribeKey and judges the key's metadata.
func describeCheck(ctx context.Context, client *kms.Client, conn awskms.Connection, rk regionKey) (*types.KeyMetadata, Check) {
	md, c, _ := describeKMS(ctx, client, conn, rk)
	return md, c
}

// describeKMS is describeCheck that also returns DescribeKey's error.
func describeKMS(ctx context.Context, client *kms.Client, conn awskms.Connection, rk regionKey) (*types.KeyMetadata, Check, error) {
	c := Check{Name: "Key in " + rk.Region, Kind: CheckDescribe, Required: true}
	out, err := client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(rk.ARN)})
	if err != nil {
		c.Health, c.Detail = kmsFailure(err, "kms:DescribeKey", rk)
		return nil, c, err
	}
	md, c := judgeMetadata(out.KeyMetadata, conn, c)
	return md, c, nil
}

// judgeMetadata judges DescribeKey's answer.
func judgeMetadata(md *types.KeyMetadata, conn awskms.Connection, c Check) (*types.KeyMetadata, Check) {
	fail := func(health models.Health, detail string) (*types.KeyMetadata, Check) {
		c.Health, c.Detail = health, detail
		return md, c
	}
	if md == nil {
		return fail(models.HealthUnreachable, "KMS answered without key metadata; try again.")
	}
	if health, detail, ok := judgeKeyKind(md, conn); !ok {
		return fail(health, detail)
	}
	switch md.KeyState {
	case types.KeyStateEnabled:
	case types.KeyStateDisabled:
		return fail(models.HealthKMSDisabled, "The key is disabled in KMS. Enable it (aws kms enable-key) and check again.")
	case types.KeyStatePendingDeletion, types.KeyStatePendingReplicaDeletion:
		return fail(models.HealthPendingDeletion, "The key is scheduled for deletion. Cancel the deletion (aws kms cancel-key-deletion) and enable it, or choose another key.")
	case types.KeyStatePendingImport:
		if md.Origin == types.OriginTypeExternal && md.CurrentKeyMaterialId != nil {
			// Imported material that expired (ValidTo) or that KMS lost:
			// the same material must be imported again.
			return fail(models.HealthMaterialExpired, "The key's imported material expired or was lost in KMS. Re-upload it (keyport-managed keys: Re-upload on the key page), then check again.")
		}
		return fail(models.HealthPendingImport, "The key has no key material (origin "+string(md.Origin)+", pending import). Import the key material, then check again.")
	case types.KeyStateUnavailable:
		return fail(models.HealthUnreachable, "KMS reports the key as unavailable (its custom key store is disconnected).")
	default:
		return fail(models.HealthUnreachable, "The key is "+string(md.KeyState)+"; wait until it is Enabled and check again.")
	}
	c.OK = true
	c.Detail = "Enabled, symmetric, for encrypt and decrypt"
	if md.MultiRegion != nil && *md.MultiRegion {
		c.Detail += ", multi-region"
	}
	c.Detail += "."
	return md, c
}

// replicaCheck requires replicas of a multi-region primary in the regions
// the provider names.
func replicaCheck(md *types.KeyMetadata, region string, want []string) Check {
	c := Check{Name: "Replicas", Kind: CheckReplicas, Required: true, Health: models.HealthDrift}
	if md.MultiRegion == nil || !*md.MultiRegion || md.MultiRegionConfiguration == nil {
		c.Detail = "Your provider requires a multi-region key with replicas in " + strings.Join(want, ", ") + "; this key is single-region. Create a multi-region key (an mrk- id) and its replicas."
		return c
	}
	have := []string{}
	if p := md.MultiRegionConfiguration.PrimaryKey; p != nil {
		have = append(have, aws.ToString(p.Region))
	}
	for _, r := range md.MultiRegionConfiguration.ReplicaKeys {
		have = append(have, aws.ToString(r.Region))
	}
	var missing []string
	for _, r := range want {
		if r != region && !slices.Contains(have, r) {
			missing = append(missing, r)
		}
	}
	if len(missing) > 0 {
		c.Detail = "The key has no replica in " + strings.Join(missing, ", ") + ". Replicate it there (aws kms replicate-key) and check again."
		return c
	}
	c.OK, c.Health = true, ""
	c.Detail = "Replicas exist in " + strings.Join(want, ", ") + "."
	return c
}

// roundTripCheck generates a data key and decrypts it again, under the
// encryption context keyport will use.
func roundTripCheck(ctx context.Context, client *kms.Client, rk regionKey, ec map[string]string) Check {
	c, _ := roundTrip(ctx, client, rk, ec)
	return c
}

// roundTrip is roundTripCheck that also returns the key ARN KMS named in
// GenerateDataKey's answer (what an alias resolved to).
func roundTrip(ctx context.Context, client *kms.Client, rk regionKey, ec map[string]string) (Check, string) {
	c := Check{Name: "Encrypt and decrypt in " + rk.Region, Kind: CheckRoundTrip, Required: true}
	gen, err := client.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(rk.ARN), KeySpec: types.DataKeySpecAes256, EncryptionContext: ec})
	if err != nil {
		c.Health, c.Detail = kmsFailure(err, "kms:GenerateDataKey", rk)
		return c, ""
	}
	resolved := aws.ToString(gen.KeyId)
	defer clear(gen.Plaintext)
	dec, err := client.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: gen.CiphertextBlob, KeyId: aws.String(rk.ARN), EncryptionContext: ec})
	if err != nil {
		c.Health, c.Detail = kmsFailure(err, "kms:Decrypt", rk)
		return c, resolved
	}
	defer clear(dec.Plaintext)
	if !bytes.Equal(dec.Plaintext, gen.Plaintext) || len(dec.Plaintext) != 32 {
		c.Health, c.Detail = models.HealthDrift, "KMS decrypted a test data key to different bytes; keyport will not use this key."
		return c, resolved
	}
	c.OK, c.Detail = true, "A test data key was generated and decrypted under keyport's encryption context."
	return c, resolved
}

// policyCheck lints the key policy. It is advisory: keyport may not be
// allowed to read the policy (GetKeyPolicy is never allowed across
// accounts), and the round trip already proved the actions that matter now.
func policyCheck(ctx context.Context, client *kms.Client, keyARN, region string, principals []string) Check {
	c := Check{Name: "Key policy in " + region, Kind: CheckPolicy}
	out, err := client.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(keyARN), PolicyName: aws.String("default")})
	if err != nil {
		c.OK, c.Skipped = true, true
		c.Detail = "keyport may not read the key policy (kms:GetKeyPolicy), so it was not linted. That is fine; the checks above prove access."
		if notGranted(err) {
			c.Unverifiable = "kms:GetKeyPolicy"
		}
		return c
	}
	missing, err := LintPolicy(aws.ToString(out.Policy), principals)
	if err != nil {
		c.Detail = "keyport could not read the key policy document."
		return c
	}
	if len(missing) == 1 && missing[0] == "kms:DescribeKey" {
		c.Detail = "The key policy does not allow kms:DescribeKey to " + strings.Join(principals, ", ") + ". keyport works without it, but cannot verify the key's state, kind or replicas."
		return c
	}
	if len(missing) > 0 {
		c.Detail = "The key policy does not allow " + strings.Join(missing, ", ") + " to " + strings.Join(principals, ", ") + ". Add them with the statement below, or later operations (re-encryption, rotation) will fail."
		return c
	}
	c.OK, c.Detail = true, "The key policy allows every action keyport needs."
	return c
}

// judgeKeyKind checks who owns the key and what kind it is: in the
// connection's account, customer managed, symmetric for ENCRYPT_DECRYPT.
// The refusal names what KMS said, in words even when a field is missing.
func judgeKeyKind(md *types.KeyMetadata, conn awskms.Connection) (models.Health, string, bool) {
	switch {
	case md.AWSAccountId != nil && aws.ToString(md.AWSAccountId) != conn.AccountID:
		return models.HealthDrift, "The key belongs to account " + aws.ToString(md.AWSAccountId) + ", not to the connection's account " + conn.AccountID + ".", false
	case md.KeyManager != types.KeyManagerTypeCustomer:
		return models.HealthDrift, "This is an AWS managed key; its policy cannot grant keyport access. Create a customer managed key.", false
	case md.KeySpec != types.KeySpecSymmetricDefault || md.KeyUsage != types.KeyUsageTypeEncryptDecrypt:
		spec, usage := "of a key spec KMS did not name", "with no key usage in KMS's answer"
		if md.KeySpec != "" {
			spec = string(md.KeySpec)
		}
		if md.KeyUsage != "" {
			usage = "for " + string(md.KeyUsage)
		}
		return models.HealthDrift, "The key is " + spec + " " + usage + "; keyport needs a symmetric key (SYMMETRIC_DEFAULT) for ENCRYPT_DECRYPT.", false
	}
	return "", "", true
}

// stsOperation is the STS operation (AssumeRole) a failed call's
// credentials came from, when that is what failed: the SDK wraps it in
// the KMS operation's error, which must not read as a KMS refusal.
func stsOperation(err error) string {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if oe, ok := e.(*smithy.OperationError); ok && oe.ServiceID == "STS" {
			return oe.OperationName
		}
	}
	return ""
}

// kmsFailure explains a failed KMS call in a tenant's words, with the
// health it means.
func kmsFailure(err error, action string, rk regionKey) (health models.Health, detail string) {
	cl := awskms.ClassifyKMSError(err)
	code := errCode(err)
	if op := stsOperation(err); op != "" {
		if errors.Is(cl, awskms.ErrThrottled) || errors.Is(cl, awskms.ErrUnavailable) {
			return models.HealthUnreachable, "keyport could not reach AWS STS (sts:" + op + ", " + code + ") to get the role's credentials, so it did not reach KMS. Try again in a minute."
		}
		return models.HealthAccessDenied, "AWS STS refused sts:" + op + " (" + code + "), so keyport did not reach KMS: the role's trust policy does not allow keyport's account, " +
			"or it requires another external id than the connection's. Fix the trust policy as shown on the connection's page (Test connection checks it), then check again."
	}
	switch {
	case errors.Is(cl, awskms.ErrAccessDenied):
		return models.HealthAccessDenied, "KMS refused " + action + " (" + code + "): the key policy does not allow keyport. Add the statement below to the key policy and check again."
	case errors.Is(cl, awskms.ErrKeyDisabled):
		return models.HealthKMSDisabled, "The key is disabled in KMS. Enable it and check again."
	case errors.Is(cl, awskms.ErrKeyPendingDeletion):
		return models.HealthPendingDeletion, "The key is scheduled for deletion. Cancel the deletion and check again."
	case errors.Is(cl, awskms.ErrThrottled), errors.Is(cl, awskms.ErrUnavailable):
		return models.HealthUnreachable, "keyport could not reach KMS in " + rk.Region + " (" + code + "). Try again in a minute."
	case code == "NotFoundException":
		return models.HealthDrift, "KMS has no key or alias with this ARN in " + rk.Region + " (it may have been deleted, or the ARN is mistyped)."
	case errors.Is(cl, awskms.ErrKeyNotUsable):
		return models.HealthPendingImport, "KMS cannot use the key now (" + code + "); it may be waiting for key material."
	}
	return models.HealthDrift, "KMS refused " + action + " (" + code + ")."
}

// DescribeKMSKey is the describe check of one KMS key, as registration
// runs it: the managed-key lifecycle validates the keys it makes with it.
func DescribeKMSKey(ctx context.Context, client *kms.Client, conn awskms.Connection, region, arn string) (*types.KeyMetadata, Check) {
	return describeCheck(ctx, client, conn, regionKey{Region: region, ARN: arn})
}

// RoundTripKMSKey is the data-key round trip check of one KMS key under
// the encryption context ec.
func RoundTripKMSKey(ctx context.Context, client *kms.Client, region, arn string, ec map[string]string) Check {
	return roundTripCheck(ctx, client, regionKey{Region: region, ARN: arn}, ec)
}
