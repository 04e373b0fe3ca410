package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"keyport/handlers"
	"keyport/handlers/manageapi"
	"keyport/keysvc"
	"keyport/keysvc/managed"
	"keyport/models"
)

// The management API in the authorization matrix. Its rows are not
// written by hand: every served route under manageapi.BasePath is a row,
// derived from the operation table (the role its Act needs), so a route
// added to the table is walked the day it is added. What a row cannot
// derive (which tenant-A object an :id names, a valid request body) comes
// from manageIDs and manageFixtures, and a missing entry fails with its
// name.
//
// Its personas are API keys: tenant A's admin and auditor keys, tenant B's
// admin key (the cross-tenant outsider, naming tenant A's ids), no key, a
// revoked and an expired key of tenant A's admin; besides, the portal's
// owner and operator send their sessions only, and the data API's service
// token its token: none of those may use the management API.
const (
	revokedKey persona = "revoked-api-key"
	expiredKey persona = "expired-api-key"
)

var managePersonas = []persona{anonymous, auditor, admin, owner, operator, outsider, service, revokedKey, expiredKey}

// personasFor are the personas of a route's cells.
func personasFor(path string) []persona {
	if strings.HasPrefix(path, manageapi.BasePath+"/") {
		return managePersonas
	}
	return personas
}

// isManage tells a management API route.
func isManage(path string) bool { return strings.HasPrefix(path, manageapi.BasePath+"/") }

// manageOp finds the operation behind a served management API route.
func manageOp(s *stack, method, path string) (manageapi.Operation, bool) {
	if s.Manage == nil {
		return manageapi.Operation{}, false
	}
	for _, op := range s.Manage.Operations() {
		if op.Method == method && manageapi.BasePath+op.Path == path {
			return op, true
		}
	}
	return manageapi.Operation{}, false
}

// matrixTable is the hand-written expected table plus a row for every
// served management API route, derived from its operation: a key whose
// role the operation's Act allows may use it; tenant B's admin key too
// where the route names no id (it then acts in tenant B).
func matrixTable(t *testing.T, s *stack) map[string]map[persona]bool {
	t.Helper()
	table := map[string]map[persona]bool{}
	for k, v := range expected {
		table[k] = v
	}
	for _, r := range s.Echo.Routes() {
		if r.Method == echoRouteNotFound || !isManage(r.Path) {
			continue
		}
		key := r.Method + " " + r.Path
		if r.Path == manageapi.BasePath+"/openapi.json" {
			table[key] = allow(managePersonas...) // the document needs no key
			continue
		}
		op, ok := manageOp(s, r.Method, r.Path)
		if !ok {
			t.Errorf("route %s is under %s but not in the management API's operation table (manageapi.Operation): add it there, so the document, the role check and this matrix know it",
				key, manageapi.BasePath)
			continue
		}
		row := map[persona]bool{}
		for p, role := range map[persona]models.Role{admin: models.RoleAdmin, auditor: models.RoleAuditor} {
			if op.Act == "" || handlers.Allowed(role, op.Act) {
				row[p] = true
			}
		}
		if row[admin] && !strings.Contains(op.Path, ":") {
			row[outsider] = true
		}
		// Derived rows trust the table's Act; one thing they can still
		// hold it to: auditors read, so no auditor key may change anything.
		if row[auditor] && r.Method != http.MethodGet {
			t.Errorf("management API operation %s (%s) lets auditor keys use a %s: auditors only read; give it an Act auditors do not hold",
				key, op.ID, r.Method)
		}
		table[key] = row
	}
	return table
}

