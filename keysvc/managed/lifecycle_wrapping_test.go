package managed

import (
	"context"
	"testing"

	"keyport/models"
)

// TestLifecycleWrappingKeys runs create and renew (two imports) through
// each way the wrapping key can be chosen: keyport's default RSA_4096 with
// RSAES_OAEP_SHA_256; RSA_AES_KEY_WRAP_SHA_256 when the KMS offers only
// that; and keyport's defaults negotiated down to RSA_2048 against a KMS
// that offers nothing else, as local-kms does. The KMS offers only the one
// choice each case means, so a pass proves that choice was used. RSA_4096
// is generated once per import, slow under -race: that case runs once.
func TestLifecycleWrappingKeys(t *testing.T) {
	cases := []struct {
		name         string
		offerSpecs   []string
		offerAlgs    []string
		keyportSpecs []wrapSpec // nil: keyport's defaults
		asks         int        // GetParametersForImport calls per import
	}{
		{name: "default RSA_4096", offerSpecs: []string{"RSA_4096"}, offerAlgs: []string{WrapOAEPSHA256}, asks: 1},
		{name: "RSA_AES_KEY_WRAP", offerSpecs: []string{"RSA_2048"}, offerAlgs: []string{WrapRSAAESKWP256},
			keyportSpecs: []wrapSpec{{"RSA_2048", WrapOAEPSHA256}, {"RSA_2048", WrapRSAAESKWP256}}, asks: 2},
		// RSA_4096 twice (OAEP, then AES key wrap), RSA_3072, then RSA_2048.
		{name: "negotiated down to RSA_2048", offerSpecs: []string{"RSA_2048"}, asks: 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newLCEnv(t)
			ctx := context.Background()
			if err := e.srv.OfferWrapping(tc.offerSpecs, tc.offerAlgs); err != nil {
				t.Fatal(err)
			}
			e.svc.lifecycle().wrapSpecs = defaultWrapSpecs
			if tc.keyportSpecs != nil {
				e.svc.lifecycle().wrapSpecs = tc.keyportSpecs
			}
			e.srv.ResetCalls()
			res := e.create(t, "orders", 30)
			if !res.Done() || res.Key.State != models.StateEnabled {
				t.Fatalf("create = %+v (%s)", res.Op, res.Error)
			}
			keyID := res.Key.ID
			if err := e.roundTrip(t, keyID); err != nil {
				t.Fatal(err)
			}
			old, err := e.keys.Encrypt(ctx, e.tenant.ID, keyID, []byte("old data"), nil)
			if err != nil {
				t.Fatal(err)
			}
			ren, err := e.svc.Renew(ctx, e.tenant.ID, e.by, keyID)
			if err != nil || !ren.Done() || ren.Key.CurrentVersion != 2 {
				t.Fatalf("renew = %+v, %v", ren, err)
			}
			if err := e.roundTrip(t, keyID); err != nil {
				t.Fatal(err)
			}
			if dec, err := e.keys.Decrypt(ctx, e.tenant.ID, old.Ciphertext, nil); err != nil || string(dec.Plaintext) != "old data" {
				t.Fatalf("data from before the renewal: %v", err)
			}
			if got, want := e.srv.Calls("GetParametersForImport"), 2*tc.asks; got != want {
				t.Errorf("GetParametersForImport called %d times for two imports, want %d", got, want)
			}
			if got := e.srv.Calls("ImportKeyMaterial"); got != 2 {
				t.Errorf("ImportKeyMaterial called %d times, want 2", got)
			}
		})
	}
}
