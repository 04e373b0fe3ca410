package keysvc

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"keyport/models"
)

// revokedPolicy leaves the tenant's admin in control and denies keyport's
// IAM user and role everything.
func revokedPolicy() string {
	return `{"Version":"2012-10-17","Statement":[
	{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + cpTenantAcct + `:user/admin"},"Action":"kms:*","Resource":"*"},
	{"Effect":"Deny","Principal":{"AWS":["arn:aws:iam::` + cpTenantAcct + `:user/keyport","` + cpRoleARN + `"]},"Action":"kms:*","Resource":"*"}]}`
}

func TestRegisterKeyHappyPath(t *testing.T) {
	e := newCPEnv(t)
	ctx := context.Background()
	conn := e.roleConn(t, "role", cpRoleARN)
	primary := e.createKMSKey(t, cpRegion, nil)
	dr := e.createKMSKey(t, "us-west-2", nil)
	reg, err := e.svc.RegisterKey(ctx, e.tenant.ID, e.by, RegisterInput{ConnectionID: conn.ID, Name: "orders", KeyARN: primary, ExtraARNs: dr + "\n"})
	if err != nil {
		t.Fatal(err)
	}
	k := reg.Key
	if k.State != models.StateEnabled || k.Health != models.HealthOK || k.CurrentVersion != 1 {
		t.Errorf("key = %+v", k)
	}
	for _, c := range reg.Checks {
		if !c.OK {
			t.Errorf("check failed: %+v", c)
		}
	}
	rs, _ := e.db.KeyRegions(ctx, e.tenant.ID, k.ID)
	if len(rs) != 2 || rs[0].Region != cpRegion || rs[0].KMSKeyARN != primary || rs[1].Region != "us-west-2" {
		t.Fatalf("regions = %+v", rs)
	}
	// Every region holds a wrapped copy of the same data key, under the
	// key's encryption context.
	ws, err := e.db.DataKeyWraps(ctx, e.tenant.ID, k.ID, 1)
	if err != nil || len(ws) != 2 {
		t.Fatalf("wraps = %d, %v", len(ws), err)
	}
	var plain [][]byte
	for _, w := range ws {
		out, err := e.adminIn(w.Region).Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: w.Ciphertext, EncryptionContext: KMSContext(e.tenant.ID, k.ID)})
		if err != nil {
			t.Fatalf("decrypt wrap in %s: %v", w.Region, err)
		}
		plain = append(plain, out.Plaintext)
	}
	if len(plain[0]) != 32 || string(plain[0]) != string(plain[1]) {
		t.Error("regions wrap different data keys")
	}
	v, err := e.db.LatestKeyValidation(ctx, e.tenant.ID, k.ID)
	if err != nil || !v.OK || len(Checks(v)) != len(reg.Checks) {
		t.Errorf("stored validation = %+v, %v", v, err)
	}
	if acts := e.actions(t); acts[len(acts)-1] != "key.registered" {
		t.Errorf("audit = %v", acts)
	}
}

func TestRegisterKeyRefusalsChangeNothing(t *testing.T) {
	e := newCPEnv(t)
	ctx := context.Background()
	conn := e.accessKeyConn(t, "user", cpUserAKID, cpUserSecret)
	good := e.createKMSKey(t, cpRegion, nil)
	disabled := e.createKMSKey(t, cpRegion, nil)
	if _, err := e.adminIn(cpRegion).DisableKey(ctx, &kms.DisableKeyInput{KeyId: &disabled}); err != nil {
		t.Fatal(err)
	}
	external := e.createKMSKey(t, cpRegion, &kms.CreateKeyInput{Origin: types.OriginTypeExternal})
	deleting := e.createKMSKey(t, cpRegion, nil)
	if _, err := e.adminIn(cpRegion).ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: &deleting, PendingWindowInDays: aws.Int32(7)}); err != nil {
		t.Fatal(err)
	}
	revoked := e.createKMSKey(t, cpRegion, &kms.CreateKeyInput{Policy: aws.String(revokedPolicy()), BypassPolicyLockoutSafetyCheck: true})
	keyID := strings.TrimPrefix(good[strings.Index(good, ":key/"):], ":key/")
	before := e.actions(t)

	tests := []struct {
		name   string
		in     RegisterInput
		field  string        // a *ValidationError on this field, or
		health models.Health // a *RegisterError whose failed check means this health
		words  string
	}{
		{name: "malformed arn", in: RegisterInput{KeyARN: "not-an-arn"}, field: "key_arn", words: "not an ARN"},
		{name: "govcloud arn", in: RegisterInput{KeyARN: "arn:aws-us-gov:kms:us-gov-west-1:" + cpTenantAcct + ":key/" + keyID}, field: "key_arn", words: "GovCloud"},
		{name: "china arn", in: RegisterInput{KeyARN: "arn:aws-cn:kms:cn-north-1:" + cpTenantAcct + ":key/" + keyID}, field: "key_arn", words: "China"},
		{name: "wrong account", in: RegisterInput{KeyARN: "arn:aws:kms:us-east-1:" + cpOtherAcct + ":key/" + keyID}, field: "key_arn", words: "choose the connection for that account"},
		{name: "dr region twice", in: RegisterInput{KeyARN: good, ExtraARNs: good}, field: "extra_arns", words: "twice"},
		{name: "no name", in: RegisterInput{KeyARN: good, Name: " "}, field: "name", words: "required"},
		{name: "bad data key", in: RegisterInput{KeyARN: good, EncryptedDataKey: "%%%"}, field: "encrypted_data_key", words: "base64"},
		{name: "disabled key", in: RegisterInput{KeyARN: disabled}, health: models.HealthKMSDisabled, words: "disabled"},
		{name: "external key pending import", in: RegisterInput{KeyARN: external}, health: models.HealthPendingImport, words: "Import the key material"},
		{name: "pending deletion", in: RegisterInput{KeyARN: deleting}, health: models.HealthPendingDeletion, words: "cancel-key-deletion"},
		{name: "revoked policy", in: RegisterInput{KeyARN: revoked}, health: models.HealthAccessDenied, words: "key policy does not allow keyport"},
		{name: "missing key", in: RegisterInput{KeyARN: "arn:aws:kms:us-east-1:" + cpTenantAcct + ":key/00000000-0000-0000-0000-000000000000"}, health: models.HealthDrift, words: "no key or alias"},
		{name: "foreign data key", in: RegisterInput{KeyARN: good, EncryptedDataKey: base64.StdEncoding.EncodeToString([]byte("not a kms ciphertext at all"))}, health: models.HealthDrift, words: "did not decrypt your data key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			in.ConnectionID = conn.ID
			if in.Name == "" {
				in.Name = "key " + tt.name
			}
			_, err := e.svc.RegisterKey(ctx, e.tenant.ID, e.by, in)
			var ve *ValidationError
			var re *RegisterError
			switch {
			case tt.field != "":
				if !errors.As(err, &ve) || ve.Field != tt.field || !strings.Contains(ve.Message, tt.words) {
					t.Fatalf("err = %v, want %s: %q", err, tt.field, tt.words)
				}
			case !errors.As(err, &re):
				t.Fatalf("err = %v, want a RegisterError", err)
			default:
				h, detail := healthOf(re.Checks)
				if h != tt.health || !strings.Contains(detail, tt.words) {
					t.Fatalf("health %s %q, want %s %q", h, detail, tt.health, tt.words)
				}
			}
		})
	}
	if ks, _ := e.db.ListKeys(ctx, e.tenant.ID); len(ks) != 0 {
		t.Errorf("refusals stored %d keys", len(ks))
	}
	if after := e.actions(t); len(after) != len(before) {
		t.Errorf("refusals wrote audit events: %v", after[len(before):])
	}
}

func TestRegisterWithTenantDataKey(t *testing.T) {
	e := newCPEnv(t)
	ctx := context.Background()
	conn := e.accessKeyConn(t, "user", cpUserAKID, cpUserSecret)
	arn := e.createKMSKey(t, cpRegion, nil)
	keyID := NewKeyID()
	gen := func(ec map[string]string) string {
		out, err := e.adminIn(cpRegion).GenerateDataKeyWithoutPlaintext(ctx, &kms.GenerateDataKeyWithoutPlaintextInput{
			KeyId: &arn, KeySpec: types.DataKeySpecAes256, EncryptionContext: ec})
		if err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(out.CiphertextBlob)
	}
	// Made under another key id's context: refused, nothing stored.
	_, err := e.svc.RegisterKey(ctx, e.tenant.ID, e.by, RegisterInput{ConnectionID: conn.ID, Name: "mine", KeyARN: arn, KeyID: keyID,
		EncryptedDataKey: gen(KMSContext(e.tenant.ID, NewKeyID()))})
	var re *RegisterError
	if !errors.As(err, &re) {
		t.Fatalf("data key under another context: %v", err)
	}
	// Made as shown on the page: accepted, and stored as version 1 as is.
	dk := gen(KMSContext(e.tenant.ID, keyID))
	reg, err := e.svc.RegisterKey(ctx, e.tenant.ID, e.by, RegisterInput{ConnectionID: conn.ID, Name: "mine", KeyARN: arn, KeyID: keyID, EncryptedDataKey: dk})
	if err != nil {
		t.Fatal(err)
	}
	if reg.Key.ID != keyID {
		t.Errorf("key id %s, want the reserved %s", reg.Key.ID, keyID)
	}
	ws, _ := e.db.DataKeyWraps(ctx, e.tenant.ID, keyID, 1)
	if len(ws) != 1 || base64.StdEncoding.EncodeToString(ws[0].Ciphertext) != dk {
		t.Errorf("stored wrap is not the tenant's data key")
	}
}

func TestCheckKeyTracksHealth(t *testing.T) {
	e := newCPEnv(t)
	ctx := context.Background()
	conn := e.accessKeyConn(t, "user", cpUserAKID, cpUserSecret)
	arn := e.createKMSKey(t, cpRegion, nil)
	reg, err := e.svc.RegisterKey(ctx, e.tenant.ID, e.by, RegisterInput{ConnectionID: conn.ID, Name: "k", KeyARN: arn})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.adminIn(cpRegion).DisableKey(ctx, &kms.DisableKeyInput{KeyId: &arn}); err != nil {
		t.Fatal(err)
	}
	k, checks, err := e.svc.CheckKey(ctx, e.tenant.ID, e.by, reg.Key.ID)
	if err != nil {
		t.Fatal(err)
	}
	if k.Health != models.HealthKMSDisabled || checksOK(checks) || k.CacheEpoch != reg.Key.CacheEpoch+1 {
		t.Errorf("after disable: health %s epoch %d", k.Health, k.CacheEpoch)
	}
	if _, err := e.adminIn(cpRegion).EnableKey(ctx, &kms.EnableKeyInput{KeyId: &arn}); err != nil {
		t.Fatal(err)
	}
	// The background sweep finds it healthy again, and records the change.
	e.svc.SweepOnce(ctx)
	k, _ = e.db.GetKey(ctx, e.tenant.ID, reg.Key.ID)
	if k.Health != models.HealthOK || k.HealthDetail != "" {
		t.Errorf("after enable and sweep: %s %q", k.Health, k.HealthDetail)
	}
	n := len(e.actions(t))
	e.svc.SweepOnce(ctx) // unchanged health: no new audit event
	if got := len(e.actions(t)); got != n {
		t.Errorf("unchanged sweep wrote %d events", got-n)
	}
	if _, _, err := e.svc.CheckKey(ctx, "tnt_other", e.by, reg.Key.ID); !errors.Is(err, models.ErrNotFound) {
		t.Errorf("another tenant checked the key: %v", err)
	}
}