// manageKeys gives the matrix its API keys: tenant A's admin and auditor
// keys (made by tenant A's admin and auditor), tenant B's admin key, and a
// revoked and an expired key of tenant A's admin.
func (w *matrixWorld) manageKeys(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	mk := func(tenant, user, name string, role models.Role) (string, *models.APIKey) {
		k, row, err := w.s.Keys.NewAPIKey(ctx, tenant, keysvc.RequestBy{UserID: user, Kind: models.ActorUser}, name, role, 0)
		if err != nil {
			t.Fatal(err)
		}
		return k, row
	}
	w.apiKeys = map[persona]string{}
	w.apiKeys[admin], _ = mk(w.tenantA, w.users[admin], "matrix admin key", models.RoleAdmin)
	w.apiKeys[auditor], _ = mk(w.tenantA, w.users[auditor], "matrix auditor key", models.RoleAuditor)
	w.apiKeys[outsider], _ = mk(w.tenantB, w.users[outsider], "beta admin key", models.RoleAdmin)
	var row *models.APIKey
	w.apiKeys[revokedKey], row = mk(w.tenantA, w.users[admin], "matrix revoked key", models.RoleAdmin)
	if err := w.s.Keys.RevokeAPIKey(ctx, w.tenantA, w.byOwner(), row.ID); err != nil {
		t.Fatal(err)
	}
	w.apiKeys[expiredKey], row = mk(w.tenantA, w.users[admin], "matrix expired key", models.RoleAdmin)
	q := "UPDATE api_keys SET expires_at = ? WHERE id = ?"
	if models.IsPostgresURL(w.s.DSN) {
		q = "UPDATE api_keys SET expires_at = $1 WHERE id = $2"
	}
	if _, err := w.raw.Exec(q, time.Now().Add(-time.Hour).UTC(), row.ID); err != nil {
		t.Fatal(err)
	}
	// Proof that the two are refused for what they are, not for a typo.
	for _, p := range []persona{revokedKey, expiredKey} {
		if _, err := w.s.Keys.AuthenticateAPIKey(ctx, w.apiKeys[p]); err == nil {
			t.Fatalf("the %s authenticates", p)
		}
	}
	if _, err := w.s.Keys.AuthenticateAPIKey(ctx, w.apiKeys[admin]); err != nil {
		t.Fatal(err)
	}
	// Approvals: the provider's minimum membership age is off (the stack's
	// clock stands still).
	if err := w.s.Managed.SetApprovalSettings(ctx, keysvc.RequestBy{UserID: w.users[operator]}, managed.ApprovalSettings{}); err != nil {
		t.Fatal(err)
	}
}

// manageAuth sets a management API request's credentials for p.
func (w *matrixWorld) manageAuth(req *http.Request, p persona) {
	switch p {
	case admin, auditor, outsider, revokedKey, expiredKey:
		req.Header.Set("Authorization", "Bearer "+w.apiKeys[p])
	case service:
		req.Header.Set("Authorization", "Bearer "+w.tokenA) // a data-API token is no API key
	}
}

// manageIDs picks the tenant-A object an ":id" names, by the resource the
// path names first (/connections/:id -> a connection).
var manageIDs = map[string]func(t *testing.T, w *matrixWorld, params map[string]string) string{
	"connections":     func(t *testing.T, w *matrixWorld, params map[string]string) string { return params[":conn_id"] },
	"keys":            func(t *testing.T, w *matrixWorld, params map[string]string) string { return params[":key_id"] },
	"stores":          func(t *testing.T, w *matrixWorld, params map[string]string) string { return params[":store_id"] },
	"key-stores":      func(t *testing.T, w *matrixWorld, params map[string]string) string { return params[":store_id"] },
	"import-requests": func(t *testing.T, w *matrixWorld, params map[string]string) string { return params[":request_id"] },
	"notices":         func(t *testing.T, w *matrixWorld, params map[string]string) string { return params[":notice_id"] },
	"invitations":     func(t *testing.T, w *matrixWorld, params map[string]string) string { return w.invitation },
	"members":         func(t *testing.T, w *matrixWorld, params map[string]string) string { return w.victim },
	"approvals": func(t *testing.T, w *matrixWorld, params map[string]string) string {
		return w.pendingApproval(t, params, false)
	},
	"api-keys": func(t *testing.T, w *matrixWorld, params map[string]string) string { return w.liveAPIKey(t, false) },
	"webhooks": func(t *testing.T, w *matrixWorld, params map[string]string) string { return params[":webhook_id"] },
}

