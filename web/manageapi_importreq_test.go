package web_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"strings"
	"testing"
)

// Importing a tenant's own key over the management API: the request hands
// out a public key and a one-time token, the upload makes the key, and no
// answer ever carries a private key.
func TestManageAPIImportRequests(t *testing.T) {
	w := newManageKeysWorld(t)
	connA := w.roleConnection(t, w.adminA, "Prod role")
	storeID := w.call(t, http.MethodPost, "/stores", w.adminA, map[string]any{"name": "imports", "connection_id": connA}).
		want(t, http.StatusCreated, "").str("id")
	var answers []apiAnswer
	call := func(method, path, key string, body any, headers ...string) apiAnswer {
		t.Helper()
		a := w.call(t, method, path, key, body, headers...)
		answers = append(answers, a)
		return a
	}

	call(http.MethodPost, "/import-requests", w.adminA, `[]`).want(t, http.StatusBadRequest, "invalid_json")
	call(http.MethodPost, "/import-requests", w.adminA, map[string]any{"store_id": "kst_nope", "key_name": "x"}).want(t, http.StatusBadRequest, "invalid_request")
	call(http.MethodPost, "/import-requests", w.adminA, map[string]any{"store_id": storeID, "key_name": ""}).want(t, http.StatusBadRequest, "invalid_request")
	call(http.MethodPost, "/import-requests", w.auditorA, map[string]any{"store_id": storeID, "key_name": "x"}).want(t, http.StatusForbidden, "forbidden")

	body := map[string]any{"store_id": storeID, "key_name": "own key"}
	req := call(http.MethodPost, "/import-requests", w.adminA, body, "Idempotency-Key: imp-1").want(t, http.StatusCreated, "")
	replay := call(http.MethodPost, "/import-requests", w.adminA, body, "Idempotency-Key: imp-1").want(t, http.StatusCreated, "")
	if string(replay.Raw) != string(req.Raw) {
		t.Fatalf("replay made another request: %s", replay.Raw)
	}
	token, id := req.str("import_token"), req.str("id")
	if !strings.HasPrefix(token, "kpi_") || !strings.HasPrefix(id, "imp_") || req.str("wrapping") != "RSAES_OAEP_SHA_256" || req.str("state") != "open" {
		t.Fatalf("import request: %s", req.Raw)
	}
	block, _ := pem.Decode([]byte(req.str("public_key")))
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if got := call(http.MethodGet, "/import-requests", w.auditorA, nil).want(t, http.StatusOK, "").items(); len(got) != 1 || got[0]["id"] != id {
		t.Fatalf("list: %v", got)
	}
	one := call(http.MethodGet, "/import-requests/"+id, w.adminA, nil).want(t, http.StatusOK, "")
	if one.str("public_key") != req.str("public_key") || strings.Contains(string(one.Raw), token) {
		t.Fatalf("one: %s", one.Raw)
	}

	material := make([]byte, 32)
	rand.Read(material)
	wrapped, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub.(*rsa.PublicKey), material, nil)
	if err != nil {
		t.Fatal(err)
	}
	up := map[string]any{"import_token": token, "wrapped_key": base64.StdEncoding.EncodeToString(wrapped)}

	// Tenant B can neither read the request nor upload to it, even with
	// its token.
	missing := call(http.MethodGet, "/import-requests/imp_doesnotexist", w.adminB, nil).want(t, http.StatusNotFound, "not_found")
	sameAnswer(t, "another tenant's import request", call(http.MethodGet, "/import-requests/"+id, w.adminB, nil), missing)
	call(http.MethodPost, "/import-requests/"+id+"/upload", w.adminB, up).want(t, http.StatusNotFound, "not_found")
	if got := call(http.MethodGet, "/import-requests", w.adminB, nil).items(); len(got) != 0 {
		t.Fatalf("tenant B lists %v", got)
	}
	call(http.MethodPost, "/import-requests/"+id+"/upload", w.auditorA, up).want(t, http.StatusForbidden, "forbidden")
	call(http.MethodPost, "/import-requests/"+id+"/upload", w.adminA, map[string]any{"import_token": token + "x", "wrapped_key": up["wrapped_key"]}).
		want(t, http.StatusBadRequest, "invalid_request")
	if st := call(http.MethodGet, "/import-requests/"+id, w.adminA, nil).str("state"); st != "open" {
		t.Fatalf("after refusals the request is %s", st)
	}

	done := call(http.MethodPost, "/import-requests/"+id+"/upload", w.adminA, up).want(t, http.StatusCreated, "")
	if done.str("kind") != "create" || done.str("state") != "done" {
		t.Fatalf("upload: %s", done.Raw)
	}
	k := call(http.MethodGet, "/keys/"+done.str("key_id"), w.adminA, nil).want(t, http.StatusOK, "")
	if k.str("kind") != "imported" || k.str("state") != "ENABLED" || k.str("name") != "own key" {
		t.Fatalf("imported key: %s", k.Raw)
	}
	call(http.MethodPost, "/import-requests/"+id+"/upload", w.adminA, up).want(t, http.StatusBadRequest, "invalid_request") // used once
	if got := call(http.MethodGet, "/import-requests/"+id, w.adminA, nil); got.str("state") != "used" || got.str("key_id") != done.str("key_id") {
		t.Fatalf("after upload: %s", got.Raw)
	}

	for _, a := range answers {
		if strings.Contains(string(a.Raw), "PRIVATE KEY") || strings.Contains(string(a.Raw), base64.StdEncoding.EncodeToString(material)) {
			t.Fatalf("an answer carries private material: %s", a.Raw)
		}
	}
	acts := strings.Join(w.s.auditActions(t, w.tenantA), "\n")
	if !strings.Contains(acts, "import_request.created") || !strings.Contains(acts, "import_request.used") {
		t.Errorf("audit lacks the import: %s", acts)
	}
}
