package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"keyport/web/webtest"
)

// TestBrowserWebhooks: in `keyport dev` an owner registers a receiver on
// this machine (development mode allows it), copies the secret shown once,
// sends a test event, and the process's own job worker delivers it, signed
// (checked by the receiver's own HMAC code); the endpoint's page then
// shows the delivery with its attempt.
func TestBrowserWebhooks(t *testing.T) {
	ctx := webtest.Browser(t, 120*time.Second)
	base := startDev(t, nil)
	var mu sync.Mutex
	secret := ""
	got := make(chan string, 4)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
		mu.Unlock()
		m := hmac.New(sha256.New, key)
		m.Write([]byte(r.Header.Get("webhook-id") + "." + r.Header.Get("webhook-timestamp") + "." + string(body)))
		var ev struct{ Type string }
		if !hmac.Equal([]byte(r.Header.Get("webhook-signature")), []byte("v1,"+base64.StdEncoding.EncodeToString(m.Sum(nil)))) ||
			json.Unmarshal(body, &ev) != nil {
			got <- "bad signature"
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		got <- ev.Type
		w.WriteHeader(http.StatusOK)
	}))
	defer rcv.Close()
	p := webtest.Page{T: t, Ctx: ctx, Prefix: "webhooks-"}

	p.Step("owner signs in", then(signIn(base, "carol@acme.test", "Carol Owner"),
		actions{chromedp.WaitVisible(chromedp.CSS(`[data-testid="dashboard"]`))})...)
	p.Step("register an endpoint",
		chromedp.Click(chromedp.CSS(`nav.mainnav a[href="/webhooks"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="webhook-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`#webhook-url`), rcv.URL+"/hook"),
		chromedp.Click(chromedp.CSS(`input[name="events"][value="webhook.test"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="create-webhook"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="webhook-secret"]`)),
	)
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="webhook-secret"]').value`))
	if err != nil || !strings.HasPrefix(s, "whsec_") {
		t.Fatalf("secret field = %q..., %v", s[:min(len(s), 6)], err)
	}
	mu.Lock()
	secret = s
	mu.Unlock()
	p.Step("send a test event",
		chromedp.Click(chromedp.CSS(`[data-testid="created-endpoint-link"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="send-test"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="send-test"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="webhook-delivery"]`)),
	)
	if p.Count(`[data-testid="webhook-secret"]`) != 0 {
		t.Error("the endpoint's page shows the secret again")
	}
	select {
	case typ := <-got:
		if typ != "webhook.test" {
			t.Fatalf("receiver got %q", typ)
		}
	case <-time.After(30 * time.Second): // the worker polls every second; this only bounds a hang
		t.Fatal("the test event never arrived")
	}
	// The attempt commits right after the receiver answered: reload until
	// the page shows it.
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	for i := 0; ; i++ {
		p.Step("reload", chromedp.Navigate(loc), chromedp.WaitVisible(chromedp.CSS(`[data-testid="webhook-delivery"]`)))
		if p.Count(`[data-testid="webhook-delivery"][data-state="delivered"] [data-testid="webhook-attempt"][data-status="200"]`) == 1 {
			break
		}
		if i == 50 {
			webtest.Screenshot(t, ctx, "webhooks-not-delivered")
			t.Fatal("the page never showed the delivery as delivered")
		}
		time.Sleep(200 * time.Millisecond)
	}
}
