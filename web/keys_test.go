package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"keyport/handlers"
	"keyport/keysvc"
	"keyport/web/devidp"
)

var carol = devidp.Identity{Email: "carol@keys.test", Name: "Carol Owner", EmailVerified: true}

// addConnection submits the new-connection form and returns the final
// response and page.
func (s *stack) addConnection(t *testing.T, b *browser, form url.Values) (*http.Response, string) {
	t.Helper()
	_, page := b.get(t, s.URL+"/connections/new")
	form.Set("csrf_token", csrfToken(t, page))
	return b.post(t, s.URL+"/connections", form, nil)
}

func TestConnectionAndKeyRegistrationOverHTTP(t *testing.T) {
	s := newStack(t, nil)
	b := newBrowser(t)
	s.signIn(t, b, carol)
	tenant := s.tenantOf(t, carol)

	// Empty states point the way.
	if _, page := b.get(t, s.URL+"/keys"); !strings.Contains(page, `data-testid="keys-empty"`) || !strings.Contains(page, "connect an AWS account") {
		t.Error("keys page has no empty state")
	}
	if _, page := b.get(t, s.URL+"/connections"); !strings.Contains(page, `data-testid="connections-empty"`) {
		t.Error("connections page has no empty state")
	}

	// A bad secret re-renders the form with the field's message, never
	// with the secret in it.
	res, page := s.addConnection(t, b, url.Values{"name": {"prod"}, "account_id": {awsTenantAcct}, "default_region": {awsRegion},
		"kind": {"access_key"}, "access_key_id": {awsUserAKID}, "secret_access_key": {"too-short-secret"}})
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, `data-testid="error-secret_access_key"`) || strings.Contains(page, "too-short-secret") {
		t.Fatalf("bad secret: %d", res.StatusCode)
	}

	// Every bad field is reported at once, each at its own field.
	res, page = s.addConnection(t, b, url.Values{"name": {""}, "account_id": {"12345"}, "default_region": {"eu-west-9"},
		"kind": {"access_key"}, "access_key_id": {"nope"}, "secret_access_key": {"too-short-secret"}})
	for _, f := range []string{"name", "account_id", "default_region", "access_key_id", "secret_access_key"} {
		if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, `data-testid="error-`+f+`"`) {
			t.Errorf("all errors at once: %d, no error at %s", res.StatusCode, f)
		}
	}

	// The access-key connection: saved, secret never shown again, test passes.
	res, page = s.addConnection(t, b, url.Values{"name": {"prod"}, "account_id": {awsTenantAcct}, "default_region": {awsRegion},
		"kind": {"access_key"}, "access_key_id": {awsUserAKID}, "secret_access_key": {awsUserSecret}})
	if res.StatusCode != http.StatusOK || !strings.Contains(page, "…0001") || strings.Contains(page, awsUserSecret) {
		t.Fatalf("after saving: %d", res.StatusCode)
	}
	connURL := res.Request.URL.String()
	connURL = strings.TrimSuffix(connURL, "?"+res.Request.URL.RawQuery)
	res, page = b.post(t, connURL+"/test", url.Values{"csrf_token": {csrfToken(t, page)}}, nil)
	if res.StatusCode != http.StatusOK || strings.Contains(page, `data-ok="false"`) || !strings.Contains(page, "Every check passed") {
		t.Fatalf("connection test: %d\n%s", res.StatusCode, page)
	}

	// A role connection shows the external id keyport generated and the
	// trust policy with it.
	res, page = s.addConnection(t, b, url.Values{"name": {"role"}, "account_id": {awsTenantAcct}, "default_region": {awsRegion},
		"kind": {"assume_role"}, "role_arn": {awsRoleARN}})
	if res.StatusCode != http.StatusOK || !strings.Contains(page, awsExternalID) || !strings.Contains(page, "sts:ExternalId") {
		t.Fatalf("role connection page: %d", res.StatusCode)
	}
	if strings.Contains(page, `Resource&#34;:`) || strings.Contains(page, `"Resource":`) {
		t.Error("the trust policy has a Resource, which IAM refuses in a trust policy")
	}

	// Register: a revoked policy is refused with the checks, nothing saved.
	revoked := s.tenantKMSKey(t, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::`+awsTenantAcct+`:user/admin"},"Action":"kms:*","Resource":"*"}]}`)
	_, page = b.get(t, s.URL+"/keys/new")
	if !strings.Contains(page, "kms:GenerateDataKeyWithoutPlaintext") || !strings.Contains(page, "kms:EncryptionContext:keyport:tenant") ||
		!strings.Contains(page, tenant) || !strings.Contains(page, "generate-data-key-without-plaintext") {
		t.Error("register page lacks the policy snippet or data key command")
	}
	token := csrfToken(t, page)
	cs, _ := s.DB.ListConnections(context.Background(), tenant)
	conn := cs[0].ID // "prod", the access key
	res, page = b.post(t, s.URL+"/keys", url.Values{"csrf_token": {token}, "connection_id": {conn}, "name": {"orders"}, "key_arn": {revoked}}, nil)
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, `data-testid="register-refused"`) || !strings.Contains(page, "key policy does not allow keyport") {
		t.Fatalf("revoked policy: %d", res.StatusCode)
	}
	res, page = b.post(t, s.URL+"/keys", url.Values{"csrf_token": {token}, "connection_id": {conn}, "name": {"orders"}, "key_arn": {"arn:aws-us-gov:kms:us-gov-west-1:" + awsTenantAcct + ":key/x"}}, nil)
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "GovCloud") {
		t.Fatalf("govcloud arn: %d", res.StatusCode)
	}
	// A missing name and a bad ARN are both reported, each at its field.
	res, page = b.post(t, s.URL+"/keys", url.Values{"csrf_token": {token}, "connection_id": {conn}, "name": {" "}, "key_arn": {"not-an-arn"}}, nil)
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, `data-testid="error-name"`) || !strings.Contains(page, `data-testid="error-key_arn"`) {
		t.Fatalf("all registration errors at once: %d", res.StatusCode)
	}
	if ks, _ := s.DB.ListKeys(context.Background(), tenant); len(ks) != 0 {
		t.Fatalf("refusals stored keys")
	}

	// A good key registers; its page shows every check passing.
	arn := s.tenantKMSKey(t, "")
	res, page = b.post(t, s.URL+"/keys", url.Values{"csrf_token": {token}, "connection_id": {conn}, "name": {"orders"}, "key_arn": {arn}}, nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(page, `data-testid="key"`) || !strings.Contains(page, "Key registered") {
		t.Fatalf("register: %d\n%s", res.StatusCode, page)
	}
	if strings.Contains(page, `data-ok="false"`) || !strings.Contains(page, `data-health="OK"`) {
		t.Error("a check failed or health is not OK")
	}
	keyURL := strings.TrimSuffix(res.Request.URL.String(), "?"+res.Request.URL.RawQuery)
	res, page = b.post(t, keyURL+"/check", url.Values{"csrf_token": {token}}, nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(page, "Checked just now") {
		t.Errorf("check now: %d", res.StatusCode)
	}
	if _, page = b.get(t, s.URL+"/dashboard"); !strings.Contains(page, `data-testid="key-health"`) || !strings.Contains(page, "1 key: Active") {
		t.Error("dashboard shows no key health")
	}
	if _, page = b.get(t, s.URL+"/keys"); !strings.Contains(page, "orders") || !strings.Contains(page, `data-health="OK"`) {
		t.Error("keys list lacks the key")
	}

	// Deleting a connection asks first, and is refused while a key uses it.
	_, page = b.get(t, connURL+"/delete")
	if !strings.Contains(page, "cannot be deleted") {
		t.Error("delete confirmation does not say the connection is in use")
	}
	res, _ = b.post(t, connURL+"/delete", url.Values{"csrf_token": {token}}, nil)
	if res.StatusCode != http.StatusConflict {
		t.Errorf("deleting a connection in use: %d", res.StatusCode)
	}

	acts := strings.Join(s.auditActions(t, tenant), "\n")
	for _, want := range []string{"connection.created", "connection.tested", "key.registered", "key.validated"} {
		if !strings.Contains(acts, want) {
			t.Errorf("audit lacks %s", want)
		}
	}
	if strings.Contains(acts, awsUserSecret) || strings.Contains(s.Logs.String(), awsUserSecret) {
		t.Error("the secret reached the audit log or the server log")
	}
}

func TestProviderSettingsForOperators(t *testing.T) {
	s := newStack(t, func(c *handlers.Config) { c.Operators = []string{"ops@provider.test"} })
	b := newBrowser(t)
	s.signIn(t, b, devidp.Identity{Email: "ops@provider.test", EmailVerified: true})
	_, page := b.get(t, s.URL+"/provider")
	if !strings.Contains(page, `data-testid="provider-form"`) || !strings.Contains(page, `href="/provider"`) {
		t.Fatal("operator sees no provider page or nav link")
	}
	token := csrfToken(t, page)
	res, page := b.post(t, s.URL+"/provider/settings", url.Values{"csrf_token": {token}, "account_id": {"99998888777"}}, nil)
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "12-digit") {
		t.Fatalf("bad account: %d", res.StatusCode)
	}
	res, page = b.post(t, s.URL+"/provider/settings", url.Values{"csrf_token": {token}, "account_id": {awsProviderAcct},
		"principal_arn": {"arn:aws:iam::" + awsProviderAcct + ":user/keyport"}, "allowed_regions": {"us-east-1, us-west-2"},
		"replica_regions": {"us-west-2"}, "dr_regions": {"1"}, "one_key_per_tenant": {"true"}}, nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(page, "Settings saved") {
		t.Fatalf("save: %d", res.StatusCode)
	}
	ps, _ := s.Keys.ProviderSettings(context.Background())
	if ps.AccountID != awsProviderAcct || len(ps.AllowedRegions) != 2 || ps.DRRegions != 1 || !ps.OneKeyPerTenant {
		t.Errorf("stored = %+v", ps)
	}
	acts := s.auditActions(t, "")
	if last := acts[len(acts)-1]; !strings.HasPrefix(last, "provider.settings_updated:") || !strings.Contains(last, "dr_regions") {
		t.Errorf("audit = %v", last)
	}
	// Saving the same values again changes nothing and writes no event.
	b.post(t, s.URL+"/provider/settings", url.Values{"csrf_token": {token}, "account_id": {awsProviderAcct},
		"principal_arn": {"arn:aws:iam::" + awsProviderAcct + ":user/keyport"}, "allowed_regions": {"us-east-1 us-west-2"},
		"replica_regions": {"us-west-2"}, "dr_regions": {"1"}, "one_key_per_tenant": {"true"}}, nil)
	if n := len(s.auditActions(t, "")); n != len(acts) {
		t.Errorf("unchanged save wrote %d events", n-len(acts))
	}

	// Where tenants' imported keys go: a radio choice, checked.
	if !strings.Contains(page, `name="imported_key_use" value="kms" checked`) {
		t.Error("imported keys do not default to the tenant's KMS on the page")
	}
	res, page = b.post(t, s.URL+"/provider/settings", url.Values{"csrf_token": {token}, "imported_key_use": {"elsewhere"}}, nil)
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, `data-testid="error-imported_key_use"`) {
		t.Errorf("bad imported_key_use: %d", res.StatusCode)
	}
	res, page = b.post(t, s.URL+"/provider/settings", url.Values{"csrf_token": {token}, "imported_key_use": {"provider"}}, nil)
	if ps, _ := s.Keys.ProviderSettings(context.Background()); res.StatusCode != http.StatusOK || ps.ImportedKeyUse != keysvc.ImportedHeld ||
		!strings.Contains(page, `value="provider" checked`) {
		t.Errorf("keep imported keys with keyport: %d %q", res.StatusCode, ps.ImportedKeyUse)
	}
}

