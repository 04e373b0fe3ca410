package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"keyport/web/webtest"
)

// TestBrowserDataAPIWalkthrough is README's walkthrough, proven: an operator
// registers the demo key, creates a service token on the page, encrypts and
// decrypts through the data API with it, and sees the use counted on the
// key page.
func TestBrowserDataAPIWalkthrough(t *testing.T) {
	ctx := webtest.Browser(t, 150*time.Second)
	base := startDev(t, map[string]string{"KEYPORT_OPERATORS": "ops@demo.test"})
	p := webtest.Page{T: t, Ctx: ctx, Prefix: "dataapi-"}

	p.Step("sign in as operator", then(signIn(base, "ops@demo.test", ""), actions{
		chromedp.WaitVisible(chromedp.CSS(`a[href="/provider/tokens"]`)),
		chromedp.Navigate(base + "/connections/new"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="demo-aws"]`)),
	})...)
	account, akid, secret := p.Text(`[data-testid="demo-account"]`), p.Text(`[data-testid="demo-akid"]`), p.Text(`[data-testid="demo-secret"]`)
	p.Step("connect and register the demo key",
		chromedp.SendKeys(chromedp.CSS(`#name`), "demo"),
		chromedp.SendKeys(chromedp.CSS(`#account_id`), account),
		chromedp.Click(chromedp.CSS(`[data-testid="kind-access-key"]`)),
		chromedp.SendKeys(chromedp.CSS(`#access_key_id`), akid),
		chromedp.SendKeys(chromedp.CSS(`#secret_access_key`), secret),
		chromedp.Click(chromedp.CSS(`[data-testid="save-connection"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="register-with"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="register-with"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="submit-register"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="submit-register"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="key-id"]`)),
	)
	keyURL, _ := chromedp.Run(ctx, chromedp.Location())
	keyID := p.Text(`[data-testid="key-id"]`)

	p.Step("open the token page",
		chromedp.Navigate(base+"/provider/tokens"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="tokens-empty"]`)),
	)
	p.Step("create a service token",
		chromedp.SendKeys(chromedp.CSS(`#token-name`), "walkthrough"),
		chromedp.SetValue(chromedp.CSS(`#token-tenant`), tenantOption(t, ctx)),
		chromedp.Click(chromedp.CSS(`[data-testid="create-token"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="token-value"]`)),
	)
	token := p.Text(`[data-testid="token-value"]`)
	if !strings.HasPrefix(token, "kpt_") {
		t.Fatalf("token shown = %.12q…", token)
	}
	// Shown once: the list afterwards never carries it.
	p.Step("reload the token list", chromedp.Navigate(base+"/provider/tokens"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="tokens"]`)))
	if html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS(`body`))); strings.Contains(html, token) {
		t.Error("the token is shown again after creation")
	}

	enc := apiCall(t, base, token, "/api/v1/encrypt", map[string]any{"key_id": keyID, "plaintext": "aGVsbG8=", "context": map[string]string{"field": "demo"}})
	dec := apiCall(t, base, token, "/api/v1/decrypt", map[string]any{"ciphertext": enc["ciphertext"], "context": map[string]string{"field": "demo"}})
	if dec["plaintext"] != "aGVsbG8=" {
		t.Fatalf("decrypt gave %v", dec)
	}

	// Use counts are written in batches every few seconds.
	deadline := time.Now().Add(20 * time.Second)
	for {
		p.Step("open the key page", chromedp.Navigate(keyURL), chromedp.WaitVisible(chromedp.CSS(`[data-testid="key-usage"]`)))
		usage := strings.Join(strings.Fields(p.Text(`[data-testid="key-usage"]`)), " ")
		if strings.Contains(usage, "Encrypts 1 Decrypts 1") {
			break
		}
		if time.Now().After(deadline) {
			webtest.Screenshot(t, ctx, "dataapi-usage")
			t.Fatalf("the key page never counted the encrypt: %q", p.Text(`[data-testid="key-usage"]`))
		}
		time.Sleep(time.Second)
	}
	webtest.Screenshot(t, ctx, "dataapi-key-usage")
}

// tenantOption is the value of the operator's own tenant in the token form.
func tenantOption(t *testing.T, ctx context.Context) string {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(sctx, chromedp.AttributeValue(chromedp.CSS(`#token-tenant option:nth-child(2)`), "value"))
	if err != nil || !v.Exists || v.Value == "" {
		t.Fatalf("no tenant to choose in the token form: %v", err)
	}
	return v.Value
}

func apiCall(t *testing.T, base, token, path string, body any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("%s: %d %v %v", path, res.StatusCode, out, err)
	}
	return out
}
