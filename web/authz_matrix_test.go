package web_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"keyport/handlers"
	"keyport/models"
	"keyport/web/devidp"
)

// persona is who sends a request in the matrix.
type persona string

const (
	anonymous persona = "anonymous"
	auditor   persona = "auditor"
	admin     persona = "admin"
	owner     persona = "owner"
	operator  persona = "operator"
	outsider  persona = "other-tenant" // owner of another tenant
	// service is a data-API client: tenant A's service token and no
	// session. On the data API the token is the role: owner, admin,
	// auditor and operator send only their session cookies there, and the
	// other tenant's owner sends tenant B's service token (issued by the
	// operator) naming tenant A's ids.
	service persona = "service-token"
)

var personas = []persona{anonymous, auditor, admin, owner, operator, outsider, service}

func allow(ps ...persona) map[persona]bool {
	m := map[persona]bool{}
	for _, p := range ps {
		m[p] = true
	}
	return m
}

var (
	public     = allow(personas...)
	signedIn   = allow(auditor, admin, owner, operator, outsider)
	anyMember  = allow(auditor, admin, owner, outsider) // a member of some tenant, acting in their own
	tenantTeam = allow(auditor, admin, owner)           // members of the tenant whose ids the request names
	ownerOnly  = allow(owner)
)