// manageTarget is the request path of a management API route with tenant
// A's ids: ":id" by the path's first resource (manageIDs), any other
// parameter by its name in params.
func (w *matrixWorld) manageTarget(t *testing.T, key, path string, params map[string]string) string {
	t.Helper()
	rest := strings.TrimPrefix(path, manageapi.BasePath+"/")
	resource, _, _ := strings.Cut(rest, "/")
	parts := strings.Split(path, "/")
	for i, part := range parts {
		if !strings.HasPrefix(part, ":") {
			continue
		}
		if v, ok := params["manage"+part]; ok { // a fixture's choice
			parts[i] = v
			continue
		}
		if part == ":id" || part == ":user_id" {
			f, ok := manageIDs[resource]
			if !ok {
				t.Fatalf("%s: the matrix has no tenant-A object for /%s/%s: add a %q entry to manageIDs (authz_manage_test.go)", key, resource, part, resource)
			}
			parts[i] = f(t, w, params)
			continue
		}
		v, ok := params[part]
		if !ok {
			t.Fatalf("%s: the matrix has no tenant-A value for %s: set params[%q] in reset or a manageFixtures entry", key, part, part)
		}
		parts[i] = v
	}
	target := strings.Join(parts, "/")
	if q := params["manage?"]; q != "" { // a fixture's query string
		target += "?" + q
		delete(params, "manage?")
	}
	return target
}

// manageBody is a management API request's JSON body: the fixture's, or
// {} for an operation with a body and no fixture (enough for a refusal;
// a permitted cell then fails and names the missing fixture).
func (w *matrixWorld) manageBody(t *testing.T, s *stack, key, method, path string, p persona, params map[string]string) (body string, missing bool) {
	t.Helper()
	if fx, ok := manageFixtures[key]; ok {
		v := fx(t, w, p, params)
		if v == nil {
			return "", false
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b), false
	}
	if op, ok := manageOp(s, method, path); ok && op.Request != nil {
		return "{}", true
	}
	return "", false
}

