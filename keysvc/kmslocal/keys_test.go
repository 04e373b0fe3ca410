package kmslocal_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"keyport/keysvc/kmslocal"
)

func TestCreateKeyShapes(t *testing.T) {
	srv, _ := openServer(t)
	c := anyClient(t, srv)
	tests := []struct {
		name      string
		in        kms.CreateKeyInput
		wantState types.KeyState
		wantOrig  types.OriginType
		wantMRK   bool
	}{
		{"default", kms.CreateKeyInput{Description: aws.String("tenant key")}, types.KeyStateEnabled, types.OriginTypeAwsKms, false},
		{"explicit symmetric", kms.CreateKeyInput{KeySpec: types.KeySpecSymmetricDefault, KeyUsage: types.KeyUsageTypeEncryptDecrypt}, types.KeyStateEnabled, types.OriginTypeAwsKms, false},
		{"external", kms.CreateKeyInput{Origin: types.OriginTypeExternal}, types.KeyStatePendingImport, types.OriginTypeExternal, false},
		{"multi-region", kms.CreateKeyInput{MultiRegion: aws.Bool(true)}, types.KeyStateEnabled, types.OriginTypeAwsKms, true},
		{"multi-region external", kms.CreateKeyInput{MultiRegion: aws.Bool(true), Origin: types.OriginTypeExternal}, types.KeyStatePendingImport, types.OriginTypeExternal, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md := createKey(t, c, &tt.in)
			got := describe(t, c, *md.KeyId)
			if got.KeyState != tt.wantState || got.Origin != tt.wantOrig || aws.ToBool(got.MultiRegion) != tt.wantMRK {
				t.Fatalf("state/origin/mrk = %s/%s/%v, want %s/%s/%v", got.KeyState, got.Origin, aws.ToBool(got.MultiRegion), tt.wantState, tt.wantOrig, tt.wantMRK)
			}
			wantARN := "arn:aws:kms:" + region + ":" + tenantAcct + ":key/" + *md.KeyId
			if *got.Arn != wantARN || *got.AWSAccountId != tenantAcct {
				t.Fatalf("Arn = %s, want %s", *got.Arn, wantARN)
			}
			if tt.wantMRK != strings.HasPrefix(*md.KeyId, "mrk-") || (tt.wantMRK && len(*md.KeyId) != 36) {
				t.Fatalf("key id %s does not fit MultiRegion=%v", *md.KeyId, tt.wantMRK)
			}
			if got.KeyManager != types.KeyManagerTypeCustomer || got.KeySpec != types.KeySpecSymmetricDefault || got.KeyUsage != types.KeyUsageTypeEncryptDecrypt {
				t.Fatalf("manager/spec/usage = %s/%s/%s", got.KeyManager, got.KeySpec, got.KeyUsage)
			}
			if got.Enabled != (tt.wantState == types.KeyStateEnabled) || got.CreationDate == nil || !got.CreationDate.Equal(t0) {
				t.Fatalf("Enabled=%v CreationDate=%v", got.Enabled, got.CreationDate)
			}
			if tt.wantMRK && (got.MultiRegionConfiguration == nil || got.MultiRegionConfiguration.MultiRegionKeyType != types.MultiRegionKeyTypePrimary) {
				t.Fatalf("MultiRegionConfiguration = %+v", got.MultiRegionConfiguration)
			}
		})
	}
}

func TestCreateKeyErrors(t *testing.T) {
	srv, _ := openServer(t)
	c := anyClient(t, srv)
	lockout := `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:Encrypt","Resource":"*"}]}`
	tests := []struct {
		name  string
		in    kms.CreateKeyInput
		check func(testing.TB, error)
	}{
		{"asymmetric spec", kms.CreateKeyInput{KeySpec: types.KeySpecRsa2048}, wantErr[*types.UnsupportedOperationException]},
		{"sign usage", kms.CreateKeyInput{KeyUsage: types.KeyUsageTypeSignVerify}, wantErr[*types.UnsupportedOperationException]},
		{"cloudhsm origin", kms.CreateKeyInput{Origin: types.OriginTypeAwsCloudhsm}, wantErr[*types.UnsupportedOperationException]},
		{"bad origin", kms.CreateKeyInput{Origin: "NOPE"}, func(tb testing.TB, err error) { wantCode(tb, err, "ValidationException") }},
		{"malformed policy", kms.CreateKeyInput{Policy: aws.String("{not json")}, wantErr[*types.MalformedPolicyDocumentException]},
		{"policy locks caller out", kms.CreateKeyInput{Policy: aws.String(lockout)}, wantErr[*types.MalformedPolicyDocumentException]},
		{"reserved tag", kms.CreateKeyInput{Tags: []types.Tag{{TagKey: aws.String("aws:x"), TagValue: aws.String("v")}}}, wantErr[*types.TagException]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.CreateKey(ctx(), &tt.in)
			tt.check(t, err)
		})
	}
	t.Run("lockout bypassed", func(t *testing.T) {
		if _, err := c.CreateKey(ctx(), &kms.CreateKeyInput{Policy: aws.String(lockout), BypassPolicyLockoutSafetyCheck: true}); err != nil {
			t.Fatalf("CreateKey with bypass: %v", err)
		}
	})
}

