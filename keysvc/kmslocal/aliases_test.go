package kmslocal_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

func TestAliasLifecycle(t *testing.T) {
	srv, _ := openServer(t)
	c := anyClient(t, srv)
	k1 := createKey(t, c, nil)
	k2 := createKey(t, c, nil)
	name := "alias/tenant-1/main_key"
	if _, err := c.CreateAlias(ctx(), &kms.CreateAliasInput{AliasName: &name, TargetKeyId: k1.Arn}); err != nil {
		t.Fatal(err)
	}
	// Aliases work wherever a key id does: name and full ARN.
	aliasARN := "arn:aws:kms:" + region + ":" + tenantAcct + ":" + name
	for _, ref := range []string{name, aliasARN} {
		if got := describe(t, c, ref); *got.KeyId != *k1.KeyId {
			t.Fatalf("%s resolves to %s, want %s", ref, *got.KeyId, *k1.KeyId)
		}
	}
	blob := encrypt(t, c, name, []byte("via alias"), nil)

	if _, err := c.UpdateAlias(ctx(), &kms.UpdateAliasInput{AliasName: &name, TargetKeyId: k2.KeyId}); err != nil {
		t.Fatal(err)
	}
	if got := describe(t, c, name); *got.KeyId != *k2.KeyId {
		t.Fatalf("after UpdateAlias alias points at %s", *got.KeyId)
	}
	// Old ciphertexts name their key, not the alias.
	decrypt(t, c, blob, nil)

	list, err := c.ListAliases(ctx(), &kms.ListAliasesInput{KeyId: k2.KeyId})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Aliases) != 1 || *list.Aliases[0].AliasName != name || *list.Aliases[0].AliasArn != aliasARN || *list.Aliases[0].TargetKeyId != *k2.KeyId {
		t.Fatalf("ListAliases = %+v", list.Aliases)
	}
	if _, err := c.DeleteAlias(ctx(), &kms.DeleteAliasInput{AliasName: &name}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DescribeKey(ctx(), &kms.DescribeKeyInput{KeyId: &name})
	wantErr[*types.NotFoundException](t, err)
}

func TestAliasErrors(t *testing.T) {
	srv, _ := openServer(t)
	c := anyClient(t, srv)
	k := createKey(t, c, nil)
	if _, err := c.CreateAlias(ctx(), &kms.CreateAliasInput{AliasName: aws.String("alias/taken"), TargetKeyId: k.KeyId}); err != nil {
		t.Fatal(err)
	}
	validation := func(tb testing.TB, err error) { wantCode(tb, err, "ValidationException") }
	notAuthorized := func(tb testing.TB, err error) { wantCode(tb, err, "NotAuthorizedException") }
	tests := []struct {
		name   string
		alias  string
		target string
		check  func(testing.TB, error)
	}{
		// As AWS answers: a name outside the model's pattern fails request
		// validation; the reserved prefix is an authorization refusal.
		{"no prefix", "taken2", *k.KeyId, validation},
		{"prefix only", "alias/", *k.KeyId, validation},
		{"reserved aws prefix", "alias/aws/kms", *k.KeyId, notAuthorized},
		{"bad character", "alias/a b", *k.KeyId, validation},
		{"too long", "alias/" + strings.Repeat("a", 251), *k.KeyId, validation},
		{"exists", "alias/taken", *k.KeyId, wantErr[*types.AlreadyExistsException]},
		{"unknown key", "alias/new", "1234abcd-12ab-34cd-56ef-1234567890ab", wantErr[*types.NotFoundException]},
		{"alias as target", "alias/new", "alias/taken", func(tb testing.TB, err error) { wantCode(tb, err, "ValidationException") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.CreateAlias(ctx(), &kms.CreateAliasInput{AliasName: &tt.alias, TargetKeyId: &tt.target})
			tt.check(t, err)
		})
	}
	t.Run("update missing alias", func(t *testing.T) {
		_, err := c.UpdateAlias(ctx(), &kms.UpdateAliasInput{AliasName: aws.String("alias/none"), TargetKeyId: k.KeyId})
		wantErr[*types.NotFoundException](t, err)
	})
	t.Run("delete missing alias", func(t *testing.T) {
		_, err := c.DeleteAlias(ctx(), &kms.DeleteAliasInput{AliasName: aws.String("alias/none")})
		wantErr[*types.NotFoundException](t, err)
	})
	t.Run("update and delete refuse the reserved prefix", func(t *testing.T) {
		_, err := c.UpdateAlias(ctx(), &kms.UpdateAliasInput{AliasName: aws.String("alias/aws/ebs"), TargetKeyId: k.KeyId})
		wantCode(t, err, "NotAuthorizedException")
		_, err = c.DeleteAlias(ctx(), &kms.DeleteAliasInput{AliasName: aws.String("alias/aws/ebs")})
		wantCode(t, err, "NotAuthorizedException")
	})
	t.Run("alias in another region is not found", func(t *testing.T) {
		other := kmsClient(t, srv, "us-east-1", "AKIDANY", "x")
		_, err := other.DescribeKey(ctx(), &kms.DescribeKeyInput{KeyId: aws.String("alias/taken")})
		wantErr[*types.NotFoundException](t, err)
	})
}
