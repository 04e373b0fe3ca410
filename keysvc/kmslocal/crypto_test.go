package kmslocal_test

import (
	"bytes"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

func TestEncryptDecrypt(t *testing.T) {
	srv, _ := openServer(t)
	c := anyClient(t, srv)
	k := createKey(t, c, nil)
	other := createKey(t, c, nil)
	ec := map[string]string{"tenant": "t1", "key": "k1"}
	pt := []byte("the tenant's data key")
	out, err := c.Encrypt(ctx(), &kms.EncryptInput{KeyId: k.KeyId, Plaintext: pt, EncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	if *out.KeyId != *k.Arn || out.EncryptionAlgorithm != types.EncryptionAlgorithmSpecSymmetricDefault {
		t.Fatalf("Encrypt KeyId=%s alg=%s", *out.KeyId, out.EncryptionAlgorithm)
	}
	blob := out.CiphertextBlob
	if bytes.Contains(blob, pt) {
		t.Fatal("ciphertext contains the plaintext")
	}

	t.Run("round trip without KeyId", func(t *testing.T) {
		d, err := c.Decrypt(ctx(), &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: ec})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(d.Plaintext, pt) || *d.KeyId != *k.Arn || d.KeyMaterialId == nil {
			t.Fatalf("Decrypt = %q key %s", d.Plaintext, *d.KeyId)
		}
	})
	t.Run("round trip with KeyId as ARN", func(t *testing.T) {
		if _, err := c.Decrypt(ctx(), &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: ec, KeyId: k.Arn}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("context order does not matter", func(t *testing.T) {
		reordered := map[string]string{"key": "k1", "tenant": "t1"}
		if got := decrypt(t, c, blob, reordered); !bytes.Equal(got, pt) {
			t.Fatal("plaintext mismatch")
		}
	})

	flip := func(i int) []byte {
		b := bytes.Clone(blob)
		b[i] ^= 0x01
		return b
	}
	failures := []struct {
		name  string
		in    kms.DecryptInput
		check func(testing.TB, error)
	}{
		{"missing context", kms.DecryptInput{CiphertextBlob: blob}, wantErr[*types.InvalidCiphertextException]},
		{"other context value", kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: map[string]string{"tenant": "t2", "key": "k1"}}, wantErr[*types.InvalidCiphertextException]},
		{"extra context pair", kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: map[string]string{"tenant": "t1", "key": "k1", "x": "y"}}, wantErr[*types.InvalidCiphertextException]},
		{"subset of context", kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: map[string]string{"tenant": "t1"}}, wantErr[*types.InvalidCiphertextException]},
		{"tampered body", kms.DecryptInput{CiphertextBlob: flip(len(blob) - 20), EncryptionContext: ec}, wantErr[*types.InvalidCiphertextException]},
		{"tampered tag", kms.DecryptInput{CiphertextBlob: flip(len(blob) - 1), EncryptionContext: ec}, wantErr[*types.InvalidCiphertextException]},
		{"tampered header", kms.DecryptInput{CiphertextBlob: flip(1), EncryptionContext: ec}, wantErr[*types.InvalidCiphertextException]},
		{"tampered key id", kms.DecryptInput{CiphertextBlob: flip(20), EncryptionContext: ec}, wantErr[*types.InvalidCiphertextException]},
		{"truncated", kms.DecryptInput{CiphertextBlob: blob[:30], EncryptionContext: ec}, wantErr[*types.InvalidCiphertextException]},
		{"garbage", kms.DecryptInput{CiphertextBlob: []byte("not a ciphertext at all"), EncryptionContext: ec}, wantErr[*types.InvalidCiphertextException]},
		{"other KeyId", kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: ec, KeyId: other.KeyId}, wantErr[*types.IncorrectKeyException]},
		{"unknown KeyId", kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: ec, KeyId: aws.String("1234abcd-12ab-34cd-56ef-1234567890ab")}, wantErr[*types.NotFoundException]},
		{"other algorithm", kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: ec, EncryptionAlgorithm: types.EncryptionAlgorithmSpecRsaesOaepSha256}, wantErr[*types.InvalidKeyUsageException]},
	}
	for _, tt := range failures {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Decrypt(ctx(), &tt.in)
			tt.check(t, err)
		})
	}
	t.Run("other region cannot decrypt", func(t *testing.T) {
		_, err := kmsClient(t, srv, "us-east-1", "AKIDANY", "x").Decrypt(ctx(), &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: ec})
		wantErr[*types.InvalidCiphertextException](t, err)
	})
}

