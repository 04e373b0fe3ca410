package managed

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"keyport/keysvc"
	"strings"
	"testing"
)

// FuzzParseExportPublicKey feeds arbitrary text to the parser of the RSA
// public key a tenant uploads to export key material: no panic; a key it
// accepts is RSA of MinExportRSABits to MaxExportRSABits with exponent
// 65537; a refusal is a short
// ValidationError on public_key that does not echo the upload.
//
// TODO(issue 9): the passphrase-protected export file is only written by
// keyport, never parsed; fuzz its reader here if re-upload ever reads one.
func FuzzParseExportPublicKey(f *testing.F) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		f.Fatal(err)
	}
	pkix, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	f.Add(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix})))
	f.Add(string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.PublicKey)})))
	f.Add(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix[:len(pkix)/2]})))
	f.Add(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pkix})))
	f.Add("-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----")
	f.Add("")
	f.Fuzz(func(t *testing.T, text string) {
		pub, err := ParseExportPublicKey(text)
		if err != nil {
			var ve *keysvc.ValidationError
			if !errors.As(err, &ve) || ve.Field != "public_key" || len(ve.Message) > 400 { // messages quote at most a bounded part of the input
				t.Fatalf("refusal is not a short public_key ValidationError: %v", err)
			}
			if trimmed := strings.TrimSpace(text); len(trimmed) > 40 && strings.Contains(ve.Message, trimmed) {
				t.Fatalf("the message echoes the upload: %q", ve.Message)
			}
			return
		}
		if pub == nil || pub.N.BitLen() < MinExportRSABits || pub.N.BitLen() > MaxExportRSABits || pub.E != ExportRSAExponent {
			t.Fatalf("accepted a key outside the limits or nil: %v", pub)
		}
	})
}
