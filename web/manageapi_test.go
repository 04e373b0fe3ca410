package web_test

import (
	"net/http"
	"sort"
	"strings"
	"testing"

	"keyport/handlers/manageapi"
)

// The document and the routes are built from one table; this checks that
// both ways over what the server actually serves, so a route added beside
// the table, or an operation whose route was lost, fails.
func TestManageAPIRoutesMatchDocument(t *testing.T) {
	w := newManageWorld(t)
	served := map[string]bool{}
	for _, r := range w.s.Echo.Routes() {
		p, ok := strings.CutPrefix(r.Path, manageapi.BasePath)
		if !ok || r.Method == echoRouteNotFound || p == "/*" || p == "" {
			continue
		}
		served[r.Method+" "+manageapi.OpenAPIPath(p)] = true
	}
	documented := map[string]bool{}
	for path, item := range w.doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	var missing []string
	for k := range served {
		if !documented[k] {
			missing = append(missing, "served but not documented: "+k)
		}
	}
	for k := range documented {
		if !served[k] {
			missing = append(missing, "documented but not served: "+k)
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Error(m)
	}
	if len(documented) < 7 {
		t.Errorf("only %d operations documented", len(documented))
	}
	t.Logf("METRIC manageapi_document operations=%d served=%d mismatches=%d", len(documented), len(served), len(missing))
}

func TestManageAPIAuthentication(t *testing.T) {
	w := newManageWorld(t)
	w.call(t, http.MethodGet, "/connections", "", nil).want(t, http.StatusUnauthorized, "unauthorized")
	w.call(t, http.MethodGet, "/connections", "kpa_kak_nosuchkey_"+strings.Repeat("A", 43), nil).want(t, http.StatusUnauthorized, "unauthorized")
	w.call(t, http.MethodGet, "/connections", w.adminA+"x", nil).want(t, http.StatusUnauthorized, "unauthorized")
	w.call(t, http.MethodGet, "/connections", w.adminA, nil).want(t, http.StatusOK, "")
	// An auditor reads but may not change.
	w.call(t, http.MethodGet, "/connections", w.auditorA, nil).want(t, http.StatusOK, "")
	w.call(t, http.MethodPost, "/connections", w.auditorA, map[string]any{"name": "x", "kind": "role", "role_arn": awsRoleARN}).
		want(t, http.StatusForbidden, "forbidden")
	// A revoked key stops at once.
	k := w.apiKey(t, w.tenantA, w.ownerA, "short-lived", "admin")
	w.call(t, http.MethodGet, "/connections", k, nil).want(t, http.StatusOK, "")
	id := strings.SplitN(strings.TrimPrefix(k, "kpa_"), "_", 3)
	if err := w.s.Keys.RevokeAPIKey(t.Context(), w.tenantA, byUser(w.ownerA), id[0]+"_"+id[1]); err != nil {
		t.Fatal(err)
	}
	w.call(t, http.MethodGet, "/connections", k, nil).want(t, http.StatusUnauthorized, "unauthorized")
	// The document needs no key.
	res, err := http.Get(w.s.URL + manageapi.BasePath + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("openapi.json: %d", res.StatusCode)
	}
}

func TestManageAPIConnections(t *testing.T) {
	w := newManageWorld(t)
	// Malformed JSON and unknown fields are 400.
	w.call(t, http.MethodPost, "/connections", w.adminA, `{"name":`).want(t, http.StatusBadRequest, "invalid_json")
	w.call(t, http.MethodPost, "/connections", w.adminA, map[string]any{"name": "x", "kind": "role", "colour": "red"}).
		want(t, http.StatusBadRequest, "invalid_json")
	w.call(t, http.MethodPost, "/connections", w.adminA, map[string]any{"name": "x", "kind": "magic"}).
		want(t, http.StatusBadRequest, "invalid_request")

	// An access-key connection: the secret is never echoed; the account id
	// is accepted as the console prints it.
	created := w.call(t, http.MethodPost, "/connections", w.adminA, map[string]any{"name": "Prod user", "kind": "access_key",
		"account_id": awsTenantAcct[:4] + "-" + awsTenantAcct[4:8] + "-" + awsTenantAcct[8:], "region": awsRegion,
		"access_key_id": awsUserAKID, "secret_access_key": awsUserSecret}).want(t, http.StatusCreated, "")
	if strings.Contains(string(created.Raw), awsUserSecret) {
		t.Fatal("the secret came back")
	}
	connID := created.str("id")
	if created.str("account_id") != awsTenantAcct || created.str("access_key_last4") != awsUserAKID[16:] {
		t.Fatalf("created %s", created.Raw)
	}
	test := w.call(t, http.MethodPost, "/connections/"+connID+"/test", w.adminA, nil).want(t, http.StatusOK, "")
	if test.Body["ok"] != true {
		t.Fatalf("test: %s", test.Raw)
	}
	// A role connection names the external id its trust policy needs.
	role := w.call(t, http.MethodPost, "/connections", w.adminA, map[string]any{"name": "Prod role", "kind": "role", "role_arn": awsRoleARN}).
		want(t, http.StatusCreated, "")
	if role.str("external_id") == "" || role.str("kind") != "role" {
		t.Fatalf("role connection: %s", role.Raw)
	}

	// Rotating the secret: a wrong one is tested and refused, the old one
	// stays and still works.
	bad := w.call(t, http.MethodPatch, "/connections/"+connID, w.adminA, map[string]any{"secret_access_key": strings.Repeat("x", 40)}).
		want(t, http.StatusUnprocessableEntity, "connection_test_failed")
	if strings.Contains(string(bad.Raw), strings.Repeat("x", 40)) {
		t.Fatal("the refused secret came back")
	}
	w.call(t, http.MethodPost, "/connections/"+connID+"/test", w.adminA, nil).want(t, http.StatusOK, "")
	w.call(t, http.MethodPatch, "/connections/"+connID, w.adminA, map[string]any{"secret_access_key": awsUserSecret, "name": "Prod user 2"}).
		want(t, http.StatusOK, "")
	if got := w.call(t, http.MethodGet, "/connections/"+connID, w.adminA, nil).want(t, http.StatusOK, ""); got.str("name") != "Prod user 2" {
		t.Fatalf("after rename: %s", got.Raw)
	}

	// Another tenant's connection is a 404 exactly like a missing one.
	other := w.call(t, http.MethodGet, "/connections/"+connID, w.adminB, nil).want(t, http.StatusNotFound, "not_found")
	missing := w.call(t, http.MethodGet, "/connections/con_doesnotexist", w.adminB, nil).want(t, http.StatusNotFound, "not_found")
	if string(other.Raw) != string(missing.Raw) {
		t.Fatalf("another tenant's connection answers %s, a missing one %s", other.Raw, missing.Raw)
	}
	w.call(t, http.MethodDelete, "/connections/"+connID, w.adminB, nil).want(t, http.StatusNotFound, "not_found")
	w.call(t, http.MethodPatch, "/connections/"+connID, w.adminB, map[string]any{"name": "mine"}).want(t, http.StatusNotFound, "not_found")

	// Paging: one per page walks both, then stops.
	p1 := w.call(t, http.MethodGet, "/connections?limit=1", w.adminA, nil).want(t, http.StatusOK, "")
	if len(p1.items()) != 1 || p1.str("next_cursor") == "" {
		t.Fatalf("page 1: %s", p1.Raw)
	}
	p2 := w.call(t, http.MethodGet, "/connections?limit=1&cursor="+p1.str("next_cursor"), w.adminA, nil).want(t, http.StatusOK, "")
	if len(p2.items()) != 1 || p2.str("next_cursor") != "" || p2.items()[0]["id"] == p1.items()[0]["id"] {
		t.Fatalf("page 2: %s", p2.Raw)
	}
	w.call(t, http.MethodGet, "/connections?limit=501", w.adminA, nil).want(t, http.StatusBadRequest, "invalid_request")
	w.call(t, http.MethodGet, "/connections?cursor=!!", w.adminA, nil).want(t, http.StatusBadRequest, "invalid_request")

	w.call(t, http.MethodDelete, "/connections/"+connID, w.adminA, nil).want(t, http.StatusNoContent, "")
	w.call(t, http.MethodGet, "/connections/"+connID, w.adminA, nil).want(t, http.StatusNotFound, "not_found")
	acts := strings.Join(w.s.auditActions(t, w.tenantA), " ")
	for _, a := range []string{"connection.created", "connection.tested", "connection.updated", "connection.deleted", "api_key.created"} {
		if !strings.Contains(acts, a) {
			t.Errorf("no %s in the audit log: %s", a, acts)
		}
	}
}

func TestManageAPIIdempotency(t *testing.T) {
	w := newManageWorld(t)
	body := map[string]any{"name": "Once", "kind": "role", "role_arn": awsRoleARN}
	first := w.call(t, http.MethodPost, "/connections", w.adminA, body, "Idempotency-Key: create-once-1").want(t, http.StatusCreated, "")
	again := w.call(t, http.MethodPost, "/connections", w.adminA, body, "Idempotency-Key: create-once-1").want(t, http.StatusCreated, "")
	if string(first.Raw) != string(again.Raw) || again.Header.Get("Idempotency-Replayed") != "true" {
		t.Fatalf("replay answered %s (replayed %q), first %s", again.Raw, again.Header.Get("Idempotency-Replayed"), first.Raw)
	}
	list := w.call(t, http.MethodGet, "/connections", w.adminA, nil).want(t, http.StatusOK, "")
	if n := len(list.items()); n != 1 {
		t.Fatalf("%d connections after a replay, want 1", n)
	}
	// The same key for another request is refused; another API key has its
	// own keys.
	w.call(t, http.MethodPost, "/connections", w.adminA, map[string]any{"name": "Twice", "kind": "role", "role_arn": awsRoleARN},
		"Idempotency-Key: create-once-1").want(t, http.StatusUnprocessableEntity, "idempotency_key_reused")
	w.call(t, http.MethodPost, "/connections", w.adminB, body, "Idempotency-Key: create-once-1").want(t, http.StatusCreated, "")
	// A refused request is recorded too: its replay is the same refusal.
	dup := w.call(t, http.MethodPost, "/connections", w.adminA, body, "Idempotency-Key: dup-1")
	if dup.Status != http.StatusConflict && dup.Status != http.StatusBadRequest {
		t.Fatalf("a duplicate name answered %d %s", dup.Status, dup.Raw)
	}
	if again := w.call(t, http.MethodPost, "/connections", w.adminA, body, "Idempotency-Key: dup-1"); string(again.Raw) != string(dup.Raw) {
		t.Fatalf("replayed refusal %s, first %s", again.Raw, dup.Raw)
	}
}
