package web_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
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
)

var personas = []persona{anonymous, auditor, admin, owner, operator, outsider}

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
	"GET /healthz":                         public,
	"GET /readyz":                          public,
	"GET /metrics":                         allow(), // only with the metrics token, never a session (when configured)
	"GET /static/*":                        public,
	"GET /static*":                         public, // echo's StaticFS registers both
	"GET /":                                public,
	"GET /auth/login":                      public,
	"GET /auth/callback":                   public, // refuses a missing login flow, for everyone
	"POST /auth/logout":                    signedIn,
	"GET /signed-out":                      public,
	"GET /dashboard":                       anyMember,
	"POST /tenants/switch":                 tenantTeam,
	"GET /members":                         anyMember,
	"POST /members/invite":                 allow(owner, outsider), // each into their own tenant
	"POST /members/leave":                  anyMember,
	"POST /members/:user_id/role":          ownerOnly,
	"POST /members/:user_id/remove":        ownerOnly,
	"POST /members/invitations/:id/resend": ownerOnly,
	"POST /members/invitations/:id/revoke": ownerOnly,
	"GET /invite":                          public, // the link holder's page; says "no invitation here" without one
	"POST /invite/accept":                  signedIn,
	"GET /dev/mail":                        public, // development mode only
	"GET /dev/mail/:id":                    public,
	// Connections, keys and provider settings (issue 4): reading is for
	// every member; changes for owners and admins, each in their own tenant
	// where no id is named; provider settings for operators only.
	"GET /connections":                  anyMember,
	"GET /connections/new":              allow(admin, owner, outsider),
	"POST /connections":                 allow(admin, owner, outsider),
	"GET /connections/:conn_id":         tenantTeam,
	"POST /connections/:conn_id/test":   allow(admin, owner),
	"GET /connections/:conn_id/delete":  allow(admin, owner),
	"POST /connections/:conn_id/delete": allow(admin, owner), // refused while a key uses it: 409
	"GET /keys":                         anyMember,
	"GET /keys/new":                     allow(admin, owner, outsider),
	"POST /keys":                        allow(admin, owner, outsider),
	"GET /keys/:key_id":                 tenantTeam,
	"POST /keys/:key_id/check":          allow(admin, owner),
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
	victim           string
	invitation       string
	secretMarkers    []string // text only tenant A's pages show
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
	w := &matrixWorld{s: s, users: map[persona]string{
		owner: user("owner@alpha.test"), admin: user("admin@alpha.test"), auditor: user("auditor@alpha.test"),
		outsider: user("owner@beta.test"), operator: user("ops@provider.test"),
	}, victim: user("victim@alpha.test")}
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
	return w
}

// reset puts tenant A back as the matrix expects it after a request that
// was allowed to change it, and returns the ids to put in paths.
func (w *matrixWorld) reset(t *testing.T) map[string]string {
	t.Helper()
	ctx := context.Background()
	want := map[string]models.Role{w.users[owner]: models.RoleOwner, w.users[admin]: models.RoleAdmin,
		w.users[auditor]: models.RoleAuditor, w.victim: models.RoleAuditor}
	for uid, role := range want {
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
	params := map[string]string{":user_id": w.victim, ":id": w.invitation, ":token_id": live.ID, ":report": "inventory"}
	for k, v := range w.keyParams(t) {
		params[k] = v
	}
	params[":notice_id"], params[":feed_token"] = w.noticeParam(t, params[":key_id"]), "no-such-feed-token-0123456789"
	for k, v := range w.lifecycleParams(t, params[":conn_id"], params[":key_id"]) {
		params[k] = v
	}
	return params
}

// stateOfA is tenant A's membership and invitation state, to detect a
// write through another tenant.
func (w *matrixWorld) stateOfA(t *testing.T) string {
	t.Helper()
	ms, err := w.s.DB.ListMembers(context.Background(), w.tenantA)
	if err != nil {
		t.Fatal(err)
	}
	invs, _ := w.s.DB.ListInvitations(context.Background(), w.tenantA)
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "%s=%s;", m.UserID, m.Role)
	}
	for _, i := range invs {
		fmt.Fprintf(&b, "%s;", i.ID)
	}
	return b.String()
}