func TestKeyQuota(t *testing.T) {
	srv := startServer(t, kmslocal.Config{KeyQuota: 2})
	c := anyClient(t, srv)
	createKey(t, c, nil)
	createKey(t, c, nil)
	_, err := c.CreateKey(ctx(), &kms.CreateKeyInput{})
	wantErr[*types.LimitExceededException](t, err)
	// The quota is per Region, as in AWS.
	other := kmsClient(t, srv, "us-east-1", "AKIDANY", "x")
	createKey(t, other, nil)
}

func TestListKeysPaginates(t *testing.T) {
	srv, _ := openServer(t)
	c := anyClient(t, srv)
	want := map[string]bool{}
	for range 5 {
		want[*createKey(t, c, nil).KeyId] = true
	}
	createKey(t, kmsClient(t, srv, "us-west-2", "AKIDANY", "x"), nil) // another Region: not listed
	got := map[string]bool{}
	pages := 0
	p := kms.NewListKeysPaginator(c, &kms.ListKeysInput{Limit: aws.Int32(2)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx())
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, k := range out.Keys {
			got[*k.KeyId] = true
		}
	}
	if pages != 3 || len(got) != len(want) {
		t.Fatalf("pages=%d keys=%d, want 3 pages of 5 keys", pages, len(got))
	}
	for id := range want {
		if !got[id] {
			t.Fatalf("key %s missing from ListKeys", id)
		}
	}
}

func TestEnableDisable(t *testing.T) {
	srv, _ := openServer(t)
	c := anyClient(t, srv)
	id := *createKey(t, c, nil).KeyId
	blob := encrypt(t, c, id, []byte("x"), nil)
	if _, err := c.DisableKey(ctx(), &kms.DisableKeyInput{KeyId: &id}); err != nil {
		t.Fatal(err)
	}
	if md := describe(t, c, id); md.KeyState != types.KeyStateDisabled || md.Enabled {
		t.Fatalf("after DisableKey: %s enabled=%v", md.KeyState, md.Enabled)
	}
	_, err := c.Decrypt(ctx(), &kms.DecryptInput{CiphertextBlob: blob})
	wantErr[*types.DisabledException](t, err)
	_, err = c.Encrypt(ctx(), &kms.EncryptInput{KeyId: &id, Plaintext: []byte("x")})
	wantErr[*types.DisabledException](t, err)
	if _, err := c.EnableKey(ctx(), &kms.EnableKeyInput{KeyId: &id}); err != nil {
		t.Fatal(err)
	}
	decrypt(t, c, blob, nil)

	ext := *createKey(t, c, &kms.CreateKeyInput{Origin: types.OriginTypeExternal}).KeyId
	_, err = c.EnableKey(ctx(), &kms.EnableKeyInput{KeyId: &ext})
	wantErr[*types.KMSInvalidStateException](t, err)
	_, err = c.DisableKey(ctx(), &kms.DisableKeyInput{KeyId: aws.String("1234abcd-12ab-34cd-56ef-1234567890ab")})
	wantErr[*types.NotFoundException](t, err)
}

