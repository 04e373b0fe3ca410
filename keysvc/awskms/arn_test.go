package awskms

import (
	"errors"
	"keyport/models"
	"strings"
	"testing"
)

func TestParseKeyARN(t *testing.T) {
	const uuid = "1234abcd-12ab-34cd-56ef-1234567890ab"
	const mrk = "mrk-1234abcd12ab34cd56ef1234567890ab"
	tests := []struct {
		in      string
		want    KeyARN
		wantErr string
	}{
		{in: "arn:aws:kms:us-east-1:111122223333:key/" + uuid, want: KeyARN{Region: "us-east-1", Account: "111122223333", KeyID: uuid}},
		{in: "  arn:aws:kms:eu-west-1:111122223333:key/" + mrk + "\n", want: KeyARN{Region: "eu-west-1", Account: "111122223333", KeyID: mrk}},
		{in: "arn:aws:kms:us-west-2:111122223333:alias/orders/prod", want: KeyARN{Region: "us-west-2", Account: "111122223333", Alias: "orders/prod"}},
		{in: "", wantErr: "is required"},
		{in: "1234abcd-12ab-34cd-56ef-1234567890ab", wantErr: "not an ARN"},
		{in: "arn:aws:kms:us-east-1:111122223333", wantErr: "not an ARN"},
		{in: "arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/" + uuid, wantErr: "GovCloud"},
		{in: "arn:aws-cn:kms:cn-north-1:111122223333:key/" + uuid, wantErr: "China"},
		{in: "arn:aws-iso:kms:us-iso-east-1:111122223333:key/" + uuid, wantErr: "separate AWS partition"},
		{in: "arn:azure:kms:us-east-1:111122223333:key/" + uuid, wantErr: "must start with arn:aws:kms:"},
		{in: "arn:aws:s3:us-east-1:111122223333:key/" + uuid, wantErr: `another AWS service than KMS ("s3")`},
		{in: "arn:aws:kms::111122223333:key/" + uuid, wantErr: "has no region"},
		{in: "arn:aws:kms:us-gov-west-1:111122223333:key/" + uuid, wantErr: `region ("us-gov-west-1") that is not a known`},
		{in: "arn:aws:kms:<script>:111122223333:key/" + uuid, wantErr: "a region that is not a known"},
		{in: "arn:aws:kms:us-east-1:11112222333:key/" + uuid, wantErr: "12-digit"},
		{in: "arn:aws:kms:us-east-1:11112222333x:key/" + uuid, wantErr: "12-digit"},
		{in: "arn:aws:kms:us-east-1:111122223333:key/" + strings.ToUpper(uuid), wantErr: "neither a key uuid"},
		{in: "arn:aws:kms:us-east-1:111122223333:key/mrk-123", wantErr: "multi-region id"},
		{in: "arn:aws:kms:us-east-1:111122223333:key/", wantErr: "neither a key uuid"},
		{in: "arn:aws:kms:us-east-1:111122223333:alias/aws/s3", wantErr: "AWS managed key"},
		{in: "arn:aws:kms:us-east-1:111122223333:alias/bad name", wantErr: "characters KMS does not allow"},
		{in: "arn:aws:kms:us-east-1:111122223333:grant/abc", wantErr: "must name a key"},
		{in: "arn:aws:kms:us-east-1:111122223333:key/" + strings.Repeat("a", 3000), wantErr: "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseKeyARN("key_arn", tt.in)
			if tt.wantErr != "" {
				var ve *models.ValidationError
				if !errors.As(err, &ve) || ve.Field != "key_arn" || !strings.Contains(ve.Message, tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(ve.Message, "<script>") {
					t.Error("message reflects raw input")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.want.ARN = strings.TrimSpace(tt.in)
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if got.MultiRegion() != strings.HasPrefix(got.KeyID, "mrk-") || got.IsAlias() != (got.Alias != "") {
				t.Error("helpers disagree")
			}
		})
	}
}

func TestParseRoleARN(t *testing.T) {
	for in, want := range map[string]string{
		"arn:aws:iam::111122223333:role/keyport-access":    "",
		"arn:aws:iam::111122223333:role/path/to/keyport":   "",
		"arn:aws-us-gov:iam::111122223333:role/keyport":    "GovCloud",
		"arn:aws-cn:iam::111122223333:role/keyport":        "China",
		"arn:aws:iam::111122223333:user/keyport":           "must name a role",
		"arn:aws:iam:us-east-1:111122223333:role/keyport":  "IAM role ARN",
		"arn:aws:sts::111122223333:assumed-role/keyport/x": "IAM role ARN",
		"arn:aws:iam::1111:role/keyport":                   "12-digit",
		"":                                                 "required",
		"arn:aws:iam::111122223333:role/has space":         "must name a role",
	} {
		acct, err := ParseRoleARN("role_arn", in)
		if want == "" {
			if err != nil || acct != "111122223333" {
				t.Errorf("%s: %q, %v", in, acct, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", in, err, want)
		}
	}
}

func FuzzParseKeyARN(f *testing.F) {
	for _, s := range []string{
		"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		"arn:aws:kms:us-east-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab",
		"arn:aws:kms:us-east-1:111122223333:alias/x",
		"arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/x",
		"arn:::::", "arn", ":", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseKeyARN("key_arn", s)
		if err != nil {
			var ve *models.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error is not a ValidationError: %v", err)
			}
			return
		}
		if !KnownRegion(a.Region) || !ValidAccountID(a.Account) || (a.KeyID == "") == (a.Alias == "") {
			t.Fatalf("accepted a bad ARN: %q -> %+v", s, a)
		}
		if !strings.HasPrefix(a.ARN, "arn:aws:kms:"+a.Region+":"+a.Account+":") {
			t.Fatalf("parsed parts do not match the ARN: %q", s)
		}
	})
}
