package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"keyport/models"
)

// newManageKeysWorld is newManageWorld whose lifecycle operations and
// renewals run through the scheduler's worker, as cmd/keyport wires them,
// with kmslocal's small import wrapping key (RSA_4096 is slow under -race).
func newManageKeysWorld(t *testing.T) *manageWorld {
	t.Helper()
	w := newManageWorld(t)
	w.s.Managed.AttachWorker(w.s.Rot.Worker)
	w.s.Rot.SetRotator(models.ModeGenerated, w.s.Managed)
	w.s.Rot.SetRotator(models.ModeImported, w.s.Managed)
	w.s.Managed.PreferWrappingKeySpec("RSA_2048")
	return w
}

// accessKeyConnection adds the tenant account's IAM user as a connection
// of the API key's tenant and returns its id.
func (w *manageWorld) accessKeyConnection(t *testing.T, key, name string) string {
	t.Helper()
	return w.call(t, http.MethodPost, "/connections", key, map[string]any{"name": name, "kind": "access_key", "account_id": awsTenantAcct,
		"region": awsRegion, "access_key_id": awsUserAKID, "secret_access_key": awsUserSecret}).want(t, http.StatusCreated, "").str("id")
}

// roleConnection adds the tenant account's role as a connection.
func (w *manageWorld) roleConnection(t *testing.T, key, name string) string {
	t.Helper()
	return w.call(t, http.MethodPost, "/connections", key, map[string]any{"name": name, "kind": "role", "role_arn": awsRoleARN}).
		want(t, http.StatusCreated, "").str("id")
}

// registerAPIKey registers a fresh KMS key of the tenant account through
// the API and returns its keyport id and ARN.
func (w *manageWorld) registerAPIKey(t *testing.T, key, conn, name string) (string, string) {
	t.Helper()
	arn := w.s.tenantKMSKey(t, "")
	got := w.call(t, http.MethodPost, "/keys", key, map[string]any{"name": name, "connection_id": conn, "key_arns": []string{arn}}).
		want(t, http.StatusCreated, "")
	return got.str("id"), arn
}

