package managed

import (
	"context"
	"errors"
	"strings"
	"testing"

	"keyport/keysvc"
)

// TestPassphraseStrength: a JWE export passphrase of 16 characters or more
// is still refused when it is easy to guess (issue 17 #13), with a message
// that says why and never quotes it; good passphrases pass.
func TestPassphraseStrength(t *testing.T) {
	weak := []string{
		"aaaaaaaaaaaaaaaa",
		"abcdefghijklmnopqrstuvwxyz",
		"1234567890123456",
		"passwordpassword",
		"Password1234567!",
		"qwertyuiopqwertyuiop",
		"keyportkeyportkeyport",
		"abcabcabcabcabcabc",
		"letmein-letmein-letmein",
	}
	strong := []string{
		"correct horse battery staple",
		"a passphrase of some length",
		"qmzlxkvbdhtwrnpy",
		"T7#kq!Vz9@wLp2$e",
		"canary-passphrase-0a1b2c3d4e5f6a7b8c9d0e1f",
		"gränsövergång fjäll kväll",
	}
	for _, p := range weak {
		err := checkPassphrase(p)
		var ve *keysvc.ValidationError
		if !errors.As(err, &ve) || ve.Field != "passphrase" || !strings.Contains(ve.Message, "too easy to guess") {
			t.Errorf("weak passphrase (%.0f bits) accepted or refused oddly: %v", PassphraseBits(p), err)
			continue
		}
		if strings.Contains(ve.Message, p) {
			t.Errorf("the refusal quotes the passphrase: %q", ve.Message)
		}
	}
	for _, p := range strong {
		if err := checkPassphrase(p); err != nil {
			t.Errorf("%q (%.0f bits) refused: %v", p, PassphraseBits(p), err)
		}
	}

	// Through the service: a weak passphrase gets no export file.
	e := newLCEnv(t)
	ctx := context.Background()
	keyID := e.create(t, "weak-pass", 0).Key.ID
	f, err := e.svc.Export(ctx, e.tenant.ID, e.by, keyID, ExportInput{Format: ExportJWE, Passphrase: "passwordpassword"})
	var ve *keysvc.ValidationError
	if f != nil || !errors.As(err, &ve) || ve.Field != "passphrase" {
		t.Errorf("export with a weak passphrase: file %v, err %v", f, err)
	}
	if _, err := e.svc.Export(ctx, e.tenant.ID, e.by, keyID, ExportInput{Format: ExportJWE, Passphrase: "correct horse battery staple"}); err != nil {
		t.Errorf("export with a good passphrase: %v", err)
	}
}