// manageFixtures make a permitted management API cell's request one that
// can succeed (the body, fresh objects where the operation uses them up;
// "manage:id" in params overrides the id); refused cells share what they
// make. Keyed by "METHOD path" as echo lists it.
var manageFixtures = map[string]func(t *testing.T, w *matrixWorld, p persona, params map[string]string) any{
	"POST " + manageapi.BasePath + "/connections": func(t *testing.T, w *matrixWorld, p persona, params map[string]string) any {
		w.seq++
		return map[string]any{"name": fmt.Sprintf("matrix api connection %d", w.seq), "kind": "role", "role_arn": awsRoleARN}
	},
	"PATCH " + manageapi.BasePath + "/connections/:id": func(t *testing.T, w *matrixWorld, p persona, params map[string]string) any {
		w.seq++
		return map[string]any{"name": fmt.Sprintf("Alpha Matrix Connection %d", w.seq)}
	},
	"DELETE " + manageapi.BasePath + "/connections/:id": func(t *testing.T, w *matrixWorld, p persona, params map[string]string) any {
		w.seq++
		params["manage:id"] = w.connection(t, w.tenantA, fmt.Sprintf("matrix api unused connection %d", w.seq)).ID
		return nil
	},
	"PATCH " + manageapi.BasePath + "/members/:user_id": func(t *testing.T, w *matrixWorld, p persona, params map[string]string) any {
		return map[string]any{"role": "admin"}
	},
	"POST " + manageapi.BasePath + "/invitations": func(t *testing.T, w *matrixWorld, p persona, params map[string]string) any {
		w.seq++
		return map[string]any{"email": fmt.Sprintf("matrix-api-%d@example.net", w.seq), "role": "auditor"}
	},
	"POST " + manageapi.BasePath + "/keys/:id/approvals": func(t *testing.T, w *matrixWorld, p persona, params map[string]string) any {
		generatedKey(t, w, p, params, nil)
		params["manage:id"] = params[":key_id"]
		return map[string]any{"action": "export"}
	},
	"POST " + manageapi.BasePath + "/approvals/:id/approve": func(t *testing.T, w *matrixWorld, p persona, params map[string]string) any {
		params["manage:id"] = w.pendingApproval(t, params, w.permitted)
		return nil
	},
	"POST " + manageapi.BasePath + "/approvals/:id/reject": func(t *testing.T, w *matrixWorld, p persona, params map[string]string) any {
		params["manage:id"] = w.pendingApproval(t, params, w.permitted)
		return nil
	},
	// Keys, stores, import requests and rotation (helper mk's operations):
	// tenant A's real customer key where it works, a fresh key keyport
	// made where the operation uses one up, tenant B's own connection and
	// store for B's key where no id is named.
	"POST " + manageapi.BasePath + "/keys": func(t *testing.T, w *matrixWorld, p persona, params map[string]string) any {
		w.seq++
		return map[string]any{"name": fmt.Sprintf("matrix api registered %d", w.seq), "connection_id": w.own(p, params[":conn_id"], w.connB),
			"key_arns": []string{w.s.tenantKMSKey(t, "")}}
	},
	"PATCH " + manageapi.BasePath + "/keys/:id": func(t *testing.T, w *matrixWorld, p persona, params map[string]string) any {
		return map[string]any{"min_decryption_version": 1}
	},
	"DELETE " + manageapi.BasePath + "/keys/:id": func(t *testing.T, w *matrixWorld, p persona, params map[string]string) any {
		generatedKey(t, w, p, params, nil)
		params["manage?"] = "window_days=7&acknowledge=true"
		return nil
	},
	"POST " + manageapi.BasePath + "/keys/:id/rotate":   emptyBody,
	"POST " + manageapi.BasePath + "/keys/:id/validate": emptyBody,
	"POST " + manageapi.BasePath + "/keys/:id/deactivate": func(t *testing.T, w *matrixWorld, p persona, params map[string]string) any {
		generatedKey(t, w, p, params, nil)
		return nil
	},
	"POST " + manageapi.BasePath + "/keys/:id/renew": func(t *testing.T, w *matrixWorld, p persona, params map[string]string) any {
		generatedKey(t, w, p, params, nil)
		return nil
	},
	"POST " + manageapi.BasePath + "/keys/:id/rotate-material": func(t *testing.T, w *matrixWorld, p persona, params map[string]string) any {
		generatedKey(t, w, p, params, nil)
		return nil
	},
	"POST " + manageapi.BasePath + "/keys/:id/reupload": func(t *testing.T, w *matrixWorld, p persona, params map[string]string) any {
		generatedKey(t, w, p, params, nil)
		return nil
	},
	"POST " + manageapi.BasePath + "/keys/:id/undo": func(t *testing.T, w *matrixWorld, p persona, params map[string]string) any {
		if generatedKey(t, w, p, params, nil) {
			if r, err := w.s.Managed.Renew(context.Background(), w.tenantA, w.byOwner(), params[":key_id"]); err != nil || !r.Done() {
				t.Fatalf("renew: %v", err)
			}
		}
		return nil
	},
	"POST " + manageapi.BasePath + "/keys/:id/activate": func(t *testing.T, w *matrixWorld, p persona, params map[string]string) any {
		if generatedKey(t, w, p, params, nil) {
			if r, err := w.s.Managed.Deactivate(context.Background(), w.tenantA, w.byOwner(), params[":key_id"]); err != nil || !r.Done() {
				t.Fatalf("deactivate: %v", err)
			}
		}
		return nil
	},
	"POST " + manageapi.BasePath + "/keys/:id/cancel-deletion": func(t *testing.T, w *matrixWorld, p persona, params map[string]string) any {
		if generatedKey(t, w, p, params, nil) {
			r, err := w.s.Managed.ScheduleDeletion(context.Background(), w.tenantA, w.byOwner(), params[":key_id"], managed.DeleteInput{WindowDays: 7, Acknowledge: true})
			if err != nil || !r.Done() {
				t.Fatalf("schedule deletion: %v", err)
			}
		}
		return nil
	},
	"PUT " + manageapi.BasePath + "/keys/:id/rotation-policy": func(t *testing.T, w *matrixWorld, p persona, params map[string]string) any {
		return map[string]any{"period_days": 90, "notice_days": []int{14}, "automatic": true}
	},
	"POST " + manageapi.BasePath + "/keys/:id/postpone": func(t *testing.T, w *matrixWorld, p persona, params map[string]string) any {
		return map[string]any{"days": 1}
	},
	"POST " + manageapi.BasePath + "/notices/:id/acknowledge": emptyBody,
	"POST " + manageapi.BasePath + "/stores": func(t *testing.T, w *matrixWorld, p persona, params map[string]string) any {
		w.seq++
		return map[string]any{"name": fmt.Sprintf("matrix api store %d", w.seq), "connection_id": w.own(p, params[":conn_id"], w.connB)}
	},
	"POST " + manageapi.BasePath + "/webhooks": func(t *testing.T, w *matrixWorld, p persona, params map[string]string) any {
		w.seq++
		return map[string]any{"url": fmt.Sprintf("https://matrix-%d.example.com/hook", w.seq), "events": []string{"key.rotated"}}
	},
	"PATCH " + manageapi.BasePath + "/webhooks/:id": func(t *testing.T, w *matrixWorld, p persona, params map[string]string) any {
		return map[string]any{"enabled": true}
	},
	"DELETE " + manageapi.BasePath + "/webhooks/:id": func(t *testing.T, w *matrixWorld, p persona, params map[string]string) any {
		w.seq++
		ep, _, err := w.s.Hooks.CreateEndpoint(context.Background(), w.tenantA, w.byOwner(), fmt.Sprintf("https://matrix-del-%d.example.com/hook", w.seq),
			[]string{"key.rotated"})
		if err != nil {
			t.Fatal(err)
		}
		params["manage:id"] = ep.ID
		return nil
	},
	"DELETE " + manageapi.BasePath + "/stores/:id": func(t *testing.T, w *matrixWorld, p persona, params map[string]string) any {
		w.seq++
		st, err := w.s.Managed.CreateStore(context.Background(), w.tenantA, w.byOwner(),
			managed.StoreInput{Name: fmt.Sprintf("matrix api empty store %d", w.seq), ConnectionID: params[":conn_id"]})
		if err != nil {
			t.Fatal(err)
		}
		params["manage:id"] = st.ID
		return nil
	},
	"POST " + manageapi.BasePath + "/stores/:id/keys": func(t *testing.T, w *matrixWorld, p persona, params map[string]string) any {
		w.seq++
		return map[string]any{"name": fmt.Sprintf("matrix api made %d", w.seq), "valid_days": 90}
	},
	"POST " + manageapi.BasePath + "/import-requests": func(t *testing.T, w *matrixWorld, p persona, params map[string]string) any {
		w.seq++
		return map[string]any{"store_id": w.own(p, params[":store_id"], w.storeB), "key_name": fmt.Sprintf("matrix api import %d", w.seq)}
	},
	"POST " + manageapi.BasePath + "/import-requests/:id/upload": func(t *testing.T, w *matrixWorld, p persona, params map[string]string) any {
		if !w.permitted { // a refused cell cannot use it up: one for all
			if w.sharedImport == nil {
				id, token, wrapped := w.freshImport(t, params[":store_id"])
				w.sharedImport = []string{id, token, wrapped}
			}
			params["manage:id"] = w.sharedImport[0]
			return map[string]any{"import_token": w.sharedImport[1], "wrapped_key": w.sharedImport[2]}
		}
		id, token, wrapped := w.freshImport(t, params[":store_id"])
		params["manage:id"] = id
		return map[string]any{"import_token": token, "wrapped_key": wrapped}
	},
	"GET " + manageapi.BasePath + "/audit/verify": func(t *testing.T, w *matrixWorld, p persona, params map[string]string) any {
		w.s.Clock.Advance(31 * time.Second) // one verification per tenant per 30 s
		return nil
	},
	"POST " + manageapi.BasePath + "/api-keys": func(t *testing.T, w *matrixWorld, p persona, params map[string]string) any {
		w.seq++
		return map[string]any{"name": fmt.Sprintf("matrix made key %d", w.seq), "role": "auditor", "expires_in_days": 30}
	},
	"DELETE " + manageapi.BasePath + "/api-keys/:id": func(t *testing.T, w *matrixWorld, p persona, params map[string]string) any {
		params["manage:id"] = w.liveAPIKey(t, w.permitted)
		return nil
	},
}