func TestEncryptValidation(t *testing.T) {
	srv, _ := openServer(t)
	c := anyClient(t, srv)
	k := createKey(t, c, nil)
	_, err := c.Encrypt(ctx(), &kms.EncryptInput{KeyId: k.KeyId, Plaintext: make([]byte, 4097)})
	wantCode(t, err, "ValidationException")
	if _, err := c.Encrypt(ctx(), &kms.EncryptInput{KeyId: k.KeyId, Plaintext: make([]byte, 4096)}); err != nil {
		t.Fatalf("4096-byte plaintext: %v", err)
	}
	ext := createKey(t, c, &kms.CreateKeyInput{Origin: types.OriginTypeExternal})
	_, err = c.Encrypt(ctx(), &kms.EncryptInput{KeyId: ext.KeyId, Plaintext: []byte("x")})
	wantErr[*types.KMSInvalidStateException](t, err)
}

func TestReEncrypt(t *testing.T) {
	srv, _ := openServer(t)
	c := anyClient(t, srv)
	src := createKey(t, c, nil)
	dst := createKey(t, c, nil)
	ecSrc := map[string]string{"v": "1"}
	ecDst := map[string]string{"v": "2"}
	blob := encrypt(t, c, *src.KeyId, []byte("moving"), ecSrc)
	out, err := c.ReEncrypt(ctx(), &kms.ReEncryptInput{
		CiphertextBlob: blob, SourceEncryptionContext: ecSrc,
		DestinationKeyId: dst.KeyId, DestinationEncryptionContext: ecDst,
	})
	if err != nil {
		t.Fatal(err)
	}
	if *out.SourceKeyId != *src.Arn || *out.KeyId != *dst.Arn {
		t.Fatalf("ReEncrypt source=%s dest=%s", *out.SourceKeyId, *out.KeyId)
	}
	if got := decrypt(t, c, out.CiphertextBlob, ecDst); string(got) != "moving" {
		t.Fatalf("re-encrypted plaintext = %q", got)
	}
	_, err = c.ReEncrypt(ctx(), &kms.ReEncryptInput{CiphertextBlob: blob, SourceEncryptionContext: ecDst, DestinationKeyId: dst.KeyId})
	wantErr[*types.InvalidCiphertextException](t, err)
	_, err = c.ReEncrypt(ctx(), &kms.ReEncryptInput{CiphertextBlob: blob, SourceEncryptionContext: ecSrc, SourceKeyId: dst.KeyId, DestinationKeyId: dst.KeyId})
	wantErr[*types.IncorrectKeyException](t, err)
}

func TestGenerateDataKey(t *testing.T) {
	srv, _ := openServer(t)
	c := anyClient(t, srv)
	k := createKey(t, c, nil)
	ec := map[string]string{"tenant": "t1"}
	tests := []struct {
		name    string
		spec    types.DataKeySpec
		n       *int32
		wantLen int
		wantErr bool
	}{
		{"AES_256", types.DataKeySpecAes256, nil, 32, false},
		{"AES_128", types.DataKeySpecAes128, nil, 16, false},
		{"NumberOfBytes 64", "", aws.Int32(64), 64, false},
		{"NumberOfBytes 1024", "", aws.Int32(1024), 1024, false},
		{"neither", "", nil, 0, true},
		{"both", types.DataKeySpecAes256, aws.Int32(32), 0, true},
		{"too many bytes", "", aws.Int32(1025), 0, true},
		{"zero bytes", "", aws.Int32(0), 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := c.GenerateDataKey(ctx(), &kms.GenerateDataKeyInput{KeyId: k.KeyId, KeySpec: tt.spec, NumberOfBytes: tt.n, EncryptionContext: ec})
			if tt.wantErr {
				wantCode(t, err, "ValidationException")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Plaintext) != tt.wantLen || *out.KeyId != *k.Arn {
				t.Fatalf("plaintext %d bytes, key %s", len(out.Plaintext), *out.KeyId)
			}
			if got := decrypt(t, c, out.CiphertextBlob, ec); !bytes.Equal(got, out.Plaintext) {
				t.Fatal("CiphertextBlob does not decrypt to Plaintext")
			}
		})
	}
	t.Run("without plaintext", func(t *testing.T) {
		out, err := c.GenerateDataKeyWithoutPlaintext(ctx(), &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: k.KeyId, KeySpec: types.DataKeySpecAes256, EncryptionContext: ec})
		if err != nil {
			t.Fatal(err)
		}
		if got := decrypt(t, c, out.CiphertextBlob, ec); len(got) != 32 {
			t.Fatalf("data key is %d bytes", len(got))
		}
	})
	t.Run("random", func(t *testing.T) {
		out, err := c.GenerateRandom(ctx(), &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(48)})
		if err != nil || len(out.Plaintext) != 48 {
			t.Fatalf("GenerateRandom = %d bytes, %v", len(out.Plaintext), err)
		}
	})
}
