package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// A key store and a keyport-generated key in it, over the management API:
// the whole lifecycle, and deactivation disabling the KMS key keyport made.
func TestManageAPIStoresAndGeneratedKeys(t *testing.T) {
	w := newManageKeysWorld(t)
	connA := w.roleConnection(t, w.adminA, "Prod role")

	w.call(t, http.MethodPost, "/stores", w.adminA, `{"name":"x",}`).want(t, http.StatusBadRequest, "invalid_json")
	w.call(t, http.MethodPost, "/stores", w.adminA, map[string]any{"name": "x", "connection_id": connA, "zone": "a"}).
		want(t, http.StatusBadRequest, "invalid_json")
	w.call(t, http.MethodPost, "/stores", w.adminA, map[string]any{"name": "x", "connection_id": "con_nope"}).
		want(t, http.StatusBadRequest, "invalid_request")
	w.call(t, http.MethodPost, "/stores", w.adminA, map[string]any{"name": "x", "connection_id": connA, "region": "mars-north-1"}).
		want(t, http.StatusBadRequest, "invalid_request")
	w.call(t, http.MethodPost, "/stores", w.auditorA, map[string]any{"name": "x", "connection_id": connA}).want(t, http.StatusForbidden, "forbidden")

	body := map[string]any{"name": "production", "connection_id": connA}
	st := w.call(t, http.MethodPost, "/stores", w.adminA, body, "Idempotency-Key: store-1").want(t, http.StatusCreated, "")
	if st.str("region") != awsRegion || st.str("connection_id") != connA || !strings.HasPrefix(st.str("id"), "kst_") {
		t.Fatalf("store: %s", st.Raw)
	}
	if again := w.call(t, http.MethodPost, "/stores", w.adminA, body, "Idempotency-Key: store-1").want(t, http.StatusCreated, ""); string(again.Raw) != string(st.Raw) {
		t.Fatalf("replay: %s", again.Raw)
	}
	w.call(t, http.MethodPost, "/stores", w.adminA, body).want(t, http.StatusBadRequest, "invalid_request") // the name is taken
	storeID := st.str("id")

	// A key with keyport-generated material.
	w.call(t, http.MethodPost, "/stores/"+storeID+"/keys", w.auditorA, map[string]any{"name": "orders"}).want(t, http.StatusForbidden, "forbidden")
	w.call(t, http.MethodPost, "/stores/"+storeID+"/keys", w.adminA, map[string]any{"name": "orders", "valid_days": 400}).
		want(t, http.StatusBadRequest, "invalid_request")
	// KMS refusing the import: the creation fails and is rolled back (422).
	w.s.KMS.FailNext("ImportKeyMaterial", 1, "AccessDeniedException")
	failed := w.call(t, http.MethodPost, "/stores/"+storeID+"/keys", w.adminA, map[string]any{"name": "refused"}).
		want(t, http.StatusUnprocessableEntity, "operation_failed")
	if !strings.Contains(string(failed.Raw), "rolled back") {
		t.Fatalf("failed create: %s", failed.Raw)
	}
	made := w.call(t, http.MethodPost, "/stores/"+storeID+"/keys", w.adminA, map[string]any{"name": "orders", "valid_days": 90}).
		want(t, http.StatusCreated, "")
	keyID := made.str("key_id")
	if made.str("kind") != "create" || made.str("state") != "done" || made.str("id") == "" {
		t.Fatalf("create: %s", made.Raw)
	}
	k := w.call(t, http.MethodGet, "/keys/"+keyID, w.auditorA, nil).want(t, http.StatusOK, "")
	regions, _ := k.Body["regions"].([]any)
	if k.str("kind") != "generated" || k.str("store_id") != storeID || k.str("alias") != "alias/keyport/orders" || k.str("state") != "ENABLED" || len(regions) != 1 {
		t.Fatalf("generated key: %s", k.Raw)
	}
	arn, _ := regions[0].(map[string]any)["arn"].(string)
	if got := w.call(t, http.MethodGet, "/keys?q=KEYPORT/ORD", w.adminA, nil).items(); len(got) != 1 || got[0]["id"] != keyID {
		t.Errorf("q on the alias: %v", got)
	}
	one := w.call(t, http.MethodGet, "/stores/"+storeID, w.auditorA, nil).want(t, http.StatusOK, "")
	states := map[string]any{}
	for _, sk := range one.Body["keys"].([]any) {
		states[sk.(map[string]any)["name"].(string)] = sk.(map[string]any)["state"]
	}
	if len(states) != 2 || states["orders"] != "ENABLED" || states["refused"] != "DELETED" {
		t.Fatalf("store keys (the refused one rolled back to DELETED): %s", one.Raw)
	}
	if got := w.call(t, http.MethodGet, "/stores", w.auditorA, nil).want(t, http.StatusOK, "").items(); len(got) != 1 {
		t.Fatalf("stores: %v", got)
	}

	// Deactivating a key keyport made disables its KMS key too; activating
	// enables it again. KMS failing at first: keyport stops using the key
	// at once, answers 202, and the operation's job disables the KMS key
	// on its retry.
	w.s.KMS.FailNext("DisableKey", 1, "KMSInternalException")
	op := w.call(t, http.MethodPost, "/keys/"+keyID+"/deactivate", w.adminA, nil).want(t, http.StatusAccepted, "")
	if op.str("state") != "running" || op.str("kind") != "deactivate" || op.str("error") == "" || op.str("id") == "" {
		t.Fatalf("deactivate: %s", op.Raw)
	}
	if st := w.call(t, http.MethodGet, "/keys/"+keyID, w.adminA, nil).str("state"); st != "DISABLED" {
		t.Fatalf("key %s while its deactivation runs", st)
	}
	if s := w.kmsKeyState(t, arn); s != types.KeyStateEnabled {
		t.Fatalf("KMS key %s before the retry", s)
	}
	w.s.Clock.Advance(time.Hour) // past the retry's backoff
	w.s.Jobs.RunDue(context.Background())
	if s := w.kmsKeyState(t, arn); s != types.KeyStateDisabled {
		t.Fatalf("KMS key of a keyport-made key is %s after deactivate, want Disabled", s)
	}
	w.call(t, http.MethodPost, "/keys/"+keyID+"/activate", w.adminA, nil).want(t, http.StatusOK, "")
	if s := w.kmsKeyState(t, arn); s != types.KeyStateEnabled {
		t.Fatalf("KMS key is %s after activate", s)
	}

	// Rotate now is a new data-key version; renew, undo, rotate the
	// material in place, re-upload: each a finished operation.
	rot := w.call(t, http.MethodPost, "/keys/"+keyID+"/rotate", w.adminA, map[string]any{}).want(t, http.StatusOK, "")
	if rot.str("state") != "rotated" || rot.Body["version"] != float64(2) {
		t.Fatalf("rotate: %s", rot.Raw)
	}
	for _, c := range []struct{ path, kind string }{{"/renew", "renew"}, {"/undo", "undo"}, {"/rotate-material", "rotate"}, {"/reupload", "reupload"}} {
		w.call(t, http.MethodPost, "/keys/"+keyID+c.path, w.auditorA, nil).want(t, http.StatusForbidden, "forbidden")
		got := w.call(t, http.MethodPost, "/keys/"+keyID+c.path, w.adminA, nil).want(t, http.StatusOK, "")
		if got.str("kind") != c.kind || got.str("state") != "done" {
			t.Fatalf("%s: %s", c.path, got.Raw)
		}
	}
	w.call(t, http.MethodPost, "/keys/"+keyID+"/reupload", w.adminA, map[string]any{"material_id": "mat_nope"}).want(t, http.StatusBadRequest, "invalid_request")
	vs := w.call(t, http.MethodGet, "/keys/"+keyID+"/versions", w.adminA, nil).want(t, http.StatusOK, "").items()
	if len(vs) < 4 {
		t.Fatalf("versions after rotate, renew, undo, rotate-material: %v", vs)
	}

	// Tenant B: its own store, none of A's.
	connB := w.roleConnection(t, w.adminB, "B role")
	w.call(t, http.MethodPost, "/stores", w.adminB, map[string]any{"name": "b", "connection_id": connA}).want(t, http.StatusBadRequest, "invalid_request")
	w.call(t, http.MethodPost, "/stores", w.adminB, map[string]any{"name": "b", "connection_id": connB}).want(t, http.StatusCreated, "")
	storeBefore := w.call(t, http.MethodGet, "/stores/"+storeID, w.adminA, nil)
	missing := w.call(t, http.MethodGet, "/stores/kst_doesnotexist", w.adminB, nil).want(t, http.StatusNotFound, "not_found")
	sameAnswer(t, "another tenant's store", w.call(t, http.MethodGet, "/stores/"+storeID, w.adminB, nil), missing)
	w.call(t, http.MethodDelete, "/stores/"+storeID, w.adminB, nil).want(t, http.StatusNotFound, "not_found")
	w.call(t, http.MethodPost, "/stores/"+storeID+"/keys", w.adminB, map[string]any{"name": "planted"}).want(t, http.StatusNotFound, "not_found")
	for _, p := range []string{"/deactivate", "/renew", "/undo", "/rotate-material", "/reupload"} {
		w.call(t, http.MethodPost, "/keys/"+keyID+p, w.adminB, nil).want(t, http.StatusNotFound, "not_found")
	}
	w.call(t, http.MethodDelete, "/keys/"+keyID+"?acknowledge=true&window_days=7", w.adminB, nil).want(t, http.StatusNotFound, "not_found")
	if got := w.call(t, http.MethodGet, "/stores", w.adminB, nil).items(); len(got) != 1 || got[0]["name"] != "b" {
		t.Fatalf("tenant B's stores: %v", got)
	}
	if after := w.call(t, http.MethodGet, "/stores/"+storeID, w.adminA, nil); string(after.Raw) != string(storeBefore.Raw) {
		t.Fatalf("tenant B changed A's store:\n%s\n%s", storeBefore.Raw, after.Raw)
	}
	if s := w.kmsKeyState(t, arn); s != types.KeyStateEnabled {
		t.Fatalf("tenant B's calls left A's KMS key %s", s)
	}

	// Deletion: a bad window, data-key versions that must be acknowledged,
	// then scheduled; cancelled, the key comes back deactivated.
	w.call(t, http.MethodDelete, "/stores/"+storeID, w.adminA, nil).want(t, http.StatusConflict, "store_not_empty")
	w.call(t, http.MethodDelete, "/keys/"+keyID+"?window_days=3&acknowledge=true", w.adminA, nil).want(t, http.StatusBadRequest, "invalid_request")
	w.call(t, http.MethodDelete, "/keys/"+keyID+"?acknowledge=maybe", w.adminA, nil).want(t, http.StatusBadRequest, "invalid_request")
	w.call(t, http.MethodDelete, "/keys/"+keyID, w.adminA, nil).want(t, http.StatusConflict, "versions_depend")
	w.call(t, http.MethodDelete, "/keys/"+keyID+"?acknowledge=true", w.auditorA, nil).want(t, http.StatusForbidden, "forbidden")
	del := w.call(t, http.MethodDelete, "/keys/"+keyID+"?acknowledge=true&window_days=7", w.adminA, nil).want(t, http.StatusOK, "")
	if del.str("kind") != "delete" || del.str("state") != "done" {
		t.Fatalf("delete: %s", del.Raw)
	}
	pending := w.call(t, http.MethodGet, "/keys/"+keyID, w.adminA, nil)
	if pending.str("state") != "PENDING_DELETION" || pending.Body["deletion_at"] == nil {
		t.Fatalf("after delete: %s", pending.Raw)
	}
	if s := w.kmsKeyState(t, arn); s != types.KeyStatePendingDeletion {
		t.Fatalf("KMS key %s after the deletion was scheduled", s)
	}
	if got := w.call(t, http.MethodPost, "/keys/"+keyID+"/cancel-deletion", w.adminA, nil).want(t, http.StatusOK, ""); got.str("state") != "DISABLED" {
		t.Fatalf("cancel: %s", got.Raw)
	}

	// A store whose keys are all deleted goes; an empty one too.
	empty := w.call(t, http.MethodPost, "/stores", w.adminA, map[string]any{"name": "spare", "connection_id": connA}).want(t, http.StatusCreated, "")
	w.call(t, http.MethodDelete, "/stores/"+empty.str("id"), w.auditorA, nil).want(t, http.StatusForbidden, "forbidden")
	w.call(t, http.MethodDelete, "/stores/"+empty.str("id"), w.adminA, nil).want(t, http.StatusNoContent, "")
	w.call(t, http.MethodGet, "/stores/"+empty.str("id"), w.adminA, nil).want(t, http.StatusNotFound, "not_found")

	acts := strings.Join(w.s.auditActions(t, w.tenantA), "\n")
	for _, a := range []string{"key_store.created", "key.create_started", "key.deactivated", "key.activated", "key.renew_started", "key.undo_started",
		"key.rotate_started", "key.reupload_started", "key.deletion_scheduled", "key.deletion_cancelled", "key_store.deleted"} {
		if !strings.Contains(acts, a) {
			t.Errorf("no %s in the audit log", a)
		}
	}
}
