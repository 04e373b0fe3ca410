package awskms

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"keyport/keysvc/seal"
	"keyport/models"
)

// kekContext binds the wrapped KEK to its purpose in KMS (and CloudTrail).
var kekContext = map[string]string{"keyport:purpose": "kek"}

// LoadKMSKEK returns the 32-byte provider KEK, unwrapped with kms:Decrypt
// under the provider's KMS key keyARN. On first start it is made with
// kms:GenerateDataKey and its ciphertext stored; when several replicas start
// at once every one ends up with the KEK that was stored first. The caller
// zeroes the returned key after building its Sealer.
func LoadKMSKEK(ctx context.Context, store seal.SecretStore, clients *Clients, keyARN string) ([]byte, error) {
	a, err := ParseKeyARN("KEYPORT_KEK_KMS_KEY_ARN", keyARN)
	if err != nil {
		return nil, err
	}
	client, err := clients.Provider(ctx, a.Region)
	if err != nil {
		return nil, err
	}
	blob, err := store.GetSealedSecret(ctx, seal.KMSKEKSecret)
	if errors.Is(err, models.ErrNotFound) {
		blob, err = createKMSKEK(ctx, store, client, a.ARN)
	}
	if err != nil {
		return nil, fmt.Errorf("load kms-wrapped kek: %w", err)
	}
	out, err := client.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob, KeyId: aws.String(a.ARN), EncryptionContext: kekContext})
	if err != nil {
		return nil, fmt.Errorf("unwrap kek with %s: %w", a.ARN, ClassifyKMSError(err))
	}
	if len(out.Plaintext) != seal.KEKSize {
		clear(out.Plaintext)
		return nil, fmt.Errorf("unwrap kek: %w", seal.ErrSealedCorrupt)
	}
	return out.Plaintext, nil
}

func createKMSKEK(ctx context.Context, store seal.SecretStore, client *kms.Client, keyARN string) ([]byte, error) {
	out, err := client.GenerateDataKeyWithoutPlaintext(ctx, &kms.GenerateDataKeyWithoutPlaintextInput{
		KeyId: aws.String(keyARN), KeySpec: types.DataKeySpecAes256, EncryptionContext: kekContext})
	if err != nil {
		return nil, fmt.Errorf("generate kek with %s: %w", keyARN, ClassifyKMSError(err))
	}
	return store.PutSealedSecretIfAbsent(ctx, seal.KMSKEKSecret, out.CiphertextBlob)
}