// expected is who may use each route, keyed by "METHOD path" as echo lists
// it. Every route the server has must be here: a new route without an entry
// fails the test, so nobody adds one without deciding who may use it.
// Requests name the tenant under test's ids (path parameters, tenant_id),
// so for the operator and the other tenant's owner every such route must
// answer as if the id did not exist.
var expected = map[string]map[persona]bool{
	"GET /healthz":       public,
	"GET /readyz":        public,
	"GET /metrics":       allow(), // only with the metrics token, never a session (see TestMetricsAfterTraffic)
	"GET /static*":       public,  // echo's StaticFS registers both
	"GET /":              public,
	"GET /auth/login":    public,
	"GET /auth/callback": public, // refuses a missing login flow, for everyone
	"POST /auth/logout":  signedIn,
	"GET /signed-out":    public,
	"GET /dashboard":     anyMember,
	"POST /dashboard/getting-started/dismiss": allow(admin, owner, outsider), // each in their own tenant
	"POST /tenants/switch":                    tenantTeam,
	"GET /members":                            anyMember,
	"POST /members/invite":                    allow(owner, outsider), // each into their own tenant
	"POST /members/leave":                     anyMember,
	"POST /members/:user_id/role":             ownerOnly,
	"POST /members/:user_id/remove":           ownerOnly,
	"POST /members/invitations/:id/resend":    ownerOnly,
	"POST /members/invitations/:id/revoke":    ownerOnly,
	"GET /invite":                             public, // the link holder's page; says "no invitation here" without one
	"POST /invite/accept":                     signedIn,
	"GET /dev/mail":                           public, // development mode only
	"GET /dev/mail/:id":                       public,
	// The data API: service tokens only, never a session; tenant B's
	// token naming tenant A's ids finds nothing.
	"POST /api/v1/encrypt":                            allow(service),
	"POST /api/v1/decrypt":                            allow(service),
	"POST /api/v1/encrypt/batch":                      allow(service),
	"POST /api/v1/decrypt/batch":                      allow(service),
	"POST /api/v1/rewrap":                             allow(service),
	"POST /api/v1/rewrap/batch":                       allow(service),
	"POST /api/v1/datakey":                            allow(service),
	"POST /api/v1/import-requests":                    allow(service),
	"POST /api/v1/import-requests/:request_id/upload": allow(service),
	"GET /api/v1/keys/:key_id":                        allow(service),
	"POST /api/v1/keys/:key_id/rotate":                allow(service),
	// Connections, keys and provider settings (issue 4): reading is for
	// every member; changes for owners and admins, each in their own tenant
	// where no id is named; provider settings for operators only.
	"GET /connections":                  anyMember,
	"GET /connections/new":              allow(admin, owner, outsider),
	"POST /connections":                 allow(admin, owner, outsider),
	"GET /connections/:conn_id":         tenantTeam,
	"POST /connections/:conn_id/test":   allow(admin, owner),
	"GET /connections/:conn_id/edit":    allow(admin, owner),
	"POST /connections/:conn_id/edit":   allow(admin, owner),
	"GET /connections/:conn_id/delete":  allow(admin, owner),
	"POST /connections/:conn_id/delete": allow(admin, owner), // refused while a key uses it: 409
	"GET /keys":                         anyMember,
	"GET /keys/new":                     allow(admin, owner, outsider),
	"POST /keys":                        allow(admin, owner, outsider),
	"GET /keys/:key_id":                 tenantTeam,
	"POST /keys/:key_id/check":          allow(admin, owner),
	"GET /keys/:key_id/deregister":      allow(admin, owner),
	"POST /keys/:key_id/deregister":     allow(admin, owner),
	"GET /provider":                     allow(operator),
	"POST /provider/settings":           allow(operator),
	// Service tokens are the operator's; purges are for a tenant's owners
	// and admins (a purge names a key: the outsider's is someone else's).
	"GET /provider/tokens":                      allow(operator),
	"POST /provider/tokens":                     allow(operator),
	"POST /provider/tokens/:token_id/revoke":    allow(operator),
	"POST /keys/:key_id/purge":                  allow(admin, owner),
	"POST /keys/:key_id/min-decryption-version": allow(admin, owner),
	"POST /keys/purge":                          allow(admin, owner, outsider),
	// Audit log and reports (issue 8): every member, in their own tenant
	// (no route names a tenant); the all-tenant views for operators only.
	"GET /audit":                    anyMember,
	"POST /audit/verify":            anyMember,
	"GET /reports":                  anyMember,
	"GET /reports/:report":          anyMember,
	"POST /reports/schedule":        allow(admin, owner, outsider), // each in their own tenant: no id is named
	"GET /operator":                 allow(operator),
	"GET /operator/audit":           allow(operator),
	"POST /operator/audit/verify":   allow(operator),
	"GET /operator/reports":         allow(operator),
	"GET /operator/reports/:report": allow(operator),
	// Rotation schedules, notices and the outbox (issue 6): reading for
	// every member; rotating, policies, postponing and acknowledging for
	// owners and admins; tenant defaults and the calendar feed for owners
	// and admins of their own tenant. The calendar feed answers only its
	// capability token, for nobody with a made-up one.
	"GET /keys/:key_id/rotation":                tenantTeam,
	"POST /keys/:key_id/rotation":               allow(admin, owner),
	"POST /keys/:key_id/rotate":                 allow(admin, owner),
	"POST /keys/:key_id/rotation/kms":           allow(admin, owner),
	"POST /keys/:key_id/kms-rotation":           allow(admin, owner), // KMS automatic rotation (issue 16, CleverTap)
	"POST /keys/:key_id/data-key":               allow(admin, owner), // the tenant's next data key (issue 16, InCountry)
	"POST /keys/:key_id/rotation/postpone":      allow(admin, owner),
	"POST /keys/:key_id/notices/:notice_id/ack": allow(admin, owner),
	"GET /rotations":                            anyMember,
	"POST /rotations/defaults":                  allow(admin, owner, outsider),
	"POST /rotations/calendar":                  allow(admin, owner, outsider),
	"POST /rotations/calendar/revoke":           allow(admin, owner, outsider),
	"GET /profile/notifications":                anyMember,
	"POST /profile/notifications":               anyMember,
	"GET /operator/rotations":                   allow(operator),
	"POST /operator/rotations/settings":         allow(operator),
	"GET /operator/outbox":                      allow(operator),
	"POST /operator/outbox/:id/retry":           allow(operator),
	"GET /calendar/:feed_token/rotations.ics":   allow(),
	// Key stores and the key lifecycle (issue 5): reading for every member;
	// changes, exports and approvals for owners and admins, each in their
	// own tenant where no id is named; the drift list for operators.
	"GET /stores":                                      anyMember,
	"POST /stores":                                     allow(admin, owner, outsider),
	"GET /stores/:store_id":                            tenantTeam,
	"POST /stores/:store_id/rename":                    allow(admin, owner),
	"POST /stores/:store_id/delete":                    allow(admin, owner),
	"POST /stores/:store_id/keys":                      allow(admin, owner),
	"POST /keys/:key_id/renew":                         allow(admin, owner),
	"POST /keys/:key_id/undo":                          allow(admin, owner),
	"POST /keys/:key_id/rotate-material":               allow(admin, owner),
	"POST /keys/:key_id/reupload":                      allow(admin, owner),
	"POST /keys/:key_id/deactivate":                    allow(admin, owner),
	"POST /keys/:key_id/activate":                      allow(admin, owner),
	"GET /keys/:key_id/delete":                         allow(admin, owner),
	"GET /keys/:key_id/confirm/:action":                allow(admin, owner),
	"POST /keys/:key_id/delete":                        allow(admin, owner),
	"POST /keys/:key_id/delete/cancel":                 allow(admin, owner),
	"POST /keys/:key_id/drift":                         allow(admin, owner),
	"POST /keys/:key_id/drift/reconcile":               allow(admin, owner),
	"GET /keys/:key_id/export":                         allow(admin, owner), // then recent sign-in
	"POST /keys/:key_id/export":                        allow(admin, owner),
	"POST /keys/:key_id/approvals":                     allow(admin, owner),
	"POST /keys/:key_id/approvals/:approval_id/decide": allow(admin, owner),
	"GET /import-requests":                             anyMember,
	"POST /import-requests":                            allow(admin, owner, outsider),
	"GET /import-requests/:request_id":                 allow(admin, owner),
	"POST /import-requests/:request_id/upload":         allow(admin, owner),
	"GET /operator/lifecycle":                          allow(operator),
	"POST /operator/lifecycle/settings":                allow(operator),
	// Webhooks (issue 15): every member reads; owners and admins manage,
	// each in their own tenant where no id is named.
	"GET /webhooks":                            anyMember,
	"POST /webhooks":                           allow(admin, owner, outsider),
	"GET /webhooks/:webhook_id":                tenantTeam,
	"POST /webhooks/:webhook_id":               allow(admin, owner),
	"POST /webhooks/:webhook_id/enabled":       allow(admin, owner),
	"POST /webhooks/:webhook_id/test":          allow(admin, owner),
	"POST /webhooks/:webhook_id/rotate-secret": allow(admin, owner),
	"GET /webhooks/:webhook_id/delete":         allow(admin, owner),
	"POST /webhooks/:webhook_id/delete":        allow(admin, owner),

	// Closing a tenant (issue 16): its owners only, each their own tenant
	// (no route names one).
	"GET /tenant/close":         allow(owner, outsider),
	"POST /tenant/close":        allow(owner, outsider),
	"POST /tenant/close/cancel": allow(owner, outsider),
	// The tenant's management-API keys (issue 15): owners and admins, each
	// in their own tenant where no id is named.
	"GET /api-keys":                     allow(admin, owner, outsider),
	"POST /api-keys":                    allow(admin, owner, outsider),
	"POST /api-keys/:api_key_id/revoke": allow(admin, owner),
}