// emptyBody is the body of an operation whose body is optional: {}.
func emptyBody(t *testing.T, w *matrixWorld, p persona, params map[string]string) any {
	return map[string]any{}
}

// pendingApproval is a pending export approval of tenant A's generated
// key, requested by the victim (so every admin may decide it): a fresh one
// when fresh, else one shared by the refused cells.
func (w *matrixWorld) pendingApproval(t *testing.T, params map[string]string, fresh bool) string {
	t.Helper()
	ctx := context.Background()
	if !fresh && w.sharedApproval != "" {
		if a, err := w.s.DB.TenantApproval(ctx, w.tenantA, w.sharedApproval); err == nil && a.State == models.ApprovalPending {
			return w.sharedApproval
		}
	}
	save := w.permitted
	w.permitted = false // the shared generated key will do
	generatedKey(t, w, admin, params, nil)
	w.permitted = save
	a := &models.Approval{TenantID: w.tenantA, KeyID: params[":key_id"], Action: models.ApprovalExport, RequestedBy: w.victim}
	if err := w.s.DB.CreateApproval(ctx, a, time.Hour, models.AuditInput{Actor: w.victim, Action: "key.approval_requested"}); err != nil {
		t.Fatal(err)
	}
	if !fresh {
		w.sharedApproval = a.ID
	}
	return a.ID
}

