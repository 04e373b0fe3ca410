package web_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"keyport/keysvc"
	"keyport/keysvc/managed"
	"keyport/models"
)

// generatedKey makes a key whose material keyport generated in a new
// store of tenant (over a new connection) and returns its id.
func (w *manageWorld) generatedKey(t *testing.T, tenant, owner, name string) string {
	t.Helper()
	ctx := context.Background()
	by := keysvc.RequestBy{UserID: owner}
	c, err := w.s.Keys.CreateConnection(ctx, tenant, by, keysvc.ConnectionInput{Name: name + " connection", AccountID: awsTenantAcct,
		DefaultRegion: awsRegion, Kind: "access_key", AccessKeyID: awsUserAKID, Secret: awsUserSecret})
	if err != nil {
		t.Fatal(err)
	}
	st, err := w.s.Managed.CreateStore(ctx, tenant, by, managed.StoreInput{Name: name + " store", ConnectionID: c.ID})
	if err != nil {
		t.Fatal(err)
	}
	r, err := w.s.Managed.CreateGeneratedKey(ctx, tenant, by, managed.CreateKeyInput{StoreID: st.ID, Name: name, ValidDays: 90})
	if err != nil || !r.Done() {
		t.Fatalf("generated key: %v", err)
	}
	return r.Key.ID
}

