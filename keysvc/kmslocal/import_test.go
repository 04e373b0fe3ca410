package kmslocal_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"hash"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"keyport/keysvc/kmslocal"
	"keyport/keysvc/kwp"
)

// wrapForImport does the client side of an import the way keysvc will:
// RSA-OAEP of the material, or RSA-OAEP of a fresh AES key followed by
// AES-KWP of the material under it.
func wrapForImport(tb testing.TB, pubDER []byte, alg types.AlgorithmSpec, material []byte) []byte {
	tb.Helper()
	pub, err := x509.ParsePKIXPublicKey(pubDER)
	if err != nil {
		tb.Fatalf("parse wrapping public key: %v", err)
	}
	rsaPub, ok := pub.(*rsa.PublicKey)
	if !ok {
		tb.Fatalf("wrapping key is %T, want RSA", pub)
	}
	var h hash.Hash = sha256.New()
	if alg == types.AlgorithmSpecRsaesOaepSha1 || alg == types.AlgorithmSpecRsaAesKeyWrapSha1 {
		h = sha1.New()
	}
	switch alg {
	case types.AlgorithmSpecRsaesOaepSha1, types.AlgorithmSpecRsaesOaepSha256:
		out, err := rsa.EncryptOAEP(h, rand.Reader, rsaPub, material, nil)
		if err != nil {
			tb.Fatal(err)
		}
		return out
	default:
		aesKey := make([]byte, 32)
		if _, err := rand.Read(aesKey); err != nil {
			tb.Fatal(err)
		}
		head, err := rsa.EncryptOAEP(h, rand.Reader, rsaPub, aesKey, nil)
		if err != nil {
			tb.Fatal(err)
		}
		tail, err := kwp.Wrap(aesKey, material)
		if err != nil {
			tb.Fatal(err)
		}
		return append(head, tail...)
	}
}

func params(tb testing.TB, c *kms.Client, keyID string, spec types.WrappingKeySpec, alg types.AlgorithmSpec) *kms.GetParametersForImportOutput {
	tb.Helper()
	out, err := c.GetParametersForImport(ctx(), &kms.GetParametersForImportInput{KeyId: &keyID, WrappingKeySpec: spec, WrappingAlgorithm: alg})
	if err != nil {
		tb.Fatalf("GetParametersForImport: %v", err)
	}
	return out
}

// importMaterial runs the whole import with RSA_2048 / RSA_AES_KEY_WRAP_SHA_256.
func importMaterial(tb testing.TB, c *kms.Client, keyID string, material []byte, edit func(*kms.ImportKeyMaterialInput)) error {
	tb.Helper()
	alg := types.AlgorithmSpecRsaAesKeyWrapSha256
	p := params(tb, c, keyID, types.WrappingKeySpecRsa2048, alg)
	in := &kms.ImportKeyMaterialInput{
		KeyId: &keyID, ImportToken: p.ImportToken,
		EncryptedKeyMaterial: wrapForImport(tb, p.PublicKey, alg, material),
		ExpirationModel:      types.ExpirationModelTypeKeyMaterialDoesNotExpire,
	}
	if edit != nil {
		edit(in)
	}
	_, err := c.ImportKeyMaterial(ctx(), in)
	return err
}

// materialOf decrypts blob and reports which key material did it.
func materialOf(tb testing.TB, c *kms.Client, blob []byte) string {
	tb.Helper()
	out, err := c.Decrypt(ctx(), &kms.DecryptInput{CiphertextBlob: blob})
	if err != nil {
		tb.Fatalf("Decrypt: %v", err)
	}
	return aws.ToString(out.KeyMaterialId)
}

