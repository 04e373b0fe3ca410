package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"keyport/models"
	"keyport/web/devidp"
)

// stepUpStack is lifecycleStack with the development IdP started with opts.
func stepUpStack(t *testing.T, opts devidp.Options) *stack {
	t.Helper()
	s := newStackIdP(t, opts, nil)
	s.Managed.AttachWorker(s.Rot.Worker)
	s.Rot.SetRotator(models.ModeGenerated, s.Managed)
	s.Rot.SetRotator(models.ModeImported, s.Managed)
	s.Managed.PreferWrappingKeySpec("RSA_2048")
	return s
}

// stepUpAtIdP follows a stale export page to the identity provider without
// signing in there, and returns the authorization URL keyport sent.
func stepUpAtIdP(t *testing.T, s *stack, b *browser, keyID string) *url.URL {
	t.Helper()
	res, err := b.noFollow().Get(s.URL + "/keys/" + keyID + "/export")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/auth/login?") {
		t.Fatalf("stale export page: %d %s", res.StatusCode, loc)
	}
	res, err = b.noFollow().Get(s.URL + loc)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	u, err := url.Parse(res.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(u.String(), s.IdP.Issuer()) {
		t.Fatalf("step-up went to %q (%v)", res.Header.Get("Location"), err)
	}
	return u
}

// TestStepUpBeforeExportReauthenticates is issue 17 #2 against a provider
// with SSO sessions: 16 minutes after sign-in the export page must make the
// provider ask for credentials again (max_age=0, prompt=login) instead of
// taking its session's old answer, which redirect-looped before.
func TestStepUpBeforeExportReauthenticates(t *testing.T) {
	s := stepUpStack(t, devidp.Options{})
	b := newBrowser(t)
	s.signIn(t, b, erin)
	_, keyID := s.newStoreAndKey(t, b, "orders")
	if res, page := b.get(t, s.URL+"/keys/"+keyID+"/export"); res.Request.URL.Path != "/keys/"+keyID+"/export" || !strings.Contains(page, `data-testid="export-fingerprint"`) {
		t.Fatalf("fresh sign-in: export page at %s", res.Request.URL)
	}

	s.Clock.Advance(16 * time.Minute)
	// Following the redirects without typing anything ends on the
	// provider's sign-in form, not in a loop through its session.
	res, page := b.get(t, s.URL+"/keys/"+keyID+"/export")
	if !strings.HasPrefix(res.Request.URL.String(), s.IdP.Issuer()) || res.StatusCode != http.StatusOK || !strings.Contains(page, `id="signin"`) {
		t.Fatalf("stale export: %d at %s, want the provider's sign-in form", res.StatusCode, res.Request.URL)
	}
	q := res.Request.URL.Query()
	if q.Get("max_age") != "0" || q.Get("prompt") != "login" {
		t.Errorf("step-up asked for max_age=%q prompt=%q", q.Get("max_age"), q.Get("prompt"))
	}
	// The person signs in again: the export page opens, in the same tenant.
	s.IdP.Queue(erin)
	res, page = b.get(t, res.Request.URL.String())
	if res.Request.URL.Path != "/keys/"+keyID+"/export" || !strings.Contains(page, `data-testid="export-fingerprint"`) {
		t.Fatalf("after the step-up: %d at %s", res.StatusCode, res.Request.URL)
	}
}

// TestStepUpRefusals: a provider that answers a step-up from its session
// (ignoring max_age and prompt), for another account, or without auth_time
// gets a page that says why; the export stays closed and the user stays
// signed in as before.
func TestStepUpRefusals(t *testing.T) {
	bob := devidp.Identity{Email: "bob@lifecycle.test", EmailVerified: true}
	tests := []struct {
		name   string
		opts   devidp.Options
		answer func(s *stack, b *browser, u *url.URL) (*http.Response, string)
		text   string
		reason string
	}{
		{"provider ignores max_age and prompt", devidp.Options{}, func(s *stack, b *browser, u *url.URL) (*http.Response, string) {
			q := u.Query()
			q.Del("max_age")
			q.Del("prompt")
			u.RawQuery = q.Encode()
			return b.get(t, u.String())
		}, "answered with your earlier sign-in", "step_up_not_fresh"},
		{"another account signs in", devidp.Options{}, func(s *stack, b *browser, u *url.URL) (*http.Response, string) {
			s.IdP.Queue(bob)
			return b.get(t, u.String())
		}, "different account", "step_up_other_user"},
		{"provider sends no auth_time", devidp.Options{Stateless: true}, func(s *stack, b *browser, u *url.URL) (*http.Response, string) {
			s.IdP.Queue(erin)
			return b.get(t, u.String())
		}, "no auth_time claim", "step_up_no_auth_time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := stepUpStack(t, tt.opts)
			b := newBrowser(t)
			s.signIn(t, b, erin)
			_, keyID := s.newStoreAndKey(t, b, "orders")
			if !tt.opts.Stateless {
				s.Clock.Advance(16 * time.Minute)
			}
			// Without auth_time even a sign-in a moment ago is not recent:
			// the token's iat never stands in for it.
			u := stepUpAtIdP(t, s, b, keyID)
			res, body := tt.answer(s, b, u)
			if res.StatusCode != http.StatusForbidden || !strings.Contains(body, tt.text) || res.Request.URL.Path != "/auth/callback" {
				t.Fatalf("step-up answered %d at %s, want 403 with %q", res.StatusCode, res.Request.URL.Path, tt.text)
			}
			if got := strings.Join(s.auditActions(t, ""), "\n"); !strings.Contains(got, `auth.sign_in_failed:{"reason":"`+tt.reason+`"}`) {
				t.Errorf("audit lacks %s:\n%s", tt.reason, got)
			}
			if res, _ := b.noFollow().Get(s.URL + "/keys/" + keyID + "/export"); res.StatusCode != http.StatusSeeOther {
				t.Errorf("export page opened after a refused step-up: %d", res.StatusCode)
			}
			if res, _ := b.get(t, s.URL+"/dashboard"); res.Request.URL.Path != "/dashboard" {
				t.Errorf("refused step-up ended the session: at %s", res.Request.URL)
			}
		})
	}
}
