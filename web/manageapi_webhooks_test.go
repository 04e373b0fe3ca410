package web_test

import (
	"net/http"
	"strings"
	"testing"
)

func TestManageAPIWebhooks(t *testing.T) {
	w := newManageWorld(t)
	// The full stack runs in development mode, which lets endpoints use
	// http and private addresses (keysvc/webhooks' tests refuse those
	// outside it, at registration and at connect time); a URL that is not
	// one is refused here too.
	for _, u := range []string{"ftp://hooks.example.com/x", "hooks.example.com/x", "https://user:pw@hooks.example.com/x"} {
		w.call(t, http.MethodPost, "/webhooks", w.adminA, map[string]any{"url": u, "events": []string{"key.rotated"}}).
			want(t, http.StatusBadRequest, "invalid_request")
	}
	w.call(t, http.MethodPost, "/webhooks", w.adminA, map[string]any{"url": "https://hooks.example.com/x", "events": []string{"key.exploded"}}).
		want(t, http.StatusBadRequest, "invalid_request")
	w.call(t, http.MethodPost, "/webhooks", w.auditorA, map[string]any{"url": "https://hooks.example.com/x", "events": []string{"key.rotated"}}).
		want(t, http.StatusForbidden, "forbidden")

	created := w.call(t, http.MethodPost, "/webhooks", w.adminA, map[string]any{"url": "https://hooks.example.com/keyport",
		"events": []string{"key.rotated", "member.added"}}).want(t, http.StatusCreated, "")
	id, secret := created.str("id"), created.str("secret")
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("created: %s", created.Raw)
	}
	got := w.call(t, http.MethodGet, "/webhooks/"+id, w.auditorA, nil).want(t, http.StatusOK, "")
	if strings.Contains(string(got.Raw), secret) || got.str("url") != "https://hooks.example.com/keyport" {
		t.Fatalf("get: %s", got.Raw)
	}
	if items := w.call(t, http.MethodGet, "/webhooks", w.adminA, nil).want(t, http.StatusOK, "").items(); len(items) != 1 {
		t.Fatalf("list: %v", items)
	}
	patched := w.call(t, http.MethodPatch, "/webhooks/"+id, w.adminA, map[string]any{"events": []string{"key.deactivated"}, "enabled": false}).
		want(t, http.StatusOK, "")
	if patched.Body["enabled"] != false || len(patched.Body["events"].([]any)) != 1 {
		t.Fatalf("patch: %s", patched.Raw)
	}
	w.call(t, http.MethodPatch, "/webhooks/"+id, w.adminA, map[string]any{"enabled": true}).want(t, http.StatusOK, "")
	rotated := w.call(t, http.MethodPost, "/webhooks/"+id+"/rotate-secret", w.adminA, nil).want(t, http.StatusOK, "")
	if s := rotated.str("secret"); !strings.HasPrefix(s, "whsec_") || s == secret {
		t.Fatalf("rotate: %s", rotated.Raw)
	}
	w.call(t, http.MethodPost, "/webhooks/"+id+"/test", w.adminA, nil).want(t, http.StatusAccepted, "")
	ds := w.call(t, http.MethodGet, "/webhooks/"+id+"/deliveries", w.adminA, nil).want(t, http.StatusOK, "").items()
	if len(ds) != 1 || ds[0]["event"] != "webhook.test" {
		t.Fatalf("deliveries: %v", ds)
	}

	// Another tenant sees and changes nothing.
	for _, c := range []struct{ method, path string }{
		{http.MethodGet, "/webhooks/" + id}, {http.MethodPatch, "/webhooks/" + id}, {http.MethodDelete, "/webhooks/" + id},
		{http.MethodPost, "/webhooks/" + id + "/test"}, {http.MethodPost, "/webhooks/" + id + "/rotate-secret"},
		{http.MethodGet, "/webhooks/" + id + "/deliveries"},
	} {
		var body any
		if c.method == http.MethodPatch {
			body = map[string]any{"enabled": false}
		}
		w.call(t, c.method, c.path, w.adminB, body).want(t, http.StatusNotFound, "not_found")
	}
	if got := w.call(t, http.MethodGet, "/webhooks/"+id, w.adminA, nil); got.Body["enabled"] != true {
		t.Fatalf("tenant B changed tenant A's webhook: %s", got.Raw)
	}
	w.call(t, http.MethodDelete, "/webhooks/"+id, w.adminA, nil).want(t, http.StatusNoContent, "")
	w.call(t, http.MethodGet, "/webhooks/"+id, w.adminA, nil).want(t, http.StatusNotFound, "not_found")
}
