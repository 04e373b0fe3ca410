package web_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"keyport/handlers/manageapi"
)

// shownAPIKey is the key the creation answer shows, "" when none.
func shownAPIKey(page string) string {
	i := strings.Index(page, `id="new-api-key"`)
	if i < 0 {
		return ""
	}
	tag := page[i:]
	tag = tag[:strings.Index(tag, ">")]
	m := regexp.MustCompile(`value="([^"]*)"`).FindStringSubmatch(tag)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// manageGet calls the management API with key and returns the status.
func manageGet(t *testing.T, s *stack, key, path string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL+manageapi.BasePath+path, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func TestAPIKeysPage(t *testing.T) {
	s := newFullStack(t, nil)
	ob := newBrowser(t)
	s.signIn(t, ob, alice)
	ab := s.join(t, ob, bob, "auditor")

	// Owners see the page in the navigation; auditors neither see nor open it.
	_, page := ob.get(t, s.URL+"/api-keys")
	if !strings.Contains(page, `aria-current="page">API keys`) || !strings.Contains(page, `data-testid="api-keys-empty"`) ||
		!strings.Contains(page, `name="expires_days" min="1" max="365" required value="90"`) {
		t.Fatalf("owner's API keys page: %s", excerpt([]byte(page)))
	}
	res, page := ab.get(t, s.URL+"/api-keys")
	if res.StatusCode != http.StatusForbidden || strings.Contains(page, `href="/api-keys"`) {
		t.Fatalf("auditor: %d", res.StatusCode)
	}
	_, dash := ab.get(t, s.URL+"/dashboard")
	if strings.Contains(dash, `href="/api-keys"`) {
		t.Fatal("the auditor's navigation links to API keys")
	}

	post := func(b *browser, path string, form url.Values) (*http.Response, string) {
		t.Helper()
		_, p := b.get(t, s.URL+"/dashboard")
		form.Set("csrf_token", csrfToken(t, p))
		return b.post(t, s.URL+path, form, nil)
	}
	// Bad input is shown with the form, and makes nothing.
	for _, bad := range []url.Values{
		{"name": {"x"}, "role": {"owner"}, "expires_days": {"90"}},
		{"name": {"x"}, "role": {"admin"}, "expires_days": {"366"}},
		{"name": {"x"}, "role": {"admin"}, "expires_days": {"soon"}},
		{"name": {""}, "role": {"admin"}, "expires_days": {"30"}},
	} {
		res, page := post(ob, "/api-keys", bad)
		if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, `class="error"`) || shownAPIKey(page) != "" {
			t.Errorf("%v: %d", bad, res.StatusCode)
		}
	}
	res, _ = post(ab, "/api-keys", url.Values{"name": {"sneaky"}, "role": {"admin"}, "expires_days": {"30"}})
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("auditor created a key: %d", res.StatusCode)
	}

	// Created: shown once, in a copyable field, and it works.
	res, page = post(ob, "/api-keys", url.Values{"name": {"release pipeline"}, "role": {"admin"}, "expires_days": {"30"}})
	key := shownAPIKey(page)
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(key, "kpa_") || !strings.Contains(page, `readonly`) {
		t.Fatalf("create: %d %q", res.StatusCode, key)
	}
	if manageGet(t, s, key, "/api-keys") != http.StatusOK {
		t.Fatal("the new admin key does not work")
	}
	secret := key[len(key)-43:]
	_, page = ob.get(t, s.URL+"/api-keys")
	if strings.Contains(page, secret) || shownAPIKey(page) != "" {
		t.Fatal("the key is shown again")
	}
	row := page[strings.Index(page, "release pipeline"):]
	row = row[:strings.Index(row, "</tr>")]
	if !strings.Contains(row, "<td>admin</td>") || !strings.Contains(row, `data-testid="api-key-state">active`) || !strings.Contains(row, `class="confirm"`) {
		t.Fatalf("row: %s", row)
	}

	// Revoked after the confirmation: refused at once, listed as revoked.
	id := regexp.MustCompile(`/api-keys/(kak_[a-z0-9]+)/revoke`).FindStringSubmatch(row)
	if id == nil {
		t.Fatalf("no revoke form in %s", row)
	}
	res, _ = post(ab, "/api-keys/"+id[1]+"/revoke", url.Values{})
	if res.StatusCode != http.StatusForbidden || manageGet(t, s, key, "/api-keys") != http.StatusOK {
		t.Fatal("an auditor revoked the key")
	}
	res, page = post(ob, "/api-keys/"+id[1]+"/revoke", url.Values{})
	if res.StatusCode != http.StatusOK || !strings.Contains(page, "API key revoked") || !strings.Contains(page, `data-testid="api-key-state">revoked`) {
		t.Fatalf("revoke: %d %s", res.StatusCode, excerpt([]byte(page)))
	}
	if manageGet(t, s, key, "/api-keys") != http.StatusUnauthorized {
		t.Fatal("the revoked key still works")
	}
	acts := strings.Join(s.auditActions(t, s.tenantOf(t, alice)), " ")
	if !strings.Contains(acts, "api_key.created") || !strings.Contains(acts, "api_key.revoked") {
		t.Fatalf("audit: %s", acts)
	}
	if strings.Contains(s.Logs.String(), secret) {
		t.Fatal("the key's secret is in the log")
	}
}
