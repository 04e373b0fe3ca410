package web_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"keyport/keysvc"
	"keyport/keysvc/awskms"
	"keyport/web/webtest"
)

// TestBrowserCreateRenewExport is the browser flow: make a key
// store, create a key with keyport-generated material, renew it, export it
// wrapped to our own RSA key, unwrap the file here and compare its
// fingerprint with the one the pages show.
func TestBrowserCreateRenewExport(t *testing.T) {
	ctx := webtest.Browser(t, 150*time.Second)
	s := lifecycleStack(t)
	p := webtest.Page{T: t, Ctx: ctx, Prefix: "lifecycle-"}

	s.IdP.Queue(erin)
	p.Step("sign in", chromedp.Navigate(s.URL+"/auth/login"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="dashboard"]`)))
	if _, err := s.Keys.CreateConnection(context.Background(), s.tenantOf(t, erin), keysvc.RequestBy{UserID: "setup"}, keysvc.ConnectionInput{
		Name: "tenant role", AccountID: awsTenantAcct, DefaultRegion: awsRegion, Kind: awskms.KindAssumeRole, RoleARN: awsRoleARN}); err != nil {
		t.Fatal(err)
	}
	p.Step("create a key store",
		chromedp.Navigate(s.URL+"/stores"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="store-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`#name`), "production"),
		chromedp.Click(chromedp.CSS(`[data-testid="create-store"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="create-key-form"]`)),
	)
	p.Step("create a key",
		chromedp.SendKeys(chromedp.CSS(`#key_name`), "orders"),
		chromedp.Click(chromedp.CSS(`[data-testid="create-key"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="lifecycle"]`)),
	)
	first := p.Text(`[data-testid="material-row"] [data-testid="fingerprint"]`)
	p.Step("renew", chromedp.Click(chromedp.CSS(`[data-testid="renew"]`)), chromedp.WaitVisible(chromedp.CSS(`[data-testid="confirm-renew"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="confirm-renew"]`)), chromedp.WaitVisible(chromedp.CSS(`[data-testid="undo"]`)))
	current := p.Text(`[data-testid="material-row"][data-state="active"] [data-testid="fingerprint"]`)
	if current == first || len(current) != 6 {
		t.Fatalf("fingerprints: first %q, after renewal %q", first, current)
	}
	webtest.Screenshot(t, ctx, "key-renewed")
	p.Step("open export", chromedp.Click(chromedp.CSS(`[data-testid="export-link"]`)), chromedp.WaitVisible(chromedp.CSS(`[data-testid="export-rsa-form"]`)))
	if got := p.Text(`[data-testid="export-fingerprint"]`); got != current {
		t.Fatalf("export page fingerprint %q, key page %q", got, current)
	}
	priv, _ := rsa.GenerateKey(rand.Reader, 3072)
	der, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	pubPEM, _ := json.Marshal(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})))
	// The page's own form, posted as a click would, with the response read
	// as bytes (a download would land on disk instead).
	js := `(async () => {
		const f = document.querySelector('[data-testid="export-rsa-form"]');
		f.querySelector('#public_key').value = ` + string(pubPEM) + `;
		const r = await fetch(f.action, {method: "POST", body: new URLSearchParams(new FormData(f)), credentials: "same-origin"});
		const b = new Uint8Array(await r.arrayBuffer());
		let s = ""; for (const x of b) s += String.fromCharCode(x);
		return JSON.stringify({status: r.status, disposition: r.headers.get("content-disposition") || "", body: btoa(s)});
	})()`
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Status      int
		Disposition string
		Body        string
	}
	_ = json.Unmarshal([]byte(raw), &got)
	wrapped, _ := base64.StdEncoding.DecodeString(got.Body)
	if got.Status != 200 || !strings.Contains(got.Disposition, "attachment") {
		t.Fatalf("export answered %d %q", got.Status, got.Disposition)
	}
	material, err := rsa.DecryptOAEP(sha256.New(), nil, priv, wrapped, nil)
	if err != nil {
		t.Fatalf("unwrap the export with our private key: %v", err)
	}
	if fp, _ := keysvc.Fingerprint(material); fp != current {
		t.Fatalf("exported material has fingerprint %s, the pages show %s", fp, current)
	}
}
