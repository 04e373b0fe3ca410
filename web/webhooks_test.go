package web_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"keyport/handlers"
	"keyport/models"
	"keyport/web/devidp"
)

// hookReceiver is a real TLS webhook receiver that verifies each
// signature with its own HMAC code and keeps the event types it accepted.
type hookReceiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	secret string
	types  []string
	bad    int
}

func newHookReceiver(t *testing.T, s *stack) *hookReceiver {
	t.Helper()
	rc := &hookReceiver{}
	rc.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(rc.secret, "whsec_"))
		m := hmac.New(sha256.New, key)
		m.Write([]byte(r.Header.Get("webhook-id") + "." + r.Header.Get("webhook-timestamp") + "." + string(body)))
		var ev struct{ Type string }
		if !hmac.Equal([]byte(r.Header.Get("webhook-signature")), []byte("v1,"+base64.StdEncoding.EncodeToString(m.Sum(nil)))) ||
			json.Unmarshal(body, &ev) != nil {
			rc.bad++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		rc.types = append(rc.types, ev.Type)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.srv.Close)
	s.HookCAs.AddCert(rc.srv.Certificate())
	return rc
}

var secretField = regexp.MustCompile(`data-testid="webhook-secret"[^>]*value="([^"]*)"|value="([^"]*)"[^>]*data-testid="webhook-secret"`)

// pageSecret is the secret a page shows once, or "".
func pageSecret(page string) string {
	m := secretField.FindStringSubmatch(page)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1] + m[2])
}

// TestWebhookPages: an owner registers an endpoint on the page (the secret
// shows once), sends a test event, removes a member through the members
// page, and sees both deliveries with their attempts; the receiver
// verified every signature. Development mode: the receiver is on loopback.
func TestWebhookPages(t *testing.T) {
	s := newStack(t, func(c *handlers.Config) { c.Dev = true })
	rc := newHookReceiver(t, s)
	ob := newBrowser(t)
	s.signIn(t, ob, alice)
	tenant := s.tenantOf(t, alice)

	_, page := ob.get(t, s.URL+"/webhooks")
	if !strings.Contains(page, `data-testid="webhook-form"`) || !strings.Contains(page, `aria-current="page">Webhooks`) {
		t.Fatal("no webhook form or nav link for the owner")
	}
	token := csrfToken(t, page)
	// Bad input re-renders the form with the error and creates nothing.
	res, page := ob.post(t, s.URL+"/webhooks", url.Values{"csrf_token": {token}, "url": {"ftp://files.example.com/"}, "events": {"webhook.test"}}, nil)
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, `data-testid="error-url"`) {
		t.Fatalf("an ftp URL: %d", res.StatusCode)
	}
	res, page = ob.post(t, s.URL+"/webhooks", url.Values{"csrf_token": {token}, "url": {rc.srv.URL + "/hook"},
		"events": {models.WebhookMemberRemoved, models.WebhookTest}}, nil)
	secret := pageSecret(page)
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("create: %d, secret shown: %t", res.StatusCode, secret != "")
	}
	rc.secret = secret
	eps, err := s.Hooks.List(context.Background(), tenant)
	if err != nil || len(eps) != 1 {
		t.Fatalf("endpoints %v, %v", eps, err)
	}
	id := eps[0].ID
	// Shown once: neither the list nor the endpoint's page shows it again.
	for _, u := range []string{"/webhooks", "/webhooks/" + id} {
		if _, page := ob.get(t, s.URL+u); strings.Contains(page, strings.TrimPrefix(secret, "whsec_")) || pageSecret(page) != "" {
			t.Errorf("%s shows the secret after creation", u)
		}
	}

	// Send test event, then a real change: the owner removes a member.
	_, page = ob.get(t, s.URL+"/webhooks/"+id)
	res, _ = ob.post(t, s.URL+"/webhooks/"+id+"/test", url.Values{"csrf_token": {csrfToken(t, page)}}, nil)
	if res.Request.URL.RawQuery != "done=test" {
		t.Fatalf("send test ended at %s", res.Request.URL)
	}
	bob := devidp.Identity{Email: "bob@partner.test", Name: "Bob", EmailVerified: true}
	if err := s.DB.AddMember(context.Background(), tenant, s.userID(t, bob), models.RoleAuditor, "", models.AuditInput{Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	if res, _ := s.memberPost(t, ob, "/members/"+s.userID(t, bob)+"/remove", nil); res.Request.URL.RawQuery != "done=removed" {
		t.Fatalf("remove ended at %s", res.Request.URL)
	}
	if _, err := s.Jobs.RunDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	rc.mu.Lock()
	got, bad := strings.Join(rc.types, " "), rc.bad
	rc.mu.Unlock()
	if bad != 0 || !strings.Contains(got, models.WebhookTest) || !strings.Contains(got, models.WebhookMemberRemoved) {
		t.Fatalf("receiver verified %q, refused %d", got, bad)
	}

	_, page = ob.get(t, s.URL+"/webhooks/"+id)
	if n := strings.Count(page, `data-testid="webhook-delivery" data-state="delivered"`); n != 2 {
		t.Errorf("detail page shows %d delivered deliveries, want 2", n)
	}
	if n := strings.Count(page, `data-testid="webhook-attempt" data-status="204"`); n != 2 {
		t.Errorf("detail page shows %d attempts answered 204, want 2", n)
	}

	// Rotating shows the new secret once; disabling and deleting work.
	res, page = ob.post(t, s.URL+"/webhooks/"+id+"/rotate-secret", url.Values{"csrf_token": {csrfToken(t, page)}}, nil)
	if s2 := pageSecret(page); res.StatusCode != http.StatusOK || !strings.HasPrefix(s2, "whsec_") || s2 == secret {
		t.Fatalf("rotate: %d", res.StatusCode)
	}
	_, page = ob.get(t, s.URL+"/webhooks/"+id)
	if pageSecret(page) != "" {
		t.Error("the rotated secret shows again")
	}
	res, page = ob.post(t, s.URL+"/webhooks/"+id+"/enabled", url.Values{"csrf_token": {csrfToken(t, page)}, "enabled": {"false"}}, nil)
	if res.Request.URL.RawQuery != "done=disabled" || !strings.Contains(page, `data-testid="enable-webhook"`) {
		t.Fatalf("disable ended at %s", res.Request.URL)
	}
	_, page = ob.get(t, s.URL+"/webhooks/"+id+"/delete")
	if !strings.Contains(page, `data-testid="confirm-delete-webhook"`) {
		t.Fatal("no delete confirmation")
	}
	res, page = ob.post(t, s.URL+"/webhooks/"+id+"/delete", url.Values{"csrf_token": {csrfToken(t, page)}}, nil)
	if res.Request.URL.RawQuery != "done=deleted" || !strings.Contains(page, `data-testid="webhooks-empty"`) {
		t.Fatalf("delete ended at %s", res.Request.URL)
	}
	acts := strings.Join(s.auditActions(t, tenant), "\n")
	for _, a := range []string{"webhook.endpoint_created", "webhook.test_sent", "webhook.secret_rotated", "webhook.endpoint_updated", "webhook.endpoint_deleted"} {
		if !strings.Contains(acts, a+":") {
			t.Errorf("no %s audit event", a)
		}
	}
	if strings.Contains(acts, strings.TrimPrefix(secret, "whsec_")) || strings.Contains(s.Logs.String(), strings.TrimPrefix(secret, "whsec_")) {
		t.Error("the secret reached the audit log or the server log")
	}
}