func randomMaterial(tb testing.TB) []byte {
	tb.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestImportWrappingAlgorithms(t *testing.T) {
	srv, _ := openServer(t)
	c := anyClient(t, srv)
	tests := []struct {
		spec types.WrappingKeySpec
		alg  types.AlgorithmSpec
	}{
		{types.WrappingKeySpecRsa2048, types.AlgorithmSpecRsaesOaepSha1},
		{types.WrappingKeySpecRsa2048, types.AlgorithmSpecRsaesOaepSha256},
		{types.WrappingKeySpecRsa2048, types.AlgorithmSpecRsaAesKeyWrapSha1},
		{types.WrappingKeySpecRsa2048, types.AlgorithmSpecRsaAesKeyWrapSha256},
		{types.WrappingKeySpecRsa3072, types.AlgorithmSpecRsaesOaepSha256},
		{types.WrappingKeySpecRsa4096, types.AlgorithmSpecRsaAesKeyWrapSha256},
	}
	for _, tt := range tests {
		t.Run(string(tt.spec)+"/"+string(tt.alg), func(t *testing.T) {
			k := createKey(t, c, &kms.CreateKeyInput{Origin: types.OriginTypeExternal})
			p := params(t, c, *k.KeyId, tt.spec, tt.alg)
			if *p.KeyId != *k.Arn || !p.ParametersValidTo.Equal(t0.Add(24*time.Hour)) {
				t.Fatalf("params KeyId=%s ValidTo=%v", *p.KeyId, p.ParametersValidTo)
			}
			material := randomMaterial(t)
			out, err := c.ImportKeyMaterial(ctx(), &kms.ImportKeyMaterialInput{
				KeyId: k.KeyId, ImportToken: p.ImportToken,
				EncryptedKeyMaterial: wrapForImport(t, p.PublicKey, tt.alg, material),
				ExpirationModel:      types.ExpirationModelTypeKeyMaterialDoesNotExpire,
			})
			if err != nil {
				t.Fatal(err)
			}
			md := describe(t, c, *k.KeyId)
			if md.KeyState != types.KeyStateEnabled || md.ExpirationModel != types.ExpirationModelTypeKeyMaterialDoesNotExpire || *md.CurrentKeyMaterialId != *out.KeyMaterialId {
				t.Fatalf("after import: %s %s %v", md.KeyState, md.ExpirationModel, md.CurrentKeyMaterialId)
			}
			if got := decrypt(t, c, encrypt(t, c, *k.KeyId, []byte("hi"), nil), nil); string(got) != "hi" {
				t.Fatalf("round trip = %q", got)
			}
		})
	}
}

func TestImportErrors(t *testing.T) {
	srv, clock := openServer(t)
	c := anyClient(t, srv)
	alg := types.AlgorithmSpecRsaesOaepSha256
	ext := createKey(t, c, &kms.CreateKeyInput{Origin: types.OriginTypeExternal})
	otherExt := createKey(t, c, &kms.CreateKeyInput{Origin: types.OriginTypeExternal})
	native := createKey(t, c, nil)

	t.Run("not an EXTERNAL key", func(t *testing.T) {
		_, err := c.GetParametersForImport(ctx(), &kms.GetParametersForImportInput{KeyId: native.KeyId, WrappingKeySpec: types.WrappingKeySpecRsa2048, WrappingAlgorithm: alg})
		wantErr[*types.UnsupportedOperationException](t, err)
	})
	t.Run("unknown wrapping spec", func(t *testing.T) {
		_, err := c.GetParametersForImport(ctx(), &kms.GetParametersForImportInput{KeyId: ext.KeyId, WrappingKeySpec: "RSA_1024", WrappingAlgorithm: alg})
		wantCode(t, err, "ValidationException")
	})
	t.Run("token of another key", func(t *testing.T) {
		p := params(t, c, *otherExt.KeyId, types.WrappingKeySpecRsa2048, alg)
		_, err := c.ImportKeyMaterial(ctx(), &kms.ImportKeyMaterialInput{KeyId: ext.KeyId, ImportToken: p.ImportToken,
			EncryptedKeyMaterial: wrapForImport(t, p.PublicKey, alg, randomMaterial(t)), ExpirationModel: types.ExpirationModelTypeKeyMaterialDoesNotExpire})
		wantErr[*types.InvalidImportTokenException](t, err)
	})
	t.Run("made-up token", func(t *testing.T) {
		p := params(t, c, *ext.KeyId, types.WrappingKeySpecRsa2048, alg)
		_, err := c.ImportKeyMaterial(ctx(), &kms.ImportKeyMaterialInput{KeyId: ext.KeyId, ImportToken: []byte("forged"),
			EncryptedKeyMaterial: wrapForImport(t, p.PublicKey, alg, randomMaterial(t)), ExpirationModel: types.ExpirationModelTypeKeyMaterialDoesNotExpire})
		wantErr[*types.InvalidImportTokenException](t, err)
	})
	t.Run("public key of another request", func(t *testing.T) {
		p1 := params(t, c, *ext.KeyId, types.WrappingKeySpecRsa2048, alg)
		p2 := params(t, c, *ext.KeyId, types.WrappingKeySpecRsa2048, alg)
		_, err := c.ImportKeyMaterial(ctx(), &kms.ImportKeyMaterialInput{KeyId: ext.KeyId, ImportToken: p2.ImportToken,
			EncryptedKeyMaterial: wrapForImport(t, p1.PublicKey, alg, randomMaterial(t)), ExpirationModel: types.ExpirationModelTypeKeyMaterialDoesNotExpire})
		wantErr[*types.InvalidCiphertextException](t, err)
	})
	t.Run("wrong material size", func(t *testing.T) {
		err := importMaterial(t, c, *ext.KeyId, make([]byte, 16), nil)
		wantErr[*types.IncorrectKeyMaterialException](t, err)
	})
	t.Run("ValidTo beyond 365 days", func(t *testing.T) {
		err := importMaterial(t, c, *ext.KeyId, randomMaterial(t), func(in *kms.ImportKeyMaterialInput) {
			in.ExpirationModel = types.ExpirationModelTypeKeyMaterialExpires
			in.ValidTo = aws.Time(clock.Now().Add(366 * 24 * time.Hour))
		})
		wantCode(t, err, "ValidationException")
	})
	t.Run("ValidTo with DOES_NOT_EXPIRE", func(t *testing.T) {
		err := importMaterial(t, c, *ext.KeyId, randomMaterial(t), func(in *kms.ImportKeyMaterialInput) {
			in.ValidTo = aws.Time(clock.Now().Add(time.Hour))
		})
		wantCode(t, err, "ValidationException")
	})
	// AWS's default ExpirationModel is KEY_MATERIAL_EXPIRES: a caller that
	// names no model must give ValidTo.
	t.Run("no ExpirationModel and no ValidTo", func(t *testing.T) {
		err := importMaterial(t, c, *ext.KeyId, randomMaterial(t), func(in *kms.ImportKeyMaterialInput) {
			in.ExpirationModel = ""
		})
		wantCode(t, err, "ValidationException")
	})
	t.Run("no ExpirationModel with ValidTo expires", func(t *testing.T) {
		k := createKey(t, c, &kms.CreateKeyInput{Origin: types.OriginTypeExternal})
		validTo := clock.Now().Add(48 * time.Hour).Truncate(time.Second)
		err := importMaterial(t, c, *k.KeyId, randomMaterial(t), func(in *kms.ImportKeyMaterialInput) {
			in.ExpirationModel, in.ValidTo = "", &validTo
		})
		if err != nil {
			t.Fatal(err)
		}
		if md := describe(t, c, *k.KeyId); md.ExpirationModel != types.ExpirationModelTypeKeyMaterialExpires {
			t.Fatalf("ExpirationModel = %s, want KEY_MATERIAL_EXPIRES", md.ExpirationModel)
		}
	})
	t.Run("expired token", func(t *testing.T) {
		p := params(t, c, *ext.KeyId, types.WrappingKeySpecRsa2048, alg)
		clock.Advance(24*time.Hour + time.Second)
		_, err := c.ImportKeyMaterial(ctx(), &kms.ImportKeyMaterialInput{KeyId: ext.KeyId, ImportToken: p.ImportToken,
			EncryptedKeyMaterial: wrapForImport(t, p.PublicKey, alg, randomMaterial(t)), ExpirationModel: types.ExpirationModelTypeKeyMaterialDoesNotExpire})
		wantErr[*types.ExpiredImportTokenException](t, err)
	})
	t.Run("different material once imported", func(t *testing.T) {
		if err := importMaterial(t, c, *ext.KeyId, randomMaterial(t), nil); err != nil {
			t.Fatal(err)
		}
		err := importMaterial(t, c, *ext.KeyId, randomMaterial(t), nil)
		wantErr[*types.IncorrectKeyMaterialException](t, err)
	})
}

func TestMaterialExpiryAndReimport(t *testing.T) {
	srv, clock := openServer(t)
	c := anyClient(t, srv)
	k := createKey(t, c, &kms.CreateKeyInput{Origin: types.OriginTypeExternal})
	material := randomMaterial(t)
	validTo := clock.Now().Add(30 * 24 * time.Hour)
	err := importMaterial(t, c, *k.KeyId, material, func(in *kms.ImportKeyMaterialInput) {
		in.ExpirationModel = types.ExpirationModelTypeKeyMaterialExpires
		in.ValidTo = &validTo
	})
	if err != nil {
		t.Fatal(err)
	}
	md := describe(t, c, *k.KeyId)
	if md.ExpirationModel != types.ExpirationModelTypeKeyMaterialExpires || !md.ValidTo.Equal(validTo) {
		t.Fatalf("ExpirationModel=%s ValidTo=%v", md.ExpirationModel, md.ValidTo)
	}
	ec := map[string]string{"tenant": "t1"}
	blob := encrypt(t, c, *k.KeyId, []byte("before expiry"), ec)

	clock.Set(validTo)
	if md := describe(t, c, *k.KeyId); md.KeyState != types.KeyStatePendingImport {
		t.Fatalf("at ValidTo state = %s, want PendingImport", md.KeyState)
	}
	_, err = c.Decrypt(ctx(), &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: ec})
	wantErr[*types.KMSInvalidStateException](t, err)

	wantErr[*types.IncorrectKeyMaterialException](t, importMaterial(t, c, *k.KeyId, randomMaterial(t), nil))
	if err := importMaterial(t, c, *k.KeyId, material, nil); err != nil {
		t.Fatalf("re-import of the same material: %v", err)
	}
	if got := decrypt(t, c, blob, ec); string(got) != "before expiry" {
		t.Fatalf("old ciphertext after re-import = %q", got)
	}
	if md := describe(t, c, *k.KeyId); md.KeyState != types.KeyStateEnabled || md.ValidTo != nil {
		t.Fatalf("after re-import: %s ValidTo=%v", md.KeyState, md.ValidTo)
	}
}