// kmsKeyState is the state kmslocal holds for arn, read as the tenant
// account's admin.
func (w *manageWorld) kmsKeyState(t *testing.T, arn string) types.KeyState {
	t.Helper()
	cfg := w.s.KMS.AWSConfig(awsRegion, awsAdminAKID, awsAdminSecret)
	out, err := kms.NewFromConfig(cfg).DescribeKey(context.Background(), &kms.DescribeKeyInput{KeyId: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	return out.KeyMetadata.KeyState
}

// sameAnswer fails unless two answers are byte for byte the same.
func sameAnswer(t *testing.T, what string, a, b apiAnswer) {
	t.Helper()
	if string(a.Raw) != string(b.Raw) || a.Status != b.Status {
		t.Fatalf("%s: %d %s, a missing one %d %s", what, a.Status, a.Raw, b.Status, b.Raw)
	}
}

func TestManageAPIKeysRegistered(t *testing.T) {
	w := newManageKeysWorld(t)
	connA := w.accessKeyConnection(t, w.adminA, "Prod user")

	// Bad input is 400, a role that may not change keys 403.
	w.call(t, http.MethodPost, "/keys", w.adminA, `{"name":`).want(t, http.StatusBadRequest, "invalid_json")
	w.call(t, http.MethodPost, "/keys", w.adminA, map[string]any{"name": "x", "connection_id": connA, "key_arns": []string{}, "colour": 1}).
		want(t, http.StatusBadRequest, "invalid_json")
	w.call(t, http.MethodPost, "/keys", w.adminA, map[string]any{"name": "x", "connection_id": connA, "key_arns": []string{}}).
		want(t, http.StatusBadRequest, "invalid_request")
	w.call(t, http.MethodPost, "/keys", w.adminA, map[string]any{"name": "x", "connection_id": connA, "key_arns": []string{"not-an-arn"}}).
		want(t, http.StatusBadRequest, "invalid_request")
	w.call(t, http.MethodPost, "/keys", w.auditorA, map[string]any{"name": "x", "connection_id": connA, "key_arns": []string{w.s.tenantKMSKey(t, "")}}).
		want(t, http.StatusForbidden, "forbidden")

	// A key whose policy leaves keyport out is refused with the checks;
	// nothing is stored.
	revoked := w.s.tenantKMSKey(t, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::`+awsTenantAcct+`:user/admin"},"Action":"kms:*","Resource":"*"}]}`)
	refused := w.call(t, http.MethodPost, "/keys", w.adminA, map[string]any{"name": "orders", "connection_id": connA, "key_arns": []string{revoked}}).
		want(t, http.StatusUnprocessableEntity, "key_validation_failed")
	if cs, _ := refused.Body["checks"].([]any); len(cs) == 0 {
		t.Fatalf("refusal without checks: %s", refused.Raw)
	}

	// A real registration, replayed with its Idempotency-Key: one key.
	arn := w.s.tenantKMSKey(t, "")
	body := map[string]any{"name": "Orders", "connection_id": connA, "key_arns": []string{arn}}
	reg := w.call(t, http.MethodPost, "/keys", w.adminA, body, "Idempotency-Key: reg-orders").want(t, http.StatusCreated, "")
	if reg.str("state") != "ENABLED" || reg.str("health") != "OK" || !strings.HasPrefix(reg.str("id"), "key_") {
		t.Fatalf("registered: %s", reg.Raw)
	}
	replay := w.call(t, http.MethodPost, "/keys", w.adminA, body, "Idempotency-Key: reg-orders").want(t, http.StatusCreated, "")
	if string(replay.Raw) != string(reg.Raw) || replay.Header.Get("Idempotency-Replayed") != "true" {
		t.Fatalf("replay: %s", replay.Raw)
	}
	keyID := reg.str("id")
	w.registerAPIKey(t, w.adminA, connA, "Billing") // its name is taken below

	// Reading: one, the list, ?q= on name, ARN and id (ignoring case), paging.
	k := w.call(t, http.MethodGet, "/keys/"+keyID, w.auditorA, nil).want(t, http.StatusOK, "")
	regions, _ := k.Body["regions"].([]any)
	if k.str("kind") != "registered" || k.str("connection_id") != connA || len(regions) != 1 || regions[0].(map[string]any)["arn"] != arn ||
		k.Body["current_version"] != float64(1) || k.Body["min_decryption_version"] != float64(1) {
		t.Fatalf("key: %s", k.Raw)
	}
	if n := len(w.call(t, http.MethodGet, "/keys", w.auditorA, nil).want(t, http.StatusOK, "").items()); n != 2 {
		t.Fatalf("%d keys listed, want 2", n)
	}
	arnID := arn[strings.LastIndexByte(arn, '/')+1:]
	for _, q := range []string{"oRDer", strings.ToUpper(arnID[:8]), keyID} {
		got := w.call(t, http.MethodGet, "/keys?q="+q, w.adminA, nil).want(t, http.StatusOK, "").items()
		if len(got) != 1 || got[0]["id"] != keyID {
			t.Errorf("q=%s found %v", q, got)
		}
	}
	p1 := w.call(t, http.MethodGet, "/keys?limit=1", w.adminA, nil).want(t, http.StatusOK, "")
	p2 := w.call(t, http.MethodGet, "/keys?limit=1&cursor="+p1.str("next_cursor"), w.adminA, nil).want(t, http.StatusOK, "")
	if len(p1.items()) != 1 || len(p2.items()) != 1 || p2.str("next_cursor") != "" || p1.items()[0]["id"] == p2.items()[0]["id"] {
		t.Fatalf("paging: %s then %s", p1.Raw, p2.Raw)
	}

	// Validate, rotate (twice from the same version is one rotation),
	// versions.
	v := w.call(t, http.MethodPost, "/keys/"+keyID+"/validate", w.adminA, nil).want(t, http.StatusOK, "")
	if v.Body["ok"] != true {
		t.Fatalf("validate: %s", v.Raw)
	}
	w.call(t, http.MethodPost, "/keys/"+keyID+"/validate", w.auditorA, nil).want(t, http.StatusForbidden, "forbidden")
	rot := w.call(t, http.MethodPost, "/keys/"+keyID+"/rotate", w.adminA, nil).want(t, http.StatusOK, "")
	if rot.str("state") != "rotated" || rot.Body["version"] != float64(2) || rot.str("key_id") != keyID {
		t.Fatalf("rotate: %s", rot.Raw)
	}
	again := w.call(t, http.MethodPost, "/keys/"+keyID+"/rotate", w.adminA, map[string]any{"from_version": 1}).want(t, http.StatusOK, "")
	if again.str("state") != "already_rotated" || again.Body["version"] != float64(2) {
		t.Fatalf("second rotation from 1: %s", again.Raw)
	}
	w.call(t, http.MethodPost, "/keys/"+keyID+"/rotate", w.auditorA, nil).want(t, http.StatusForbidden, "forbidden")
	vs := w.call(t, http.MethodGet, "/keys/"+keyID+"/versions", w.auditorA, nil).want(t, http.StatusOK, "").items()
	if len(vs) != 2 || vs[0]["version"] != float64(1) || vs[1]["version"] != float64(2) {
		t.Fatalf("versions: %v", vs)
	}

	// PATCH: rename and retire version 1 together; a version out of range
	// changes nothing, the name included.
	w.call(t, http.MethodPatch, "/keys/"+keyID, w.adminA, map[string]any{"name": "Renamed", "min_decryption_version": 3}).
		want(t, http.StatusBadRequest, "invalid_request")
	w.call(t, http.MethodPatch, "/keys/"+keyID, w.adminA, map[string]any{"name": "Billing"}).want(t, http.StatusBadRequest, "invalid_request")
	if got := w.call(t, http.MethodGet, "/keys/"+keyID, w.adminA, nil); got.str("name") != "Orders" {
		t.Fatalf("refused patch renamed the key: %s", got.Raw)
	}
	w.call(t, http.MethodPatch, "/keys/"+keyID, w.auditorA, map[string]any{"name": "Mine"}).want(t, http.StatusForbidden, "forbidden")
	patched := w.call(t, http.MethodPatch, "/keys/"+keyID, w.adminA, map[string]any{"name": "Orders 2", "min_decryption_version": 2}).
		want(t, http.StatusOK, "")
	if patched.str("name") != "Orders 2" || patched.Body["min_decryption_version"] != float64(2) {
		t.Fatalf("patched: %s", patched.Raw)
	}

	// Deactivating a registered key: keyport stops using it, its KMS key
	// stays enabled (the tenant's, not keyport's to disable).
	w.call(t, http.MethodPost, "/keys/"+keyID+"/deactivate", w.auditorA, nil).want(t, http.StatusForbidden, "forbidden")
	op := w.call(t, http.MethodPost, "/keys/"+keyID+"/deactivate", w.adminA, nil).want(t, http.StatusOK, "")
	if op.str("kind") != "deactivate" || op.str("state") != "done" || op.str("key_id") != keyID || op.str("id") == "" {
		t.Fatalf("deactivate: %s", op.Raw)
	}
	if st := w.call(t, http.MethodGet, "/keys/"+keyID, w.adminA, nil).str("state"); st != "DISABLED" {
		t.Fatalf("after deactivate: %s", st)
	}
	if st := w.kmsKeyState(t, arn); st != types.KeyStateEnabled {
		t.Fatalf("a registered key's KMS key is %s after deactivate, want Enabled", st)
	}
	if _, err := w.s.Keys.Encrypt(context.Background(), w.tenantA, keyID, []byte("x"), nil); err == nil {
		t.Fatal("keyport still encrypts under a deactivated key")
	}
	w.call(t, http.MethodPost, "/keys/"+keyID+"/deactivate", w.adminA, nil).want(t, http.StatusBadRequest, "invalid_request")
	act := w.call(t, http.MethodPost, "/keys/"+keyID+"/activate", w.adminA, nil).want(t, http.StatusOK, "")
	if act.str("kind") != "activate" || act.str("state") != "done" {
		t.Fatalf("activate: %s", act.Raw)
	}
	if _, err := w.s.Keys.Encrypt(context.Background(), w.tenantA, keyID, []byte("x"), nil); err != nil {
		t.Fatalf("encrypt after activate: %v", err)
	}

	// What only keys keyport holds can do is refused for a registered key.
	for _, p := range []string{"/renew", "/undo", "/rotate-material", "/reupload"} {
		w.call(t, http.MethodPost, "/keys/"+keyID+p, w.adminA, nil).want(t, http.StatusConflict, "not_managed")
	}
	w.call(t, http.MethodDelete, "/keys/"+keyID+"?acknowledge=true", w.adminA, nil).want(t, http.StatusConflict, "not_managed")

	// Tenant B sees none of it, changes none of it.
	before := w.call(t, http.MethodGet, "/keys/"+keyID, w.adminA, nil).want(t, http.StatusOK, "")
	missing := w.call(t, http.MethodGet, "/keys/key_doesnotexist", w.adminB, nil).want(t, http.StatusNotFound, "not_found")
	sameAnswer(t, "another tenant's key", w.call(t, http.MethodGet, "/keys/"+keyID, w.adminB, nil), missing)
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{http.MethodGet, "/keys/" + keyID + "/versions", nil},
		{http.MethodPatch, "/keys/" + keyID, map[string]any{"name": "stolen"}},
		{http.MethodPatch, "/keys/" + keyID, map[string]any{"min_decryption_version": 1}},
		{http.MethodPost, "/keys/" + keyID + "/validate", nil},
		{http.MethodPost, "/keys/" + keyID + "/rotate", nil},
		{http.MethodPost, "/keys/" + keyID + "/deactivate", nil},
		{http.MethodPost, "/keys/" + keyID + "/activate", nil},
		{http.MethodPost, "/keys/" + keyID + "/renew", nil},
		{http.MethodPost, "/keys/" + keyID + "/cancel-deletion", nil},
		{http.MethodDelete, "/keys/" + keyID + "?acknowledge=true", nil},
	} {
		got := w.call(t, c.method, c.path, w.adminB, c.body)
		if got.Status != http.StatusNotFound || got.code() != "not_found" {
			t.Errorf("tenant B %s %s: %d %s", c.method, c.path, got.Status, got.Raw)
		}
	}
	if got := w.call(t, http.MethodGet, "/keys", w.adminB, nil).want(t, http.StatusOK, ""); len(got.items()) != 0 {
		t.Errorf("tenant B lists %s", got.Raw)
	}
	after := w.call(t, http.MethodGet, "/keys/"+keyID, w.adminA, nil).want(t, http.StatusOK, "")
	if string(before.Raw) != string(after.Raw) {
		t.Fatalf("tenant B's calls changed the key:\n%s\n%s", before.Raw, after.Raw)
	}

	acts := strings.Join(w.s.auditActions(t, w.tenantA), "\n")
	for _, a := range []string{"key.registered", "key.validated", "key.rotation_requested", "key.renamed", "key.min_decryption_version_changed",
		"key.deactivated", "key.deactivate_completed", "key.activated"} {
		if !strings.Contains(acts, a) {
			t.Errorf("no %s in the audit log", a)
		}
	}
	events, err := w.s.DB.ListAudit(context.Background(), w.tenantA, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if e.Action == "key.renamed" && (e.ActorKind != models.ActorAPIKey || !strings.Contains(e.Details, "Orders 2")) {
			t.Errorf("key.renamed event: %+v", e)
		}
	}
}