func TestScheduleKeyDeletion(t *testing.T) {
	srv, clock := openServer(t)
	c := anyClient(t, srv)

	t.Run("window validation", func(t *testing.T) {
		id := *createKey(t, c, nil).KeyId
		for _, days := range []int32{0, 6, 31, 365} {
			_, err := c.ScheduleKeyDeletion(ctx(), &kms.ScheduleKeyDeletionInput{KeyId: &id, PendingWindowInDays: aws.Int32(days)})
			wantCode(t, err, "ValidationException")
		}
	})

	t.Run("deleted when the window passes", func(t *testing.T) {
		id := *createKey(t, c, nil).KeyId
		blob := encrypt(t, c, id, []byte("x"), nil)
		if _, err := c.CreateAlias(ctx(), &kms.CreateAliasInput{AliasName: aws.String("alias/doomed"), TargetKeyId: &id}); err != nil {
			t.Fatal(err)
		}
		out, err := c.ScheduleKeyDeletion(ctx(), &kms.ScheduleKeyDeletionInput{KeyId: &id, PendingWindowInDays: aws.Int32(7)})
		if err != nil {
			t.Fatal(err)
		}
		wantDate := clock.Now().Add(7 * 24 * time.Hour)
		if out.KeyState != types.KeyStatePendingDeletion || !out.DeletionDate.Equal(wantDate) || aws.ToInt32(out.PendingWindowInDays) != 7 {
			t.Fatalf("ScheduleKeyDeletion = %s %v %d", out.KeyState, out.DeletionDate, aws.ToInt32(out.PendingWindowInDays))
		}
		md := describe(t, c, id)
		if md.DeletionDate == nil || !md.DeletionDate.Equal(wantDate) || aws.ToInt32(md.PendingDeletionWindowInDays) != 7 {
			t.Fatalf("DescribeKey DeletionDate=%v window=%v", md.DeletionDate, md.PendingDeletionWindowInDays)
		}
		_, err = c.Decrypt(ctx(), &kms.DecryptInput{CiphertextBlob: blob})
		wantErr[*types.KMSInvalidStateException](t, err)
		_, err = c.ScheduleKeyDeletion(ctx(), &kms.ScheduleKeyDeletionInput{KeyId: &id})
		wantErr[*types.KMSInvalidStateException](t, err)

		clock.Advance(7*24*time.Hour - time.Second)
		describe(t, c, id) // still there one second before
		clock.Advance(time.Second)
		_, err = c.DescribeKey(ctx(), &kms.DescribeKeyInput{KeyId: &id})
		wantErr[*types.NotFoundException](t, err)
		_, err = c.Decrypt(ctx(), &kms.DecryptInput{CiphertextBlob: blob})
		wantErr[*types.NotFoundException](t, err)
		_, err = c.DescribeKey(ctx(), &kms.DescribeKeyInput{KeyId: aws.String("alias/doomed")})
		wantErr[*types.NotFoundException](t, err)
	})

	t.Run("cancel leaves the key disabled", func(t *testing.T) {
		id := *createKey(t, c, nil).KeyId
		if _, err := c.ScheduleKeyDeletion(ctx(), &kms.ScheduleKeyDeletionInput{KeyId: &id}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.CancelKeyDeletion(ctx(), &kms.CancelKeyDeletionInput{KeyId: &id}); err != nil {
			t.Fatal(err)
		}
		if md := describe(t, c, id); md.KeyState != types.KeyStateDisabled || md.DeletionDate != nil {
			t.Fatalf("after cancel: %s %v", md.KeyState, md.DeletionDate)
		}
		_, err := c.CancelKeyDeletion(ctx(), &kms.CancelKeyDeletionInput{KeyId: &id})
		wantErr[*types.KMSInvalidStateException](t, err)
		clock.Advance(40 * 24 * time.Hour)
		describe(t, c, id)
	})
}

func TestTags(t *testing.T) {
	srv, _ := openServer(t)
	c := anyClient(t, srv)
	id := *createKey(t, c, &kms.CreateKeyInput{Tags: []types.Tag{{TagKey: aws.String("tenant"), TagValue: aws.String("t1")}}}).KeyId
	_, err := c.TagResource(ctx(), &kms.TagResourceInput{KeyId: &id, Tags: []types.Tag{
		{TagKey: aws.String("tenant"), TagValue: aws.String("t2")},
		{TagKey: aws.String("env"), TagValue: aws.String("dev")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.ListResourceTags(ctx(), &kms.ListResourceTagsInput{KeyId: &id})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, tg := range out.Tags {
		got[*tg.TagKey] = *tg.TagValue
	}
	if len(got) != 2 || got["tenant"] != "t2" || got["env"] != "dev" {
		t.Fatalf("tags = %v", got)
	}
	if _, err := c.UntagResource(ctx(), &kms.UntagResourceInput{KeyId: &id, TagKeys: []string{"env"}}); err != nil {
		t.Fatal(err)
	}
	out, _ = c.ListResourceTags(ctx(), &kms.ListResourceTagsInput{KeyId: &id})
	if len(out.Tags) != 1 {
		t.Fatalf("after untag: %d tags", len(out.Tags))
	}
	_, err = c.TagResource(ctx(), &kms.TagResourceInput{KeyId: &id, Tags: []types.Tag{{TagKey: aws.String(""), TagValue: aws.String("x")}}})
	if err == nil {
		t.Fatal("empty tag key accepted")
	}
}
