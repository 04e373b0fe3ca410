package keysvc

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"keyport/keysvc/awskms"
)

// CheckDiscovery is the kind of the check of the replica regions KMS lists
// for a multi-region key.
const CheckDiscovery CheckKind = "replica_discovery"

// notGranted reports whether err is KMS refusing keyport an action (the key
// policy or IAM does not allow it), as opposed to STS refusing the role,
// the key being unusable or KMS being out of reach.
func notGranted(err error) bool {
	return err != nil && stsOperation(err) == "" && errors.Is(awskms.ClassifyKMSError(err), awskms.ErrAccessDenied)
}

// unverifiable turns c into a check keyport could not run because the
// tenant did not grant action: not a failure, and said as such.
func unverifiable(c Check, action, why string) Check {
	c.OK, c.Skipped, c.Health = true, true, ""
	c.Unverifiable = action
	c.Detail = "Not verifiable without " + action + ": " + why
	return c
}

// isMultiRegionARN reports whether a key ARN names a multi-region key (its
// id starts with mrk-, as AWS gives every multi-region key).
func isMultiRegionARN(arn string) bool {
	a, err := awskms.ParseKeyARN("key_arn", arn)
	return err == nil && strings.HasPrefix(a.KeyID, "mrk-")
}

// discoveryCheck says which replica regions KMS lists for a multi-region
// primary and whether keyport checks each; ok is false for a single-region
// key. With md nil (DescribeKey not granted) the replicas are the ones the
// tenant listed.
func discoveryCheck(md *types.KeyMetadata, primary regionKey, regions []regionKey) (Check, bool) {
	c := Check{Name: "Replica regions", Kind: CheckDiscovery, Region: primary.Region}
	var registered []string
	for _, rk := range regions[1:] {
		registered = append(registered, rk.Region)
	}
	if md == nil {
		if !isMultiRegionARN(primary.ARN) {
			return c, false
		}
		why := "keyport cannot ask KMS for this multi-region key's replicas. "
		if len(registered) == 0 {
			why += "List each replica's ARN under More regions to have keyport use and check it."
		} else {
			why += "It uses and checks the regions you listed: " + strings.Join(registered, ", ") + "."
		}
		return unverifiable(c, "kms:DescribeKey", why), true
	}
	if md.MultiRegion == nil || !*md.MultiRegion || md.MultiRegionConfiguration == nil {
		return c, false
	}
	listed := replicaRegions(md)
	var missing []string
	for _, r := range listed {
		if !slices.Contains(registered, r) {
			missing = append(missing, r)
		}
	}
	switch {
	case len(listed) == 0:
		c.OK, c.Detail = true, "A multi-region key without replicas: keyport uses "+primary.Region+" only."
	case len(missing) == 0:
		c.OK, c.Detail = true, "KMS lists replicas in "+strings.Join(listed, ", ")+"; keyport uses and checks each."
	default:
		// Advisory: a replica made after registration, or in a region the
		// provider does not allow, is not used until the key is registered
		// again with it.
		c.Detail = "KMS lists replicas in " + strings.Join(listed, ", ") + "; keyport does not use " + strings.Join(missing, ", ") + "."
	}
	return c, true
}

// replicaRegions are the replica regions DescribeKey lists, in its order.
func replicaRegions(md *types.KeyMetadata) []string {
	var out []string
	if md.MultiRegionConfiguration == nil {
		return nil
	}
	for _, r := range md.MultiRegionConfiguration.ReplicaKeys {
		if reg := aws.ToString(r.Region); reg != "" && !slices.Contains(out, reg) {
			out = append(out, reg)
		}
	}
	return out
}

// discoverReplicas adds to in.ExtraARNs the replicas KMS lists for a
// multi-region primary key that the tenant did not list itself, in the
// regions the provider allows, so that the tenant need not paste them.
// Without kms:DescribeKey nothing is discovered (the validation says so)
// and the tenant's list stands. Errors are left to the validation, which
// calls DescribeKey again and explains them.
func (s *Service) discoverReplicas(ctx context.Context, conn awskms.Connection, ps ProviderSettings, in *RegisterInput) {
	primary, err := awskms.ParseKeyARN("key_arn", in.KeyARN)
	if err != nil || primary.Account != conn.AccountID {
		return
	}
	mrk := strings.HasPrefix(primary.KeyID, "mrk-")
	if mrk {
		in.ExtraARNs = replicaARNs(primary, in.ExtraARNs)
	}
	if !mrk && !primary.IsAlias() {
		return
	}
	client, err := s.clients.KMS(ctx, conn, primary.Region)
	if err != nil {
		return
	}
	out, err := client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(primary.ARN)})
	if err != nil || out.KeyMetadata == nil || out.KeyMetadata.MultiRegionConfiguration == nil ||
		out.KeyMetadata.MultiRegionConfiguration.MultiRegionKeyType != types.MultiRegionKeyTypePrimary {
		return
	}
	listed := map[string]bool{primary.Region: true}
	for _, line := range strings.FieldsFunc(in.ExtraARNs, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' }) {
		if a, err := awskms.ParseKeyARN("extra_arns", line); err == nil {
			listed[a.Region] = true
		}
	}
	var add []string
	for _, r := range out.KeyMetadata.MultiRegionConfiguration.ReplicaKeys {
		reg, arn := aws.ToString(r.Region), aws.ToString(r.Arn)
		if listed[reg] || arn == "" || !ps.RegionAllowed(reg) || len(listed)+len(add) >= 6 {
			continue
		}
		add = append(add, arn)
	}
	if len(add) > 0 {
		in.ExtraARNs = strings.TrimSpace(in.ExtraARNs + "\n" + strings.Join(add, "\n"))
	}
}

// replicaARNs rewrites the lines of extra that name only a region into the
// ARN of the multi-region primary's replica there: a replica has the same
// mrk- id in every region, so a tenant who may not let keyport discover its
// replicas (no kms:DescribeKey) can list just their regions.
func replicaARNs(primary awskms.KeyARN, extra string) string {
	lines := strings.FieldsFunc(extra, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' })
	for i, line := range lines {
		if r := strings.TrimSpace(line); awskms.KnownRegion(r) {
			lines[i] = "arn:aws:kms:" + r + ":" + primary.Account + ":key/" + primary.KeyID
		}
	}
	return strings.Join(lines, "\n")
}
