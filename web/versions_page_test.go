package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

var versionStatusRE = regexp.MustCompile(`data-testid="version-(\d+)">(?s:.*?)data-testid="version-status">\s*([^<]+?)\s*<`)

// versionStatuses reads the key page's versions table as version -> status.
func versionStatuses(page string) map[string]string {
	out := map[string]string{}
	for _, m := range versionStatusRE.FindAllStringSubmatch(page, -1) {
		out[m[1]] = m[2]
	}
	return out
}

// TestKeyPageVersionsAndRetirement: the key page shows each version's use
// and calls an old version safe to retire after the period the tenant
// chose; an owner sets the minimum decryption version through a confirmed
// form (never above the current version) and each change is audited.
func TestKeyPageVersionsAndRetirement(t *testing.T) {
	s := newStack(t, nil)
	ctx := context.Background()
	b := newBrowser(t)
	s.signIn(t, b, dana)
	tenant := s.tenantOf(t, dana)
	keyID := s.registerKey(t, b, "orders")
	enc, err := s.Keys.Encrypt(ctx, tenant, keyID, []byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Keys.Decrypt(ctx, tenant, enc.Ciphertext, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Keys.RotateDataKey(ctx, tenant, keyID, "test", "manual"); err != nil {
		t.Fatal(err)
	}
	if err := s.Keys.FlushUsage(ctx); err != nil {
		t.Fatal(err)
	}
	keyURL := s.URL + "/keys/" + keyID
	_, page := b.get(t, keyURL)
	if st := versionStatuses(page); st["1"] != "still decrypting" || st["2"] != "in use" {
		t.Errorf("fresh statuses = %v", st)
	}
	if !strings.Contains(page, `data-testid="min-version-form"`) || !strings.Contains(page, "stop decrypting") {
		t.Error("no confirmed retirement form naming its consequence")
	}
	row1 := page[strings.Index(page, `data-testid="version-1"`):]
	row1 = row1[:strings.Index(row1, "</tr>")]
	if !strings.Contains(row1, "<td>1</td><td>1</td>") {
		t.Errorf("version 1 row lacks its 1 encrypt and 1 decrypt: %s", row1)
	}

	s.Clock.Advance(31 * 24 * time.Hour)
	s.signIn(t, b, dana) // the session did not live through a month
	if _, page = b.get(t, keyURL); versionStatuses(page)["1"] != "safe to retire" {
		t.Errorf("after 31 quiet days: %v", versionStatuses(page))
	}
	if _, page = b.get(t, keyURL+"?idle_days=60"); versionStatuses(page)["1"] != "still decrypting" || !strings.Contains(page, `value="60"`) {
		t.Errorf("with a 60-day period: %v", versionStatuses(page))
	}

	token := csrfToken(t, page)
	res, _ := b.post(t, keyURL+"/min-decryption-version", url.Values{"csrf_token": {token}, "min_decryption_version": {"3"}}, nil)
	if res.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("min above current: %d", res.StatusCode)
	}
	res, page = b.post(t, keyURL+"/min-decryption-version", url.Values{"csrf_token": {token}, "min_decryption_version": {"2"}}, nil)
	if res.Request.URL.RawQuery != "done=min_version" || versionStatuses(page)["1"] != "retired" {
		t.Errorf("retire version 1: %s %v", res.Request.URL, versionStatuses(page))
	}
	if _, err := s.Keys.Decrypt(ctx, tenant, enc.Ciphertext, nil); err == nil {
		t.Error("a retired version still decrypts")
	}
	b.post(t, keyURL+"/min-decryption-version", url.Values{"csrf_token": {token}, "min_decryption_version": {"1"}}, nil)
	if _, err := s.Keys.Decrypt(ctx, tenant, enc.Ciphertext, nil); err != nil {
		t.Errorf("after lowering the minimum: %v", err)
	}
	var n int
	for _, a := range s.auditActions(t, tenant) {
		if strings.HasPrefix(a, "key.min_decryption_version_changed:") {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d min_decryption_version audit events, want 2", n)
	}
}
