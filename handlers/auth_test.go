package handlers

import "testing"

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
		amr  []string
		want bool
	}{
		{nil, false},
		{[]string{"pwd"}, false},
		{[]string{"pwd", "kba"}, false},
		{[]string{"pwd", "otp"}, true},
		{[]string{"mfa"}, true},
		{[]string{"hwk"}, true},
		{[]string{"face", "pin"}, true},
	}
	for _, tt := range tests {
		if got := (&identity{AMR: tt.amr}).hasSecondFactor(); got != tt.want {
			t.Errorf("amr %v: second factor = %v, want %v", tt.amr, got, tt.want)
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