// operatorDirectory are operator pages that list every tenant by name and
// id (never secrets): for the operator they are not a cross-tenant read.
var operatorDirectory = map[string]bool{
	"GET /provider/tokens":  true,
	"POST /provider/tokens": true,
	// The operator's views across tenants (issue 8): key health, every
	// tenant's audit log and the reports across tenants.
	"GET /operator":                 true,
	"GET /operator/audit":           true,
	"POST /operator/audit/verify":   true,
	"GET /operator/reports":         true,
	"GET /operator/reports/:report": true,
	"GET /operator/rotations":       true,
	"GET /operator/outbox":          true,
	"GET /operator/lifecycle":       true, // tenant and key ids of drifted keys, never secrets
}

// matrixWorld is the data the matrix runs against: tenant A (under test)
// with a member of each role, a victim member and an open invitation;
// tenant B with its owner; an operator in no tenant.
type matrixWorld struct {
	s                *stack
	tenantA, tenantB string
	users            map[persona]string
	emails           map[persona]string
	victim           string
	invitation       string
	secretMarkers    []string // text only tenant A's pages show
	// tokenA and tokenB are data-API service tokens of tenants A and B.
	tokenA, tokenB string
	raw            *sql.DB
	tables         []string // every table with a tenant_id column
	seq            int      // for unique names in fixtures
	connB, storeB  string   // tenant B's own, for its owner's changes in B
	coOwnerB       string   // a second owner of tenant B, so its owner may leave
	// permitted is whether the cell being built is a permitted one;
	// refused cells share what fixtures make (nothing may change it).
	permitted       bool
	sharedGenerated string
	sharedImport    []string
	// The management API's keys by persona (see manageKeys), and what
	// its refused cells share.
	apiKeys        map[persona]string
	sharedApproval string
	sharedAPIKey   string
}