// The tenant-wide purge and a token's revocation each confirm themselves on
// the page they return to.
func TestPurgeAndRevokeAreConfirmed(t *testing.T) {
	s := newStack(t, func(c *handlers.Config) { c.Operators = []string{carol.Email} })
	b := newBrowser(t)
	_, page := s.signIn(t, b, carol)
	res, page := b.post(t, s.URL+"/keys/purge", url.Values{"csrf_token": {csrfToken(t, page)}}, nil)
	if res.Request.URL.RawQuery != "done=purged" || !strings.Contains(page, "Cached data keys purged on every replica") {
		t.Errorf("tenant purge ended at %s without its confirmation", res.Request.URL)
	}
	_, page = b.get(t, s.URL+"/provider/tokens")
	_, page = b.post(t, s.URL+"/provider/tokens", url.Values{"csrf_token": {csrfToken(t, page)}, "name": {"billing"}}, nil)
	action := regexp.MustCompile(`action="(/provider/tokens/[^"/]+/revoke)"`).FindStringSubmatch(page)
	if action == nil {
		t.Fatal("no revoke form for the new token")
	}
	res, page = b.post(t, s.URL+action[1], url.Values{"csrf_token": {csrfToken(t, page)}}, nil)
	if res.Request.URL.RawQuery != "done=revoked" || !strings.Contains(page, "Token revoked") {
		t.Errorf("revocation ended at %s without its confirmation", res.Request.URL)
	}
}
