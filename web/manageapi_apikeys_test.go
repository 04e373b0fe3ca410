package web_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestManageAPIKeys(t *testing.T) {
	w := newManageWorld(t)
	// Bad input and roles.
	w.call(t, http.MethodPost, "/api-keys", w.adminA, map[string]any{"name": "ci", "role": "owner"}).want(t, http.StatusBadRequest, "invalid_request")
	w.call(t, http.MethodPost, "/api-keys", w.adminA, map[string]any{"name": "ci", "role": "admin", "expires_in_days": 366}).want(t, http.StatusBadRequest, "invalid_request")
	w.call(t, http.MethodPost, "/api-keys", w.adminA, map[string]any{"name": "ci", "role": "admin", "expires_in_days": 0}).want(t, http.StatusBadRequest, "invalid_request")
	w.call(t, http.MethodPost, "/api-keys", w.adminA, map[string]any{"name": "", "role": "admin"}).want(t, http.StatusBadRequest, "invalid_request")
	w.call(t, http.MethodPost, "/api-keys", w.adminA, map[string]any{"name": "ci", "role": "admin", "secret": "mine"}).want(t, http.StatusBadRequest, "invalid_json")
	w.call(t, http.MethodPost, "/api-keys", w.auditorA, map[string]any{"name": "ci", "role": "auditor"}).want(t, http.StatusForbidden, "forbidden")
	w.call(t, http.MethodGet, "/api-keys", w.auditorA, nil).want(t, http.StatusForbidden, "forbidden")

	// Created: shown once, default 90 days; a replay answers the same key
	// and makes no second one.
	body := map[string]any{"name": "deploy bot", "role": "auditor"}
	created := w.call(t, http.MethodPost, "/api-keys", w.adminA, body, "Idempotency-Key: key-1").want(t, http.StatusCreated, "")
	replay := w.call(t, http.MethodPost, "/api-keys", w.adminA, body, "Idempotency-Key: key-1").want(t, http.StatusCreated, "")
	secret := created.str("api_key")
	if !strings.HasPrefix(secret, "kpa_") || string(replay.Raw) != string(created.Raw) || created.str("state") != "active" ||
		created.str("created_by") != w.ownerA {
		t.Fatalf("created %s, replay %s", created.Raw, replay.Raw)
	}
	exp, _ := time.Parse(time.RFC3339, created.str("expires_at"))
	if d := exp.Sub(w.s.Clock.Now()); d < 89*24*time.Hour || d > 91*24*time.Hour {
		t.Fatalf("expires in %v, want 90 days", d)
	}
	// The new key works, with its role.
	w.call(t, http.MethodGet, "/connections", secret, nil).want(t, http.StatusOK, "")
	w.call(t, http.MethodPost, "/api-keys", secret, map[string]any{"name": "x", "role": "admin"}).want(t, http.StatusForbidden, "forbidden")

	// Listed without secrets; tenant B sees none of A's.
	list := w.call(t, http.MethodGet, "/api-keys", w.adminA, nil).want(t, http.StatusOK, "")
	if len(list.items()) != 3 || strings.Contains(string(list.Raw), secret[len(secret)-43:]) || strings.Contains(string(list.Raw), "api_key\"") {
		t.Fatalf("list: %s", list.Raw)
	}
	listB := w.call(t, http.MethodGet, "/api-keys", w.adminB, nil).want(t, http.StatusOK, "")
	if len(listB.items()) != 1 || strings.Contains(string(listB.Raw), "deploy bot") {
		t.Fatalf("tenant B's list: %s", listB.Raw)
	}

	// Revoking: another tenant finds nothing and changes nothing.
	id := created.str("id")
	missing := w.call(t, http.MethodDelete, "/api-keys/kak_nosuch", w.adminB, nil).want(t, http.StatusNotFound, "not_found")
	cross := w.call(t, http.MethodDelete, "/api-keys/"+id, w.adminB, nil).want(t, http.StatusNotFound, "not_found")
	if string(missing.Raw) != string(cross.Raw) {
		t.Fatalf("cross %s, missing %s", cross.Raw, missing.Raw)
	}
	w.call(t, http.MethodDelete, "/api-keys/"+id, w.auditorA, nil).want(t, http.StatusForbidden, "forbidden")
	w.call(t, http.MethodGet, "/connections", secret, nil).want(t, http.StatusOK, "")
	w.call(t, http.MethodDelete, "/api-keys/"+id, w.adminA, nil).want(t, http.StatusNoContent, "")
	w.call(t, http.MethodDelete, "/api-keys/"+id, w.adminA, nil).want(t, http.StatusNoContent, "")
	w.call(t, http.MethodGet, "/connections", secret, nil).want(t, http.StatusUnauthorized, "unauthorized")
	for _, it := range w.call(t, http.MethodGet, "/api-keys", w.adminA, nil).want(t, http.StatusOK, "").items() {
		if it["id"] == id && (it["state"] != "revoked" || it["revoked_at"] == nil) {
			t.Fatalf("revoked key listed as %v", it)
		}
	}
	evs := w.keyEvents(t, w.tenantA, w.adminA)
	for _, a := range []string{"api_key.created", "api_key.revoked"} {
		if _, ok := evs[a]; !ok {
			t.Errorf("no %s by the API key", a)
		}
	}
	// The secret is nowhere in the server's log.
	if strings.Contains(w.s.Logs.String(), secret[len(secret)-43:]) {
		t.Fatal("the new key's secret is in the log")
	}
}
