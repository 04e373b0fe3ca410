package awskms

import (
	"errors"
	"keyport/models"
	"strings"
	"testing"
)

// maxReflected bounds a validation message: messages quote at most a
// short plain word of the input, never the input itself.
const maxReflected = 400

// FuzzParseAliasARN drives ParseKeyARN with alias-shaped input (key ARNs
// have FuzzParseKeyARN): an accepted alias is one KMS allows and not an
// AWS managed one, and a refusal is a short ValidationError that does not
// echo what was typed.
func FuzzParseAliasARN(f *testing.F) {
	for _, s := range []string{
		"arn:aws:kms:eu-west-1:111122223333:alias/orders",
		"arn:aws:kms:eu-west-1:111122223333:alias/aws/ebs",
		"arn:aws:kms:eu-west-1:111122223333:alias/a/b_c-d",
		"arn:aws:kms:eu-west-1:111122223333:alias/",
		"arn:aws:kms:eu-west-1:111122223333:alias/<script>",
		"arn:aws-cn:kms:cn-north-1:111122223333:alias/x",
		" arn:aws:kms:eu-west-1:111122223333:alias/x ",
		"arn:aws:kms:eu-west-1:11112222333:alias/x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseKeyARN("key_arn", s)
		if err != nil {
			checkRefusal(t, s, err)
			return
		}
		if a.IsAlias() && (strings.HasPrefix(a.Alias, "aws/") || !aliasNameRE.MatchString(a.Alias) || !strings.HasSuffix(a.ARN, ":alias/"+a.Alias)) {
			t.Fatalf("accepted a bad alias: %q -> %+v", s, a)
		}
	})
}

// FuzzParseRoleARN: an accepted role ARN yields a 12-digit account that is
// the one in the ARN; a refusal is a short ValidationError.
func FuzzParseRoleARN(f *testing.F) {
	for _, s := range []string{
		"arn:aws:iam::111122223333:role/keyport-access",
		"arn:aws:iam::111122223333:role/path/to/role+=,.@-",
		"arn:aws:iam::111122223333:user/bob",
		"arn:aws:iam:eu-west-1:111122223333:role/x",
		"arn:aws-us-gov:iam::111122223333:role/x",
		"arn:aws:sts::111122223333:assumed-role/x/y",
		"arn:aws:iam::111122223333:role/", "arn:::::", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		acct, err := ParseRoleARN("role_arn", s)
		if err != nil {
			checkRefusal(t, s, err)
			return
		}
		if !ValidAccountID(acct) || !strings.Contains(s, ":"+acct+":role/") {
			t.Fatalf("accepted %q with account %q", s, acct)
		}
	})
}

func checkRefusal(t testing.TB, in string, err error) {
	t.Helper()
	var ve *models.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("%q: error is not a ValidationError: %v", in, err)
	}
	if len(ve.Message) > maxReflected {
		t.Fatalf("%q: %d-byte message", in, len(ve.Message))
	}
	if trimmed := strings.TrimSpace(in); len(trimmed) > 40 && strings.Contains(ve.Message, trimmed) && !ownExample(trimmed) {
		t.Fatalf("the message echoes the input: %q", ve.Message)
	}
}

// ownExample reports whether s is part of an example ARN that keyport's
// messages show (arn.go): input that happens to match keyport's own words
// is not an echo of what was typed.
func ownExample(s string) bool {
	for _, ex := range []string{
		"arn:aws:iam::111122223333:role/keyport-access",
		"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		"arn:aws:kms:REGION:ACCOUNT:key/KEY-ID",
		"arn:aws:kms:REGION:ACCOUNT:alias/NAME",
		"arn:aws:iam::ACCOUNT:role/NAME",
	} {
		if strings.Contains(ex, s) {
			return true
		}
	}
	return false
}
