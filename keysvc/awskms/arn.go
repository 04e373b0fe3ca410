package awskms

import (
	"keyport/models"
	"regexp"
	"slices"
	"strings"
)

// Regions are the AWS regions of the standard partition keyport will talk
// to. Endpoints are derived from these names by the SDK; tenants never
// supply one, so a region name is the only thing they choose and it must be
// on this list.
var Regions = []string{
	"af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2",
	"ap-northeast-3", "ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2",
	"ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7",
	"ca-central-1", "ca-west-1", "eu-central-1", "eu-central-2", "eu-north-1",
	"eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3",
	"il-central-1", "me-central-1", "me-south-1", "mx-central-1", "sa-east-1",
	"us-east-1", "us-east-2", "us-west-1", "us-west-2",
}

// KnownRegion reports whether r is a region of the standard partition.
func KnownRegion(r string) bool { return slices.Contains(Regions, r) }

// KeyARN is a parsed KMS key or alias ARN of the standard partition.
type KeyARN struct {
	ARN     string // as given, trimmed
	Region  string
	Account string
	KeyID   string // uuid or mrk- id; empty for an alias
	Alias   string // alias name without "alias/"; empty for a key
}

// IsAlias reports whether the ARN names an alias rather than a key.
func (a KeyARN) IsAlias() bool { return a.Alias != "" }

// MultiRegion reports whether the ARN names a multi-region key (mrk- id).
func (a KeyARN) MultiRegion() bool { return strings.HasPrefix(a.KeyID, "mrk-") }

var (
	uuidRE      = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	mrkRE       = regexp.MustCompile(`^mrk-[0-9a-f]{32}$`)
	aliasNameRE = regexp.MustCompile(`^[a-zA-Z0-9/_-]{1,250}$`)
	accountRE   = regexp.MustCompile(`^[0-9]{12}$`)
)

// ValidAccountID reports whether s is a 12-digit AWS account id.
func ValidAccountID(s string) bool { return accountRE.MatchString(s) }

// NormalizeAccountID accepts an account id as the AWS console prints it
// (1111-2222-3333) or with spaces, and returns the 12 digits; other input
// comes back trimmed, for ValidAccountID to refuse.
func NormalizeAccountID(s string) string {
	s = strings.TrimSpace(s)
	if d := strings.NewReplacer("-", "", " ", "").Replace(s); accountRE.MatchString(d) {
		return d
	}
	return s
}

// PartitionMessage explains a refused partition, or "" for the standard one.
func PartitionMessage(p string) string {
	switch p {
	case "aws":
		return ""
	case "aws-us-gov":
		return "is in AWS GovCloud (aws-us-gov); keyport works with the standard AWS partition (arn:aws:...) only"
	case "aws-cn":
		return "is in AWS China (aws-cn); keyport works with the standard AWS partition (arn:aws:...) only"
	case "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc":
		return "is in a separate AWS partition (" + p + "); keyport works with the standard AWS partition (arn:aws:...) only"
	}
	return "must start with arn:aws:kms:"
}

// ParseKeyARN parses a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID, with
// a uuid or a multi-region mrk- id) or alias ARN
// (arn:aws:kms:REGION:ACCOUNT:alias/NAME). field names the form field for
// the *ValidationError it returns on bad input.
func ParseKeyARN(field, s string) (KeyARN, error) {
	s = strings.TrimSpace(s)
	bad := func(msg string) (KeyARN, error) { return KeyARN{}, &models.ValidationError{Field: field, Message: msg} }
	if s == "" {
		return bad("is required: paste the key's ARN from the KMS console, for example arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab")
	}
	if len(s) > 2048 {
		return bad("is too long to be a KMS ARN")
	}
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" {
		return bad("is not an ARN: it must look like arn:aws:kms:REGION:ACCOUNT:key/KEY-ID")
	}
	if msg := PartitionMessage(parts[1]); msg != "" {
		return bad(msg)
	}
	if parts[2] != "kms" {
		return bad("names another AWS service than KMS" + Quoted(parts[2]) + ": it must start with arn:aws:kms:")
	}
	region, account, res := parts[3], parts[4], parts[5]
	if region == "" {
		return bad("has no region: it must look like arn:aws:kms:REGION:ACCOUNT:key/KEY-ID")
	}
	if !KnownRegion(region) {
		return bad("names a region" + Quoted(region) + " that is not a known AWS region (for example us-east-1)")
	}
	if !ValidAccountID(account) {
		return bad("must contain the 12-digit AWS account id after the region")
	}
	out := KeyARN{ARN: s, Region: region, Account: account}
	switch {
	case strings.HasPrefix(res, "key/"):
		id := strings.TrimPrefix(res, "key/")
		if !uuidRE.MatchString(id) && !mrkRE.MatchString(id) {
			return bad("has a key id that is neither a key uuid (1234abcd-12ab-34cd-56ef-1234567890ab) nor a multi-region id (mrk- and 32 hex characters)")
		}
		out.KeyID = id
	case strings.HasPrefix(res, "alias/"):
		name := strings.TrimPrefix(res, "alias/")
		if !aliasNameRE.MatchString(name) {
			return bad("has an alias name with characters KMS does not allow (letters, digits, /, _ and - only)")
		}
		if strings.HasPrefix(name, "aws/") {
			return bad("names an AWS managed key (alias/aws/...), whose policy cannot grant keyport access: create a customer managed key")
		}
		out.Alias = name
	default:
		return bad("must name a key (…:key/KEY-ID) or an alias (…:alias/NAME)")
	}
	return out, nil
}

// ParseRoleARN checks an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME) and
// returns its account.
func ParseRoleARN(field, s string) (string, error) {
	s = strings.TrimSpace(s)
	bad := func(msg string) (string, error) { return "", &models.ValidationError{Field: field, Message: msg} }
	parts := strings.SplitN(s, ":", 6)
	if s == "" {
		return bad("is required for a role connection")
	}
	if len(parts) != 6 || parts[0] != "arn" {
		return bad("is not an ARN: it must look like arn:aws:iam::111122223333:role/keyport-access")
	}
	if msg := PartitionMessage(parts[1]); msg != "" {
		if parts[1] == "aws" || strings.HasPrefix(parts[1], "aws-") {
			return bad(strings.Replace(msg, "arn:aws:kms:", "arn:aws:iam:", 1))
		}
		return bad("must start with arn:aws:iam::")
	}
	if parts[2] != "iam" || parts[3] != "" {
		return bad("must be an IAM role ARN: arn:aws:iam::ACCOUNT:role/NAME")
	}
	if !ValidAccountID(parts[4]) {
		return bad("must contain the 12-digit AWS account id")
	}
	name, ok := strings.CutPrefix(parts[5], "role/")
	if !ok || name == "" || len(name) > 512 || !RoleNameRE.MatchString(name) {
		return bad("must name a role: arn:aws:iam::ACCOUNT:role/NAME")
	}
	return parts[4], nil
}

var RoleNameRE = regexp.MustCompile(`^[\w+=,.@/-]+$`)

var plainWordRE = regexp.MustCompile(`^[a-zA-Z0-9-]{1,40}$`)

// quoted echoes a short piece of the user's input back, as ` ("word")`,
// only when it is plain enough to show: messages stay helpful without
// reflecting arbitrary text.
func Quoted(s string) string {
	if !plainWordRE.MatchString(s) {
		return ""
	}
	return ` ("` + s + `")`
}