// client returns a browser for p with a fresh session (sign-out and
// demotions end sessions, so none is reused) and its CSRF token.
func (w *matrixWorld) client(t *testing.T, p persona) (*http.Client, string) {
	t.Helper()
	b := newBrowser(t)
	c := b.noFollow()
	if p == anonymous {
		return c, "no-session-no-token"
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	secret := base64.RawURLEncoding.EncodeToString(raw)
	h := sha256.Sum256([]byte(secret))
	tenant := map[persona]string{owner: w.tenantA, admin: w.tenantA, auditor: w.tenantA, outsider: w.tenantB}[p]
	sess := &models.Session{SecretHash: h[:], UserID: w.users[p], TenantID: tenant, ExpiresAt: time.Now().Add(time.Hour)}
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

func TestAuthorizationMatrix(t *testing.T) {
	s := newStack(t, func(c *handlers.Config) {
		c.Operators = []string{"ops@provider.test"}
		c.InviteRateLimit = 10000
	})
	w := newMatrixWorld(t, s)

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

	cells, unexpectedAllows, unexpectedDenies, crossTenant := 0, 0, 0, 0
	for _, key := range routes {
		want, ok := expected[key]
		if !ok {
			t.Errorf("route %s is not in the authorization table: decide who may use it and add it to expected", key)
			continue
		}
		method, path, _ := strings.Cut(key, " ")
		for i, p := range personas {
			params := w.reset(t)
			before := w.stateOfA(t)
			c, token := w.client(t, p)
			target := path
			for name, v := range params {
				target = strings.ReplaceAll(target, name, v)
			}
			if strings.HasSuffix(target, "*") {
				target = strings.TrimSuffix(strings.TrimSuffix(target, "*"), "/") + "/css/app.css"
			}
			if strings.ContainsAny(target, ":*") {
				t.Fatalf("%s: no test value for a parameter in %s", key, target)
			}
			form := url.Values{"csrf_token": {token}, "email": {fmt.Sprintf("matrix-%d-%d@example.net", cells, i)},
				"role": {"admin"}, "tenant_id": {w.tenantA}}
			var body io.Reader
			if method != http.MethodGet {
				body = strings.NewReader(form.Encode())
			}
			req, _ := http.NewRequest(method, s.URL+target, body)
			if body != nil {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			res, err := c.Do(req)
			if err != nil {
				t.Fatalf("%s as %s: %v", key, p, err)
			}
			page, _ := io.ReadAll(res.Body)
			res.Body.Close()
			cells++

			got := !denied(res)
			switch {
			case got && !want[p]:
				unexpectedAllows++
				t.Errorf("UNEXPECTED ALLOW: %s as %s answered %d (Location %q)", key, p, res.StatusCode, res.Header.Get("Location"))
			case !got && want[p]:
				unexpectedDenies++
				t.Errorf("unexpected deny: %s as %s answered %d", key, p, res.StatusCode)
			}
			if p == anonymous || p == operator || p == outsider {
				for _, m := range w.secretMarkers {
					if p == operator && operatorDirectory[key] {
						break // operators are provider-wide: these pages list every tenant by name
					}
					if strings.Contains(string(page), m) || strings.Contains(res.Header.Get("Location"), m) {
						crossTenant++
						t.Errorf("CROSS-TENANT READ: %s as %s shows %q of tenant A", key, p, m)
					}
				}
				if after := w.stateOfA(t); after != before {
					crossTenant++
					t.Errorf("CROSS-TENANT WRITE: %s as %s changed tenant A: %s -> %s", key, p, before, after)
				}
			}
		}
	}
	fmt.Printf("METRIC authz_matrix cells=%d unexpected_allows=%d cross_tenant=%d\n", cells, unexpectedAllows, crossTenant)
	t.Logf("METRIC authz_matrix cells=%d unexpected_allows=%d cross_tenant=%d (unexpected denies %d, routes %d)",
		cells, unexpectedAllows, crossTenant, unexpectedDenies, len(routes))
	if cells < len(personas)*len(routes) || len(routes) < 15 {
		t.Errorf("only %d cells over %d routes: the walk missed routes", cells, len(routes))
	}
}

// echoRouteNotFound is the method echo lists RouteNotFound handlers under.
const echoRouteNotFound = "echo_route_not_found"
