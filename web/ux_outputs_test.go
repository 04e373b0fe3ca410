package web_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"keyport/keysvc/managed"
)

// TestExportCommandsNameTheDownload: the open commands on the export page
// name the file the download is saved as, and the JWE form wants its
// passphrase twice.
func TestExportCommandsNameTheDownload(t *testing.T) {
	s := lifecycleStack(t)
	b := newBrowser(t)
	s.signIn(t, b, erin)
	_, keyID := s.newStoreAndKey(t, b, "orders")

	_, exp := b.get(t, s.URL+"/keys/"+keyID+"/export")
	exp = html.UnescapeString(exp)
	priv, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	res, _ := b.post(t, s.URL+"/keys/"+keyID+"/export", url.Values{"csrf_token": {csrfToken(t, exp)}, "format": {"rsa"},
		"public_key": {string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}, "algorithm": {managed.WrapOAEPSHA256}}, nil)
	name := regexp.MustCompile(`filename="([^"]+)"`).FindStringSubmatch(res.Header.Get("Content-Disposition"))
	if res.StatusCode != http.StatusOK || name == nil {
		t.Fatalf("export: %d %s", res.StatusCode, res.Header)
	}
	if !strings.Contains(exp, "-in "+name[1]+" ") || strings.Contains(exp, "keyport-export") {
		t.Errorf("the openssl command does not open %s:\n%s", name[1], exp)
	}
	if jwe := strings.TrimSuffix(name[1], ".bin") + ".jwe"; !strings.Contains(exp, "python3 - "+jwe+" ") {
		t.Errorf("the python command does not open %s", jwe)
	}

	// Two different passphrases: refused at the second field, nothing downloaded.
	res, page := b.post(t, s.URL+"/keys/"+keyID+"/export", url.Values{"csrf_token": {csrfToken(t, exp)}, "format": {"jwe"},
		"passphrase": {"a passphrase of some length"}, "passphrase_confirm": {"a passphrase of some lengtH"}}, nil)
	if res.StatusCode != http.StatusUnprocessableEntity || res.Header.Get("Content-Disposition") != "" ||
		!regexp.MustCompile(`(?s)id="passphrase_confirm".{0,400}?does not match`).MatchString(page) && !strings.Contains(page, `data-testid="error-passphrase_confirm"`) {
		t.Fatalf("mismatched passphrases: %d\n%s", res.StatusCode, page)
	}
	res, _ = b.post(t, s.URL+"/keys/"+keyID+"/export", url.Values{"csrf_token": {csrfToken(t, exp)}, "format": {"jwe"},
		"passphrase": {"a passphrase of some length"}, "passphrase_confirm": {"a passphrase of some length"}}, nil)
	if res.StatusCode != http.StatusOK || !strings.HasSuffix(res.Header.Get("Content-Disposition"), `.jwe"`) {
		t.Fatalf("jwe export: %d %s", res.StatusCode, res.Header)
	}
}