func TestManageAPIApprovals(t *testing.T) {
	w := newManageWorld(t)
	ctx := context.Background()
	// The stack's clock stands still: everyone joined "now", so the
	// provider's minimum membership age is off.
	if err := w.s.Managed.SetApprovalSettings(ctx, keysvc.RequestBy{UserID: "operator"}, managed.ApprovalSettings{}); err != nil {
		t.Fatal(err)
	}
	keyA := w.generatedKey(t, w.tenantA, w.ownerA, "Alpha generated")
	keyB := w.generatedKey(t, w.tenantB, w.ownerB, "Beta generated")
	// A second admin of A with a key of their own: a second person.
	adm2 := w.member(t, w.tenantA, "adm2@alpha.test", models.RoleAdmin)
	admin2 := w.apiKey(t, w.tenantA, adm2, "second admin", models.RoleAdmin)

	// Asking: bad input, an auditor, another tenant's key.
	w.call(t, http.MethodPost, "/keys/"+keyA+"/approvals", w.adminA, map[string]any{"action": "burn"}).want(t, http.StatusBadRequest, "invalid_request")
	w.call(t, http.MethodPost, "/keys/"+keyA+"/approvals", w.adminA, map[string]any{"action": "export", "why": "x"}).want(t, http.StatusBadRequest, "invalid_json")
	w.call(t, http.MethodPost, "/keys/"+keyA+"/approvals", w.auditorA, map[string]any{"action": "export"}).want(t, http.StatusForbidden, "forbidden")
	cross := w.call(t, http.MethodPost, "/keys/"+keyA+"/approvals", w.adminB, map[string]any{"action": "export"}).want(t, http.StatusNotFound, "not_found")
	missing := w.call(t, http.MethodPost, "/keys/key_nosuch/approvals", w.adminB, map[string]any{"action": "export"}).want(t, http.StatusNotFound, "not_found")
	if string(cross.Raw) != string(missing.Raw) {
		t.Fatalf("cross %s, missing %s", cross.Raw, missing.Raw)
	}

	// A request made with a key counts as its creator's; a replay asks once.
	body := map[string]any{"action": "export"}
	req := w.call(t, http.MethodPost, "/keys/"+keyA+"/approvals", w.adminA, body, "Idempotency-Key: ask-1").want(t, http.StatusCreated, "")
	again := w.call(t, http.MethodPost, "/keys/"+keyA+"/approvals", w.adminA, body, "Idempotency-Key: ask-1").want(t, http.StatusCreated, "")
	if string(req.Raw) != string(again.Raw) || req.str("requested_by") != w.ownerA || req.str("state") != "pending" {
		t.Fatalf("request %s, replay %s", req.Raw, again.Raw)
	}
	id := req.str("id")
	open := w.call(t, http.MethodGet, "/approvals", w.auditorA, nil).want(t, http.StatusOK, "")
	if len(open.items()) != 1 || open.items()[0]["id"] != id {
		t.Fatalf("open approvals: %s", open.Raw)
	}
	if l := w.call(t, http.MethodGet, "/approvals", w.adminB, nil).want(t, http.StatusOK, ""); len(l.items()) != 0 {
		t.Fatalf("tenant B sees %s", l.Raw)
	}

	// Nobody approves their own request: not with the same key, and not in
	// the portal as the key's creator.
	w.call(t, http.MethodPost, "/approvals/"+id+"/approve", w.adminA, nil).want(t, http.StatusConflict, "approval_refused")
	if _, err := w.s.Managed.DecideApproval(ctx, w.tenantA, byUser(w.ownerA), keyA, id, true); err == nil {
		t.Fatal("the key's creator approved the key's request in the portal")
	}
	// An auditor may not decide; another tenant finds nothing.
	w.call(t, http.MethodPost, "/approvals/"+id+"/approve", w.auditorA, nil).want(t, http.StatusForbidden, "forbidden")
	w.call(t, http.MethodPost, "/approvals/"+id+"/approve", w.adminB, nil).want(t, http.StatusNotFound, "not_found")
	w.call(t, http.MethodPost, "/approvals/"+id+"/reject", w.adminB, nil).want(t, http.StatusNotFound, "not_found")
	if a, err := w.s.DB.TenantApproval(ctx, w.tenantA, id); err != nil || a.State != models.ApprovalPending {
		t.Fatalf("after refused decisions: %+v %v", a, err)
	}

	// A second person approves.
	ok := w.call(t, http.MethodPost, "/approvals/"+id+"/approve", admin2, nil).want(t, http.StatusOK, "")
	if ok.str("state") != "approved" || ok.str("decided_by") != adm2 {
		t.Fatalf("approve: %s", ok.Raw)
	}
	w.call(t, http.MethodPost, "/approvals/"+id+"/reject", admin2, nil).want(t, http.StatusConflict, "approval_refused")
	if l := w.call(t, http.MethodGet, "/approvals", w.adminA, nil).want(t, http.StatusOK, ""); len(l.items()) != 0 {
		t.Fatalf("still open: %s", l.Raw)
	}

	// Rejecting; tenant B's own approvals stay its own.
	del := w.call(t, http.MethodPost, "/keys/"+keyA+"/approvals", admin2, map[string]any{"action": "delete"}).want(t, http.StatusCreated, "")
	no := w.call(t, http.MethodPost, "/approvals/"+del.str("id")+"/reject", w.adminA, nil).want(t, http.StatusOK, "")
	if no.str("state") != "denied" {
		t.Fatalf("reject: %s", no.Raw)
	}
	// Tenant B needs a second admin too, or nobody there could decide.
	w.member(t, w.tenantB, "adm2@beta.test", models.RoleAdmin)
	b := w.call(t, http.MethodPost, "/keys/"+keyB+"/approvals", w.adminB, map[string]any{"action": "export"}).want(t, http.StatusCreated, "")
	w.call(t, http.MethodPost, "/approvals/"+b.str("id")+"/reject", w.adminA, nil).want(t, http.StatusNotFound, "not_found")
	if a, err := w.s.DB.TenantApproval(ctx, w.tenantB, b.str("id")); err != nil || a.State != models.ApprovalPending {
		t.Fatalf("tenant B's approval after A's reject: %+v %v", a, err)
	}

	evs := w.keyEvents(t, w.tenantA, w.adminA)
	for _, a := range []string{"key.approval_requested", "key.approval_decided"} {
		if _, ok := evs[a]; !ok {
			t.Errorf("no %s by the API key: %v", a, fmt.Sprint(len(evs)))
		}
	}
}