// liveAPIKey is a live API key of tenant A to revoke: a fresh one when
// fresh, else one shared by the refused cells.
func (w *matrixWorld) liveAPIKey(t *testing.T, fresh bool) string {
	t.Helper()
	if !fresh && w.sharedAPIKey != "" {
		return w.sharedAPIKey
	}
	w.seq++
	_, row, err := w.s.Keys.NewAPIKey(context.Background(), w.tenantA, w.byOwner(), fmt.Sprintf("matrix victim key %d", w.seq), models.RoleAuditor, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !fresh {
		w.sharedAPIKey = row.ID
	}
	return row.ID
}

// manageRowsCovered checks that every operation of the management API is
// a served route the matrix walked: the table is derived, so this is what
// proves the derivation saw them all.
func manageRowsCovered(t *testing.T, s *stack, walked []string) {
	t.Helper()
	if s.Manage == nil {
		t.Error("the matrix's stack serves no management API")
		return
	}
	for _, op := range s.Manage.Operations() {
		key := op.Method + " " + manageapi.BasePath + op.Path
		if !slices.Contains(walked, key) {
			t.Errorf("management API operation %s (%s) is not a route the matrix walked", key, op.ID)
		}
	}
}

// metricsHolder checks /metrics beyond the matrix's personas (who all
// send sessions or tokens that are not the metrics token, and are all
// refused): the metrics token reads it, and neither an API key nor a
// data-API token does. It returns the cells it checked and the unexpected
// allows among them.
func (w *matrixWorld) metricsHolder(t *testing.T) (cells, allows int) {
	t.Helper()
	for _, c := range []struct {
		who, token string
		want       bool
	}{{"the metrics token", stackMetricsToken, true}, {"tenant A's admin API key", w.apiKeys[admin], false},
		{"tenant B's admin API key", w.apiKeys[outsider], false}, {"tenant A's service token", w.tokenA, false}} {
		req, _ := http.NewRequest(http.MethodGet, w.s.URL+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+c.token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		cells++
		switch got := res.StatusCode == http.StatusOK; {
		case got && !c.want:
			allows++
			t.Errorf("UNEXPECTED ALLOW: GET /metrics with %s answered %d", c.who, res.StatusCode)
		case !got && c.want:
			t.Errorf("GET /metrics with %s answered %d, want 200", c.who, res.StatusCode)
		}
	}
	return cells, allows
}
