package keysvc

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"keyport/models"
)

// TestTenantDataKeyWithoutContext: a data key made with no encryption
// context registers (recorded per wrap: the primary's without context, the
// other region's copy under keyport's), encrypts and decrypts after a
// purge, is never replaced by a keyport-made one, and takes the tenant's
// next data key only if it is one; a key from another KMS key is refused
// with nothing stored.
func TestTenantDataKeyWithoutContext(t *testing.T) {
	e := newCPEnv(t)
	ctx := context.Background()
	conn := e.accessKeyConn(t, "user", cpUserAKID, cpUserSecret)
	arn, dr := e.createKMSKey(t, cpRegion, nil), e.createKMSKey(t, "eu-west-1", nil)
	gen := func(key string) string {
		out, err := e.adminIn(strings.Split(key, ":")[3]).GenerateDataKeyWithoutPlaintext(ctx, &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: &key, KeySpec: types.DataKeySpecAes256})
		if err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(out.CiphertextBlob)
	}
	reg, err := e.svc.RegisterKey(ctx, e.tenant.ID, e.by, RegisterInput{ConnectionID: conn.ID, Name: "mine", KeyARN: arn, ExtraARNs: dr, EncryptedDataKey: gen(arn)})
	if err != nil {
		t.Fatal(err)
	}
	if !reg.Key.TenantDataKeys {
		t.Error("the key is not marked as running on the tenant's data keys")
	}
	ws, _ := e.db.DataKeyWraps(ctx, e.tenant.ID, reg.Key.ID, 1)
	if len(ws) != 2 || !ws[0].NoContext || ws[1].NoContext {
		t.Fatalf("wraps: %+v", ws)
	}
	enc, err := e.svc.Encrypt(ctx, e.tenant.ID, reg.Key.ID, []byte("hello"), map[string]string{"f": "1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Purge(ctx, e.tenant.ID, reg.Key.ID, "test"); err != nil {
		t.Fatal(err)
	}
	if dec, err := e.svc.Decrypt(ctx, e.tenant.ID, enc.Ciphertext, map[string]string{"f": "1"}); err != nil || string(dec.Plaintext) != "hello" {
		t.Fatalf("decrypt after purge: %v", err)
	}
	if _, err := e.svc.RotateDataKey(ctx, e.tenant.ID, reg.Key.ID, "system", "scheduled"); !errors.Is(err, ErrTenantDataKeyNeeded) {
		t.Errorf("rotation of a tenant-supplied data key: %v", err)
	}
	// Another KMS key's data key: refused, nothing stored.
	_, err = e.svc.AddTenantDataKey(ctx, e.tenant.ID, reg.Key.ID, e.by, gen(dr))
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Field != "encrypted_data_key" || !strings.Contains(ve.Message, "did not decrypt it") {
		t.Errorf("a data key of another KMS key: %v", err)
	}
	v, err := e.svc.AddTenantDataKey(ctx, e.tenant.ID, reg.Key.ID, e.by, gen(arn))
	if err != nil || v != 2 {
		t.Fatalf("upload: %d %v", v, err)
	}
	if ws, _ = e.db.DataKeyWraps(ctx, e.tenant.ID, reg.Key.ID, 2); len(ws) != 2 || !ws[0].NoContext || ws[1].NoContext {
		t.Fatalf("version 2 wraps: %+v", ws)
	}
	if dec, err := e.svc.Decrypt(ctx, e.tenant.ID, enc.Ciphertext, map[string]string{"f": "1"}); err != nil || string(dec.Plaintext) != "hello" {
		t.Errorf("version 1 after the upload: %v", err)
	}
	k, checks, err := e.svc.CheckKey(ctx, e.tenant.ID, e.by, reg.Key.ID)
	if err != nil || k.Health != models.HealthOK {
		t.Fatalf("check: %v %s %q", err, k.Health, k.HealthDetail)
	}
	n := 0
	for _, c := range checks {
		if c.Kind == CheckTenantDataKey && c.OK {
			n++
		}
	}
	if n != 2 {
		t.Errorf("the current data key was checked in %d regions, want 2: %+v", n, checks)
	}
	// A key whose data keys keyport makes takes no upload.
	other, err := e.svc.RegisterKey(ctx, e.tenant.ID, e.by, RegisterInput{ConnectionID: conn.ID, Name: "theirs", KeyARN: e.createKMSKey(t, cpRegion, nil)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.AddTenantDataKey(ctx, e.tenant.ID, other.Key.ID, e.by, gen(arn)); !errors.As(err, &ve) {
		t.Errorf("upload to a keyport-made key: %v", err)
	}
}
