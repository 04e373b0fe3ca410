package web_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"keyport/keysvc"
	"keyport/keysvc/awskms"
	"keyport/keysvc/managed"
	"keyport/web/webtest"
)

// TestBrowserHeldImport: with the provider keeping imported keys, a tenant
// admin makes an import request, wraps a key to its public key and uploads
// it in the browser; the pages say the key stays with keyport, and the key
// page shows the fingerprint of what was uploaded and no KMS actions.
func TestBrowserHeldImport(t *testing.T) {
	ctx := webtest.Browser(t, 120*time.Second)
	s := lifecycleStack(t)
	p := webtest.Page{T: t, Ctx: ctx, Prefix: "held-"}

	s.IdP.Queue(erin)
	p.Step("sign in", chromedp.Navigate(s.URL+"/auth/login"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="dashboard"]`)))
	ctxb, by, tenant := context.Background(), keysvc.RequestBy{UserID: "setup"}, s.tenantOf(t, erin)
	conn, err := s.Keys.CreateConnection(ctxb, tenant, by, keysvc.ConnectionInput{
		Name: "tenant role", AccountID: awsTenantAcct, DefaultRegion: awsRegion, Kind: awskms.KindAssumeRole, RoleARN: awsRoleARN})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Managed.CreateStore(ctxb, tenant, by, managed.StoreInput{Name: "production", ConnectionID: conn.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Keys.UpdateProviderSettings(ctxb, by, keysvc.ProviderSettingsInput{ImportedKeyUse: keysvc.ImportedHeld}); err != nil {
		t.Fatal(err)
	}

	p.Step("ask for an import request",
		chromedp.Navigate(s.URL+"/import-requests"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="import-held"]`)),
		chromedp.SendKeys(chromedp.CSS(`#key_name`), "tenant payments key"),
		chromedp.Click(chromedp.CSS(`[data-testid="create-import-request"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="new-import"]`)),
	)
	token := p.Text(`[data-testid="import-token"]`)
	block, _ := pem.Decode([]byte(p.Text(`[data-testid="import-public-key"]`)))
	if block == nil || !strings.HasPrefix(token, "kpi_") {
		t.Fatalf("import request page: token %q, public key %v", token, block)
	}
	pk, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	material := make([]byte, 32)
	rand.Read(material)
	wrapped, _ := rsa.EncryptOAEP(sha256.New(), rand.Reader, pk.(*rsa.PublicKey), material, nil)

	p.Step("upload the wrapped key",
		chromedp.Click(chromedp.CSS(`[data-testid="upload-link"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="import-upload"] ~ form [data-testid="import-held"]`)),
		chromedp.SendKeys(chromedp.CSS(`#import_token`), token),
		chromedp.SetValue(chromedp.CSS(`#wrapped_key`), base64.StdEncoding.EncodeToString(wrapped)),
		chromedp.Click(chromedp.CSS(`[data-testid="upload-import"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="held"]`)),
	)
	webtest.Screenshot(t, ctx, "held-key")
	want, _ := keysvc.Fingerprint(material)
	if got := p.Text(`[data-testid="material-row"] [data-testid="fingerprint"]`); got != want {
		t.Fatalf("key page fingerprint %q, uploaded %q", got, want)
	}
	if got := p.Text(`.flash`); !strings.Contains(got, "nothing was imported into KMS") {
		t.Errorf("flash after the upload = %q", got)
	}
	for _, absent := range []string{"renew", "rotate-material", "reupload", "check-drift", "key-regions"} {
		if n := p.Count(`[data-testid="` + absent + `"]`); n != 0 {
			t.Errorf("the held key's page shows %s (%d)", absent, n)
		}
	}
}
