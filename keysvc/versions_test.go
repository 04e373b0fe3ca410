package keysvc_test

import (
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