// TestReportsOfAKeyportKey: the inventory names the key store and the
// alias, the material's expiry and the key's own rotation period; the
// validation of a key whose material never expires is not INCOMPLETE for it.
func TestReportsOfAKeyportKey(t *testing.T) {
	s := lifecycleStack(t)
	b := newBrowser(t)
	s.signIn(t, b, erin)
	storeID, keyID := s.newStoreAndKey(t, b, "orders")
	tenant := s.tenantOf(t, erin)
	// A second key whose material never expires in KMS.
	_, page := b.get(t, s.URL+"/stores/"+storeID)
	if res, pg := b.post(t, s.URL+"/stores/"+storeID+"/keys", url.Values{"csrf_token": {csrfToken(t, page)}, "name": {"archive"}, "valid_days": {"0"}}, nil); res.Request.URL.Query().Get("done") != "create" {
		t.Fatalf("create key: %d\n%s", res.StatusCode, pg)
	}
	pol, err := s.DB.GetRotationPolicy(context.Background(), tenant, keyID)
	if err != nil {
		t.Fatal(err)
	}

	_, body := b.get(t, s.URL+"/reports/inventory?format=json")
	var inv struct {
		Keys []struct {
			ID, Store, Connection string
			Aliases               []string
			MaterialExpiresAt     *string `json:"material_expires_at"`
			RotationPeriodDays    int     `json:"rotation_period_days"`
		}
	}
	if err := json.Unmarshal([]byte(body), &inv); err != nil || len(inv.Keys) != 2 || inv.Keys[1].ID != keyID {
		t.Fatalf("inventory: %v\n%s", err, body)
	}
	k := inv.Keys[1] // by name: archive, orders
	if k.Store != "production" || k.Connection != "role" || len(k.Aliases) != 1 || k.Aliases[0] != "alias/keyport/orders" {
		t.Errorf("inventory store %q connection %q aliases %v", k.Store, k.Connection, k.Aliases)
	}
	if k.MaterialExpiresAt == nil || k.RotationPeriodDays != pol.PeriodDays {
		t.Errorf("material expires %v, rotation period %d (policy %d)", k.MaterialExpiresAt, k.RotationPeriodDays, pol.PeriodDays)
	}
	_, csv := b.get(t, s.URL+"/reports/inventory?format=csv")
	if !strings.Contains(csv, ",production,role,") || !strings.Contains(csv, "alias/keyport/orders") {
		t.Errorf("inventory CSV:\n%s", csv)
	}

	_, body = b.get(t, s.URL+"/reports/validation?format=json")
	var val struct {
		Keys []struct {
			KeyName    string `json:"key_name"`
			Properties []struct{ Property, Result, Detail string }
		}
	}
	if err := json.Unmarshal([]byte(body), &val); err != nil {
		t.Fatal(err)
	}
	for _, vk := range val.Keys {
		for _, p := range vk.Properties {
			if p.Property == "material_expiry" && p.Result != "pass" {
				t.Errorf("%s: material_expiry %s", vk.KeyName, p.Result)
			}
		}
	}
	if len(val.Keys) != 2 {
		t.Errorf("validation keys: %s", body)
	}
}

// TestStoreFormShowsEveryError: a store form wrong in three fields is
// answered once with the three errors, each at its field.
func TestStoreFormShowsEveryError(t *testing.T) {
	s := lifecycleStack(t)
	b := newBrowser(t)
	s.signIn(t, b, erin)
	s.addConnection(t, b, url.Values{"name": {"role"}, "account_id": {awsTenantAcct}, "default_region": {awsRegion},
		"kind": {"assume_role"}, "role_arn": {awsRoleARN}})
	_, page := b.get(t, s.URL+"/stores")
	res, page := b.post(t, s.URL+"/stores", url.Values{"csrf_token": {csrfToken(t, page)}, "name": {" "}, "connection_id": {"con_nope"}, "region": {"eu-west-9"}}, nil)
	if res.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("bad store form: %d", res.StatusCode)
	}
	for _, f := range []string{"name", "connection_id"} {
		if !strings.Contains(page, `data-testid="error-`+f+`"`) {
			t.Errorf("no error at %s:\n%s", f, page)
		}
	}
	_, page = b.get(t, s.URL+"/stores")
	cs, _ := s.DB.ListConnections(context.Background(), s.tenantOf(t, erin))
	_, page = b.post(t, s.URL+"/stores", url.Values{"csrf_token": {csrfToken(t, page)}, "name": {""}, "connection_id": {cs[0].ID}, "region": {"eu-west-9"}}, nil)
	for _, f := range []string{"name", "region"} {
		if !strings.Contains(page, `data-testid="error-`+f+`"`) {
			t.Errorf("no error at %s:\n%s", f, page)
		}
	}
	if !strings.Contains(page, "is not an AWS region") || strings.Contains(page, "your provider allows") {
		t.Error("eu-west-9 is called a region the provider does not allow; it does not exist")
	}
}
