package web_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"keyport/keysvc"
)

// tenantDataKeyKey gives the matrix a key of tenant A whose data keys the
// tenant supplies (registered with a blob made without an encryption
// context) and a fresh blob for the form: one key per permitted cell, one
// shared by the refused cells.
func tenantDataKeyKey(t *testing.T, w *matrixWorld, p persona, params map[string]string, form url.Values) {
	t.Helper()
	ctx := context.Background()
	admin := kms.NewFromConfig(w.s.KMS.AWSConfig(awsRegion, awsAdminAKID, awsAdminSecret))
	arn := w.s.tenantKMSKey(t, "")
	blob := func() string {
		out, err := admin.GenerateDataKeyWithoutPlaintext(ctx, &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: aws.String(arn), KeySpec: types.DataKeySpecAes256})
		if err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(out.CiphertextBlob)
	}
	cs, err := w.s.DB.ListConnections(ctx, w.tenantA)
	if err != nil || len(cs) == 0 {
		t.Fatalf("tenant A's connection: %v", err)
	}
	w.seq++
	reg, err := w.s.Keys.RegisterKey(ctx, w.tenantA, w.byOwner(), keysvc.RegisterInput{ConnectionID: cs[0].ID,
		Name: fmt.Sprintf("matrix tenant data key %d", w.seq), KeyARN: arn, EncryptedDataKey: blob()})
	if err != nil {
		t.Fatalf("register a key with a tenant data key: %v", err)
	}
	params[":key_id"] = reg.Key.ID
	form.Set("encrypted_data_key", blob())
}
