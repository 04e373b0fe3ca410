package managed

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"

	"keyport/keysvc"
)

// TestExportPublicKeyLimits: the export key is RSA of 2048 to 8192 bits
// with exponent 65537 (issue 17 #5). A 262,144-bit key cost ~10 s of CPU
// per export; a fabricated modulus is enough to show it is refused before
// any RSA operation.
func TestExportPublicKeyLimits(t *testing.T) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := func(pub *rsa.PublicKey) string {
		return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(pub)}))
	}
	pkix := func(pub *rsa.PublicKey) string {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	}
	if _, err := ParseExportPublicKey(pkix(&k.PublicKey)); err != nil {
		t.Fatalf("a 2048-bit key with e=65537 was refused: %v", err)
	}
	if _, err := ParseExportPublicKey(pkcs1(&k.PublicKey)); err != nil {
		t.Fatalf("a PKCS#1 2048-bit key was refused: %v", err)
	}
	odd := func(bits int) *big.Int {
		n := new(big.Int).Lsh(big.NewInt(1), uint(bits-1))
		return n.Add(n, big.NewInt(0xfff1)) // top bit set, odd
	}
	refused := func(name, text, want string) {
		t.Helper()
		_, err := ParseExportPublicKey(text)
		var ve *keysvc.ValidationError
		if !errors.As(err, &ve) || ve.Field != "public_key" || !strings.Contains(ve.Message, want) {
			t.Errorf("%s: got %v, want a public_key refusal mentioning %q", name, err, want)
		}
	}
	if _, err := ParseExportPublicKey(pkix(&rsa.PublicKey{N: odd(8192), E: 65537})); err != nil {
		t.Errorf("an 8192-bit modulus was refused: %v", err)
	}
	refused("8200 bits", pkix(&rsa.PublicKey{N: odd(8200), E: 65537}), "2048 to 8192")
	refused("16384 bits", pkcs1(&rsa.PublicKey{N: odd(16384), E: 65537}), "16384 bits")
	refused("262144 bits (over the PEM limit)", pkix(&rsa.PublicKey{N: odd(262144), E: 65537}), "PEM")
	refused("1024 bits", pkix(&rsa.PublicKey{N: odd(1024), E: 65537}), "2048 to 8192")
	refused("e=3", pkix(&rsa.PublicKey{N: k.N, E: 3}), "exponent 3")
	refused("e=2^31-1", pkcs1(&rsa.PublicKey{N: k.N, E: 1<<31 - 1}), "only 65537")
}