func TestDeleteAndLoseImportedMaterial(t *testing.T) {
	srv, _ := openServer(t)
	c := anyClient(t, srv)
	tests := []struct {
		name string
		drop func(testing.TB, string)
	}{
		{"DeleteImportedKeyMaterial", func(tb testing.TB, id string) {
			if _, err := c.DeleteImportedKeyMaterial(ctx(), &kms.DeleteImportedKeyMaterialInput{KeyId: &id}); err != nil {
				tb.Fatal(err)
			}
		}},
		{"LoseKeyMaterial", func(tb testing.TB, id string) {
			if err := srv.LoseKeyMaterial(id); err != nil {
				tb.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := createKey(t, c, &kms.CreateKeyInput{Origin: types.OriginTypeExternal})
			material := randomMaterial(t)
			if err := importMaterial(t, c, *k.KeyId, material, nil); err != nil {
				t.Fatal(err)
			}
			blob := encrypt(t, c, *k.KeyId, []byte("x"), nil)
			tt.drop(t, *k.KeyId)
			if md := describe(t, c, *k.KeyId); md.KeyState != types.KeyStatePendingImport {
				t.Fatalf("state = %s, want PendingImport", md.KeyState)
			}
			_, err := c.Decrypt(ctx(), &kms.DecryptInput{CiphertextBlob: blob})
			wantErr[*types.KMSInvalidStateException](t, err)
			if err := importMaterial(t, c, *k.KeyId, material, nil); err != nil {
				t.Fatal(err)
			}
			decrypt(t, c, blob, nil)
		})
	}
	t.Run("not for AWS_KMS keys", func(t *testing.T) {
		k := createKey(t, c, nil)
		_, err := c.DeleteImportedKeyMaterial(ctx(), &kms.DeleteImportedKeyMaterialInput{KeyId: k.KeyId})
		wantErr[*types.UnsupportedOperationException](t, err)
		if err := srv.LoseKeyMaterial(*k.KeyId); err == nil {
			t.Fatal("LoseKeyMaterial of an AWS_KMS key succeeded")
		}
	})
}

func TestImportNewKeyMaterialAndRotate(t *testing.T) {
	srv, _ := openServer(t)
	c := anyClient(t, srv)
	k := createKey(t, c, &kms.CreateKeyInput{Origin: types.OriginTypeExternal})
	first, second := randomMaterial(t), randomMaterial(t)
	if err := importMaterial(t, c, *k.KeyId, first, nil); err != nil {
		t.Fatal(err)
	}
	old := encrypt(t, c, *k.KeyId, []byte("old"), nil)
	_, err := c.RotateKeyOnDemand(ctx(), &kms.RotateKeyOnDemandInput{KeyId: k.KeyId})
	wantErr[*types.KMSInvalidStateException](t, err)

	newMat := func(in *kms.ImportKeyMaterialInput) { in.ImportType = types.ImportTypeNewKeyMaterial }
	wantErr[*types.IncorrectKeyMaterialException](t, importMaterial(t, c, *k.KeyId, first, newMat))
	if err := importMaterial(t, c, *k.KeyId, second, newMat); err != nil {
		t.Fatal(err)
	}
	rot, err := c.ListKeyRotations(ctx(), &kms.ListKeyRotationsInput{KeyId: k.KeyId, IncludeKeyMaterial: types.IncludeKeyMaterialAllKeyMaterial})
	if err != nil {
		t.Fatal(err)
	}
	if len(rot.Rotations) != 2 || rot.Rotations[1].KeyMaterialState != types.KeyMaterialStatePendingRotation {
		t.Fatalf("rotations before RotateKeyOnDemand = %+v", rot.Rotations)
	}
	if _, err := c.RotateKeyOnDemand(ctx(), &kms.RotateKeyOnDemandInput{KeyId: k.KeyId}); err != nil {
		t.Fatal(err)
	}
	fresh := encrypt(t, c, *k.KeyId, []byte("new"), nil)
	if materialOf(t, c, old) == materialOf(t, c, fresh) {
		t.Fatal("new ciphertext uses the old material")
	}
	rot, _ = c.ListKeyRotations(ctx(), &kms.ListKeyRotationsInput{KeyId: k.KeyId})
	if len(rot.Rotations) != 1 || rot.Rotations[0].RotationType != types.RotationTypeOnDemand || rot.Rotations[0].ImportState != types.ImportStateImported {
		t.Fatalf("rotations after RotateKeyOnDemand = %+v", rot.Rotations)
	}
}

// TestWrappingOfferNarrowed: a server configured as local-kms is (RSA_2048
// only) refuses the other wrapping key specs, and an algorithm it does not
// offer, with UnsupportedOperationException, so clients can negotiate.
func TestWrappingOfferNarrowed(t *testing.T) {
	clock := kmslocal.NewManualClock(t0)
	srv := startServer(t, kmslocal.Config{Clock: clock.Now, WrappingKeySpecs: []string{"RSA_2048"}})
	c := anyClient(t, srv)
	k := createKey(t, c, &kms.CreateKeyInput{Origin: types.OriginTypeExternal})
	for _, spec := range []types.WrappingKeySpec{types.WrappingKeySpecRsa3072, types.WrappingKeySpecRsa4096} {
		_, err := c.GetParametersForImport(ctx(), &kms.GetParametersForImportInput{KeyId: k.KeyId, WrappingKeySpec: spec,
			WrappingAlgorithm: types.AlgorithmSpecRsaesOaepSha256})
		wantErr[*types.UnsupportedOperationException](t, err)
	}
	params(t, c, *k.KeyId, types.WrappingKeySpecRsa2048, types.AlgorithmSpecRsaesOaepSha256)

	if err := srv.OfferWrapping(nil, []string{"RSA_AES_KEY_WRAP_SHA_256"}); err != nil {
		t.Fatal(err)
	}
	_, err := c.GetParametersForImport(ctx(), &kms.GetParametersForImportInput{KeyId: k.KeyId, WrappingKeySpec: types.WrappingKeySpecRsa2048,
		WrappingAlgorithm: types.AlgorithmSpecRsaesOaepSha256})
	wantErr[*types.UnsupportedOperationException](t, err)
	params(t, c, *k.KeyId, types.WrappingKeySpecRsa2048, types.AlgorithmSpecRsaAesKeyWrapSha256)

	if err := srv.OfferWrapping([]string{"RSA_1024"}, nil); err == nil {
		t.Error("an unknown wrapping key spec was accepted")
	}
	if _, err := kmslocal.New(kmslocal.Config{WrappingAlgorithms: []string{"RSAES_PKCS1_V1_5"}}); err == nil {
		t.Error("an unknown wrapping algorithm was accepted in Config")
	}
}
