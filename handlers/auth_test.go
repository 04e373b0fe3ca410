package handlers

import (
	"keyport/handlers/oidcrp"
	"testing"
)

func TestSafeReturnTo(t *testing.T) {
	tests := map[string]string{
		"":                      "/dashboard",
		"/dashboard?tab=keys":   "/dashboard?tab=keys",
		"/keys/key_1":           "/keys/key_1",
		"https://evil.example/": "/dashboard",
		"//evil.example/":       "/dashboard",
		"/\\evil.example":       "/dashboard",
		"/ok\r\nSet-Cookie: x":  "/dashboard",
		"/auth/logout":          "/dashboard",
		"dashboard":             "/dashboard",
	}
	for in, want := range tests {
		if got := safeReturnTo(in); got != want {
			t.Errorf("safeReturnTo(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHasSecondFactor(t *testing.T) {
	tests := []struct {
		amr      []string
		acr      string
		accepted [2][]string // amr, acr values that count (nil amr = the defaults)
		want     bool
	}{
		{amr: nil, want: false},
		{amr: []string{"pwd"}, want: false},
		{amr: []string{"pwd", "kba"}, want: false},
		{amr: []string{"pwd", "otp"}, want: true},
		{amr: []string{"mfa"}, want: true},
		{amr: []string{"hwk"}, want: true},
		{amr: []string{"face", "pin"}, want: true},
		{amr: []string{"pwd", "otp"}, accepted: [2][]string{{"hwk"}, nil}, want: false},
		{amr: []string{"pwd", "otp"}, accepted: [2][]string{{}, nil}, want: false},
		{acr: "2", accepted: [2][]string{nil, {"2"}}, want: true},
		{acr: "1", accepted: [2][]string{nil, {"2"}}, want: false},
		{acr: "", accepted: [2][]string{nil, {""}}, want: false},
	}
	for _, tt := range tests {
		if got := (&oidcrp.Identity{AMR: tt.amr, ACR: tt.acr}).HasSecondFactor(tt.accepted[0], tt.accepted[1]); got != tt.want {
			t.Errorf("amr %v acr %q accepting %v: second factor = %v, want %v", tt.amr, tt.acr, tt.accepted, got, tt.want)
		}
	}
}

func TestTenantNameFor(t *testing.T) {
	for in, want := range map[string]string{"alice@Example.COM": "example.com", "weird": "weird"} {
		if got := tenantNameFor(in); got != want {
			t.Errorf("tenantNameFor(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSplitCookie(t *testing.T) {
	secret := "0123456789012345678901234567890123456789abc"
	if id, s, ok := splitCookie("ses_x." + secret); !ok || id != "ses_x" || s != secret {
		t.Errorf("valid cookie not split: %v %q %q", ok, id, s)
	}
	for _, bad := range []string{"", "noseparator", ".only-secret-0123456789012345678901234567890123", "ses_x.short"} {
		if _, _, ok := splitCookie(bad); ok {
			t.Errorf("splitCookie(%q) accepted", bad)
		}
	}
}
