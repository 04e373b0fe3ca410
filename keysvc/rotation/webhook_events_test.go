package rotation_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"keyport/keysvc/rotation"
	"keyport/keysvc/webhooks"
	"keyport/models"
)

// TestRotationRaisesWebhooks: a scheduled rotation's notice falling due
// and the rotation itself reach a real TLS receiver as notice.due and
// key.rotated, signed (checked by the receiver's own HMAC code).
func TestRotationRaisesWebhooks(t *testing.T) {
	e := newSchedEnv(t, time.Date(2027, 1, 4, 9, 30, 0, 0, time.UTC))
	ctx := context.Background()
	var mu sync.Mutex
	var secret string
	var types []string
	bad := 0
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
		m := hmac.New(sha256.New, key)
		m.Write([]byte(r.Header.Get("webhook-id") + "." + r.Header.Get("webhook-timestamp") + "." + string(body)))
		var ev struct{ Type string }
		if r.Header.Get("webhook-signature") != "v1,"+base64.StdEncoding.EncodeToString(m.Sum(nil)) || json.Unmarshal(body, &ev) != nil {
			bad++
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		types = append(types, ev.Type)
	}))
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())

	k := e.Key(t, "payments")
	w, s, _ := e.process("p1")
	hooks := webhooks.New(webhooks.Options{DB: e.DB, Sealer: e.Sealer, Logger: quiet, Dev: true, Now: e.Clock.Now, RootCAs: pool})
	hooks.Register(w)
	_, sec, err := hooks.CreateEndpoint(ctx, e.Tenant.ID, e.owner(), srv.URL, []string{models.WebhookNoticeDue, models.WebhookKeyRotated})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	secret = sec
	mu.Unlock()
	if _, err := s.SetPolicy(ctx, e.Tenant.ID, k.ID, e.owner(), rotation.PolicyInput{PeriodDays: "40", NoticeDays: "30", Automatic: true,
		WindowStartHour: "2", WindowHours: "3"}); err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(10*24*time.Hour + 17*time.Hour) // past the 30-day notice
	w.Tick(ctx)
	w.RunDue(ctx)
	w.RunDue(ctx) // deliveries queued by the notice job
	mu.Lock()
	got := slices.Clone(types)
	mu.Unlock()
	if !slices.Contains(got, models.WebhookNoticeDue) {
		t.Fatalf("after the notice the receiver has %v", got)
	}
	e.Clock.Advance(30 * 24 * time.Hour) // past the rotation
	w.Tick(ctx)
	w.RunDue(ctx)
	w.RunDue(ctx)
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(types, models.WebhookKeyRotated) || bad != 0 {
		t.Fatalf("after the rotation the receiver has %v (%d refused)", types, bad)
	}
}