func newMatrixWorld(t *testing.T, s *stack) *matrixWorld {
	t.Helper()
	ctx := context.Background()
	user := func(email string) string {
		u, _, err := s.DB.UpsertOIDCUser(ctx, s.IdP.Issuer(), devidp.Subject(email), email, strings.Split(email, "@")[0])
		if err != nil {
			t.Fatal(err)
		}
		return u.ID
	}
	w := &matrixWorld{s: s, emails: map[persona]string{owner: "owner@alpha.test", admin: "admin@alpha.test", auditor: "auditor@alpha.test",
		outsider: "owner@beta.test", operator: "ops@provider.test"}, users: map[persona]string{},
		victim: user("victim@alpha.test"), coOwnerB: user("co@beta.test")}
	for p, email := range w.emails {
		w.users[p] = user(email)
	}
	a, err := s.DB.CreateTenantWithOwner(ctx, "Alpha Matrix Tenant", w.users[owner], models.AuditInput{Actor: w.users[owner]})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.DB.CreateTenantWithOwner(ctx, "Beta", w.users[outsider], models.AuditInput{Actor: w.users[outsider]})
	if err != nil {
		t.Fatal(err)
	}
	w.tenantA, w.tenantB = a.ID, b.ID
	w.secretMarkers = []string{"Alpha Matrix Tenant", "victim@alpha.test", "pending@alpha.test", w.tenantA, w.victim}
	w.raw = s.rawSQL(t)
	w.tables = tenantTables(t, s, w.raw)
	w.realKey(t)
	if w.tokenA, _, err = s.Keys.NewServiceToken(ctx, w.tenantA, "matrix service", "operator"); err != nil {
		t.Fatal(err)
	}
	if w.tokenB, _, err = s.Keys.NewServiceToken(ctx, w.tenantB, "beta service", "operator"); err != nil {
		t.Fatal(err)
	}
	w.manageKeys(t)
	return w
}

