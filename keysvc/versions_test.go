package keysvc_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"keyport/keysvc"
)

func TestSafeToRetire(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	ago := func(days int) *time.Time { at := now.Add(-time.Duration(days) * 24 * time.Hour); return &at }
	idle := 30 * 24 * time.Hour
	for _, tc := range []struct {
		name string
		v    keysvc.VersionUse
		want bool
	}{
		{"current", keysvc.VersionUse{Current: true, LastDecryptAt: ago(400)}, false},
		{"superseded long ago, never decrypted", keysvc.VersionUse{SupersededAt: ago(40)}, true},
		{"superseded yesterday, never decrypted", keysvc.VersionUse{SupersededAt: ago(1)}, false},
		{"old, decrypted last week", keysvc.VersionUse{SupersededAt: ago(90), LastDecryptAt: ago(7)}, false},
		{"old, last decrypt 31 days ago", keysvc.VersionUse{SupersededAt: ago(90), LastDecryptAt: ago(31)}, true},
		{"no successor recorded", keysvc.VersionUse{LastDecryptAt: ago(400)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.v.SafeToRetire(now, idle); got != tc.want {
				t.Errorf("SafeToRetire = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestVersionRetiredErrorNamesTheMinimum(t *testing.T) {
	var err error = &keysvc.VersionRetiredError{Version: 2, Min: 5}
	if !errors.Is(err, keysvc.ErrVersionRetired) || !strings.Contains(err.Error(), "version 2") || !strings.Contains(err.Error(), "to 5") {
		t.Errorf("err = %v", err)
	}
}

// TestRewrapRotatedBetweenOpenAndSeal: a rotation that lands after Rewrap
// opened the ciphertext and before it sealed again leaves the result under
// the new current version, which exists and decrypts it.
func TestRewrapRotatedBetweenOpenAndSeal(t *testing.T) {
	ctx := context.Background()
	e := newDPEnv(t, keysvc.Config{})
	k := e.Key(t, "orders")
	enc, err := e.Service.Encrypt(ctx, e.Tenant.ID, k.ID, []byte("4111"), fieldSSN)
	if err != nil {
		t.Fatal(err)
	}
	replica := e.NewService(keysvc.Config{}) // the rotation runs on another replica
	rotated := false
	keysvc.SetAfterOpen(e.Service, func() {
		if rotated {
			return
		}
		rotated = true
		if _, err := replica.RotateDataKey(ctx, e.Tenant.ID, k.ID, "test", "manual"); err != nil {
			t.Error(err)
		}
		if err := e.Service.Warm(ctx); err != nil { // this replica's key table poll
			t.Error(err)
		}
	})
	rw, err := e.Service.Rewrap(ctx, e.Tenant.ID, enc.Ciphertext, fieldSSN)
	if err != nil {
		t.Fatal(err)
	}
	if !rotated || rw.Version != 2 {
		t.Fatalf("rewrap after a rotation mid-way: version %d (rotated %v)", rw.Version, rotated)
	}
	dec, err := replica.Decrypt(ctx, e.Tenant.ID, rw.Ciphertext, fieldSSN)
	if err != nil || string(dec.Plaintext) != "4111" || dec.Version != 2 {
		t.Fatalf("decrypt of the rewrapped ciphertext: %+v %v", dec, err)
	}
}