// reset puts tenant A back as the matrix expects it after a request that
// was allowed to change it, and returns the ids to put in paths.
func (w *matrixWorld) reset(t *testing.T) map[string]string {
	t.Helper()
	ctx := context.Background()
	// In order: the owner first, so a co-owner made for a leave can step
	// down again.
	want := []struct {
		uid  string
		role models.Role
	}{{w.users[owner], models.RoleOwner}, {w.users[admin], models.RoleAdmin}, {w.users[auditor], models.RoleAuditor}, {w.victim, models.RoleAuditor}}
	for _, mw := range want {
		uid, role := mw.uid, mw.role
		m, err := w.s.DB.GetMembership(ctx, w.tenantA, uid)
		switch {
		case errors.Is(err, models.ErrNotFound):
			err = w.s.DB.AddMember(ctx, w.tenantA, uid, role, "", models.AuditInput{Actor: "matrix"})
		case err == nil && m.Role != role:
			_, err = w.s.DB.ChangeMemberRole(ctx, w.tenantA, uid, role, models.AuditInput{Actor: "matrix"})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// A member who left or was demoted lost the API keys they made (they
	// follow their creator's membership); the personas get theirs back.
	for _, p := range []persona{admin, auditor, outsider} {
		if k := w.apiKeys[p]; k != "" {
			id := strings.Join(strings.SplitN(strings.TrimPrefix(k, "kpa_"), "_", 3)[:2], "_")
			if _, err := w.raw.Exec("UPDATE api_keys SET revoked_at = NULL WHERE id = '" + id + "'"); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := w.s.DB.GetMembership(ctx, w.tenantB, w.users[outsider]); errors.Is(err, models.ErrNotFound) {
		if err := w.s.DB.AddMember(ctx, w.tenantB, w.users[outsider], models.RoleOwner, "", models.AuditInput{Actor: "matrix"}); err != nil {
			t.Fatal(err)
		}
	}
	invs, err := w.s.DB.ListInvitations(ctx, w.tenantA)
	if err != nil {
		t.Fatal(err)
	}
	if len(invs) == 0 {
		h := sha256.Sum256([]byte(models.NewID("tok_")))
		inv, err := w.s.DB.CreateInvitation(ctx, models.NewInvitation{TenantID: w.tenantA, Email: "pending@alpha.test",
			Role: models.RoleAdmin, TokenHash: h[:], InvitedBy: w.users[owner], TTL: time.Hour}, models.AuditInput{Actor: "matrix"})
		if err != nil {
			t.Fatal(err)
		}
		w.invitation = inv.ID
	} else {
		w.invitation = invs[0].ID
	}
	// A live service token for the revoke route (each revoke uses it up).
	// (Its own id: listing tokens by creation time is ambiguous, the stack's
	// clock stands still.)
	_, live, err := w.s.Keys.NewServiceToken(ctx, w.tenantA, "matrix", w.users[owner])
	if err != nil {
		t.Fatal(err)
	}
	params := map[string]string{":user_id": w.victim, ":id": w.invitation, ":token_id": live.ID, ":report": "inventory", ":action": "renew"}
	for k, v := range w.keyParams(t) {
		params[k] = v
	}
	params[":notice_id"], params[":feed_token"] = w.noticeParam(t, params[":key_id"]), "no-such-feed-token-0123456789"
	params[":api_key_id"] = w.liveAPIKey(t, false) // a refused revoke must leave it live
	for k, v := range w.lifecycleParams(t, params[":conn_id"], params[":key_id"]) {
		params[k] = v
	}
	params[":webhook_id"] = w.webhookParam(t)
	return params
}

// tenantTables lists every table with a tenant_id column, read from the
// schema (not by hand), so a new table is covered the day it is added.
func tenantTables(t *testing.T, s *stack, raw *sql.DB) []string {
	t.Helper()
	q := `SELECT m.name FROM sqlite_master m JOIN pragma_table_info(m.name) c WHERE m.type = 'table' AND c.name = 'tenant_id' ORDER BY m.name`
	if models.IsPostgresURL(s.DSN) {
		q = `SELECT table_name FROM information_schema.columns WHERE column_name = 'tenant_id' AND table_schema = current_schema() ORDER BY table_name`
	}
	rows, err := raw.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	if len(out) < 10 {
		t.Fatalf("only %d tables with a tenant_id column: %v", len(out), out)
	}
	return out
}

// stateOfA is every row of tenant A in every table with a tenant_id
// column, to detect a write through another tenant.
func (w *matrixWorld) stateOfA(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, table := range w.tables {
		q := "SELECT * FROM " + table + " WHERE tenant_id = $1"
		if !models.IsPostgresURL(w.s.DSN) {
			q = "SELECT * FROM " + table + " WHERE tenant_id = ?"
		}
		rows, err := w.raw.Query(q, w.tenantA)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		var lines []string
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			var l strings.Builder
			for i, v := range vals {
				if bs, ok := v.([]byte); ok {
					v = fmt.Sprintf("%q", bs)
				}
				fmt.Fprintf(&l, "%s=%v,", cols[i], v)
			}
			lines = append(lines, l.String())
		}
		rows.Close()
		sort.Strings(lines)
		fmt.Fprintf(&b, "%s: %s\n", table, strings.Join(lines, " | "))
	}
	return b.String()
}

// client returns a browser for p with a fresh session (sign-out and
// demotions end sessions, so none is reused) and its CSRF token.
func (w *matrixWorld) client(t *testing.T, p persona) (*http.Client, string) {
	t.Helper()
	b := newBrowser(t)
	c := b.noFollow()
	if p == anonymous || p == service || p == revokedKey || p == expiredKey {
		return c, "no-session-no-token"
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	secret := base64.RawURLEncoding.EncodeToString(raw)
	h := sha256.Sum256([]byte(secret))
	tenant := map[persona]string{owner: w.tenantA, admin: w.tenantA, auditor: w.tenantA, outsider: w.tenantB}[p]
	sess := &models.Session{SecretHash: h[:], UserID: w.users[p], TenantID: tenant, ExpiresAt: time.Now().Add(time.Hour),
		AuthTime: w.s.Clock.Now()} // a fresh sign-in, as export wants
	if err := w.s.DB.CreateSession(context.Background(), sess); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(w.s.URL)
	b.Jar.SetCookies(u, []*http.Cookie{{Name: "keyport_session", Value: sess.ID + "." + secret, Path: "/"}})
	_, page := b.get(t, w.s.URL+"/dashboard") // every page a signed-in user sees carries the token
	return c, csrfToken(t, page)
}

// denied tells an authorization refusal from any other answer.
func denied(res *http.Response) bool {
	switch res.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
		return true
	}
	return res.StatusCode == http.StatusSeeOther && strings.HasPrefix(res.Header.Get("Location"), "/?return_to=")
}

// successful tells a permitted request that did what it asked from one
// that was let in and then failed: 2xx, or a redirect that is not to the
// sign-in page nor to an error.
func successful(res *http.Response) bool {
	loc := res.Header.Get("Location")
	switch {
	case res.StatusCode >= 200 && res.StatusCode < 300:
		return true
	case res.StatusCode >= 300 && res.StatusCode < 400:
		return !strings.HasPrefix(loc, "/?return_to=") && !strings.HasPrefix(loc, "/auth/login") && !strings.Contains(loc, "error")
	}
	return false
}

// cannotSucceed are permitted cells that legitimately cannot succeed in the
// fixture, each with the one word why and the answer the test checks
// instead (keyed by route; the answer is the same for every permitted
// persona).
var cannotSucceed = map[string]struct {
	why    string
	status int
}{
	"GET /auth/callback": {"noflow", http.StatusBadRequest}, // no login flow in progress: the real flow is TestSignIn*
}

func TestAuthorizationMatrix(t *testing.T) {
	if raceEnabled {
		t.Skip("the authorization matrix runs without the race detector (make test runs it in its own step)")
	}
	s := newFullStack(t, func(c *handlers.Config) {
		c.Operators = []string{"ops@provider.test"}
		c.InviteRateLimit = 10000
	})
	s.Managed.AttachWorker(s.Rot.Worker)
	s.Rot.SetRotator(models.ModeGenerated, s.Managed)
	s.Rot.SetRotator(models.ModeImported, s.Managed)
	s.Managed.PreferWrappingKeySpec("RSA_2048")
	w := newMatrixWorld(t, s)

	// The write detector sees a change in any tenant table, by a row of
	// tenant A changed around the store.
	w.reset(t)
	before := w.stateOfA(t)
	if _, err := w.raw.Exec("UPDATE memberships SET role = 'admin' WHERE tenant_id = '" + w.tenantA + "' AND user_id = '" + w.victim + "'"); err != nil {
		t.Fatal(err)
	}
	if w.stateOfA(t) == before {
		t.Fatalf("a changed membership row of tenant A is not seen by the snapshot of %v", w.tables)
	}
	w.reset(t)

	var routes []string
	seen := map[string]bool{}
	for _, r := range s.Echo.Routes() {
		if r.Method == echoRouteNotFound {
			continue
		}
		key := r.Method + " " + r.Path
		if !seen[key] {
			seen[key] = true
			routes = append(routes, key)
		}
	}
	sort.Strings(routes)
	// The hand-written table, plus a row per management API route derived
	// from its operation (authz_manage_test.go).
	expected := matrixTable(t, s)
	manageRowsCovered(t, s, routes)
	// Both ways: a table entry for a route the server does not have is a
	// decision about nothing (a renamed route, or one the matrix's stack
	// does not serve).
	for key := range expected {
		if !seen[key] {
			t.Errorf("the authorization table has %s, which the server does not serve", key)
		}
	}
	for key := range cannotSucceed {
		if !seen[key] {
			t.Errorf("cannotSucceed names %s, which the server does not serve", key)
		}
	}

	cells, unexpectedAllows, unexpectedDenies, crossTenant, permittedFailed := 0, 0, 0, 0, 0
	for _, key := range routes {
		want, ok := expected[key]
		if !ok {
			t.Errorf("route %s is not in the authorization table: decide who may use it and add it to expected", key)
			continue
		}
		method, path, _ := strings.Cut(key, " ")
		api := strings.HasPrefix(path, "/api/v1/")
		manage := isManage(path)
		for i, p := range personasFor(path) {
			params := w.reset(t)
			c, token := w.client(t, p)
			form := url.Values{"csrf_token": {token}, "email": {fmt.Sprintf("matrix-%d-%d@example.net", cells, i)},
				"role": {"admin"}, "tenant_id": {w.tenantA}}
			// Every signed-in persona sends the complete request, so a
			// refusal cannot come from a missing field alone: a broken
			// check behind validation shows as an allow or a write.
			w.permitted = want[p]
			if fx := fixtures[key]; fx != nil && !manage && (want[p] || p != anonymous && p != service) {
				fx(t, w, p, params, form)
			}
			// Fixture steps that are not form fields: a query string, an
			// invitation link opened first, a membership to undo after.
			query, inviteToken, leaveTenant := form.Get("_query"), form.Get("_invite_token"), form.Get("_leave_tenant")
			form.Del("_query")
			form.Del("_invite_token")
			form.Del("_leave_tenant")
			if inviteToken != "" {
				res, err := c.Get(s.URL + "/invite?token=" + inviteToken)
				if err != nil || res.StatusCode != http.StatusSeeOther {
					t.Fatalf("%s as %s: opening the invitation link: %v", key, p, err)
				}
				res.Body.Close()
			}
			var body io.Reader
			noFixture := false
			switch {
			case manage:
				var b string
				if b, noFixture = w.manageBody(t, s, key, method, path, p, params); b != "" {
					body = strings.NewReader(b)
				}
			case api:
				body = strings.NewReader(w.apiBody(t, key, params, want[p]))
			case method != http.MethodGet:
				body = strings.NewReader(form.Encode())
			}
			target := path
			if manage {
				target = w.manageTarget(t, key, path, params)
			}
			for name, v := range params {
				target = strings.ReplaceAll(target, name, v)
			}
			if strings.HasSuffix(target, "*") {
				target = strings.TrimSuffix(strings.TrimSuffix(target, "*"), "/") + "/css/app.css"
			}
			if strings.ContainsAny(target, ":*") {
				t.Fatalf("%s: no test value for a parameter in %s", key, target)
			}
			if query != "" {
				target += "?" + query
			}
			before := w.stateOfA(t)
			req, _ := http.NewRequest(method, s.URL+target, body)
			switch {
			case manage && body != nil, api:
				req.Header.Set("Content-Type", "application/json")
			case body != nil:
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			switch {
			case manage:
				w.manageAuth(req, p)
			case p == service:
				req.Header.Set("Authorization", "Bearer "+w.tokenA)
			case p == outsider && api:
				req.Header.Set("Authorization", "Bearer "+w.tokenB)
			}
			res, err := c.Do(req)
			if err != nil {
				t.Fatalf("%s as %s: %v", key, p, err)
			}
			page, _ := io.ReadAll(res.Body)
			res.Body.Close()
			cells++
			if leaveTenant != "" {
				// Also proof the acceptance took: the membership is there.
				if err := w.s.DB.RemoveMember(context.Background(), leaveTenant, w.users[p], false, models.AuditInput{Actor: "matrix"}); err != nil {
					t.Errorf("%s as %s: no membership to leave after accepting: %v", key, p, err)
				}
			}

			got := !denied(res) && !(api && allItemsRefused(page)) && refusedAs[key] != res.StatusCode
			switch {
			case got && !want[p]:
				unexpectedAllows++
				t.Errorf("UNEXPECTED ALLOW: %s as %s answered %d (Location %q): %s", key, p, res.StatusCode, res.Header.Get("Location"), excerpt(page))
			case !got && want[p]:
				unexpectedDenies++
				t.Errorf("unexpected deny: %s as %s answered %d", key, p, res.StatusCode)
			case want[p]:
				if cs, ok := cannotSucceed[key]; ok {
					if res.StatusCode != cs.status {
						permittedFailed++
						t.Errorf("PERMITTED FAILED: %s as %s answered %d, want %d (%s)", key, p, res.StatusCode, cs.status, cs.why)
					}
				} else if !successful(res) {
					permittedFailed++
					hint := ""
					if noFixture {
						hint = fmt.Sprintf(" (the matrix sent {}: add a manageFixtures entry for %q giving a valid body)", key)
					}
					t.Errorf("PERMITTED FAILED: %s as %s answered %d (Location %q)%s: %s", key, p, res.StatusCode, res.Header.Get("Location"), hint, excerpt(page))
				}
			}
			// Another tenant's owner naming tenant A's ids finds nothing:
			// 404, not 403 (which would confirm the id exists).
			if p == outsider && !want[p] && (want[owner] || want[admin] || want[auditor]) && strings.Contains(path, "/:") &&
				res.StatusCode != http.StatusNotFound {
				crossTenant++
				t.Errorf("CROSS-TENANT: %s as %s with tenant A's ids answered %d, want 404", key, p, res.StatusCode)
			}
			if p != admin && p != owner && p != auditor && p != service || manage && (p == owner || p == service) {
				for _, m := range w.secretMarkers {
					if p == operator && operatorDirectory[key] {
						break // operators are provider-wide: these pages list every tenant by name
					}
					if strings.HasPrefix(path, "/dev/") {
						break // development mode's mail page shows every caught message, to anyone on loopback
					}
					if strings.Contains(string(page), m) || strings.Contains(res.Header.Get("Location"), m) {
						crossTenant++
						t.Errorf("CROSS-TENANT READ: %s as %s shows %q of tenant A", key, p, m)
					}
				}
				// An operator's permitted writes are provider-wide (revoking
				// a tenant's service token): only refused requests must
				// leave tenant A as it was.
				if after := w.stateOfA(t); after != before && !(p == operator && want[p]) {
					crossTenant++
					t.Errorf("CROSS-TENANT WRITE: %s as %s changed tenant A:\n%s", key, p, lineDiff(before, after))
				}
			}
		}
	}
	mc, ma := w.metricsHolder(t)
	cells, unexpectedAllows = cells+mc, unexpectedAllows+ma
	fmt.Printf("METRIC authz_matrix cells=%d unexpected_allows=%d cross_tenant=%d permitted_failed=%d\n", cells, unexpectedAllows, crossTenant, permittedFailed)
	t.Logf("METRIC authz_matrix cells=%d unexpected_allows=%d cross_tenant=%d permitted_failed=%d (unexpected denies %d, routes %d, tables %d)",
		cells, unexpectedAllows, crossTenant, permittedFailed, unexpectedDenies, len(routes), len(w.tables))
	if cells < len(personas)*len(routes) || len(routes) < 15 {
		t.Errorf("only %d cells over %d routes: the walk missed routes", cells, len(routes))
	}
}

// refusedAs are refusals that are not 401/403/404: an id in a request body
// that names nothing of the caller's gets the same validation answer as a
// made-up id.
var refusedAs = map[string]int{
	"POST /api/v1/import-requests": http.StatusBadRequest, // "store_id: choose one of your key stores"
}

// allItemsRefused tells a data-API batch answer whose every item was
// refused (the batch itself answers 200).
func allItemsRefused(page []byte) bool {
	var b struct {
		Items []struct {
			Error *struct{ Code string } `json:"error"`
		} `json:"items"`
	}
	if json.Unmarshal(page, &b) != nil || len(b.Items) == 0 {
		return false
	}
	for _, it := range b.Items {
		if it.Error == nil || (!strings.HasSuffix(it.Error.Code, "not_found") && it.Error.Code != "forbidden") {
			return false
		}
	}
	return true
}

// excerpt is the start of a page's text, for a failure message.
func excerpt(page []byte) string {
	s := string(page)
	if i := strings.Index(s, "<main"); i >= 0 {
		s = s[i:]
	}
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}

// lineDiff shows the lines of after that differ from before.
func lineDiff(before, after string) string {
	b := strings.Split(before, "\n")
	var out []string
	for i, l := range strings.Split(after, "\n") {
		if i >= len(b) || b[i] != l {
			out = append(out, "after:  "+l)
			if i < len(b) {
				out = append(out, "before: "+b[i])
			}
		}
	}
	return strings.Join(out, "\n")
}

// echoRouteNotFound is the method echo lists RouteNotFound handlers under.
const echoRouteNotFound = "echo_route_not_found"
