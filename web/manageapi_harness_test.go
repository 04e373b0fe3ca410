package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"keyport/handlers/manageapi"
	"keyport/keysvc"
	"keyport/models"
	"keyport/web/devidp"
)

// manageWorld is the management API's test world: the full stack, two
// tenants (A with an admin and an auditor API key, B with an admin key),
// and the served OpenAPI document, against which every call's request and
// answer is validated with kin-openapi.
type manageWorld struct {
	s                 *stack
	tenantA, tenantB  string
	ownerA, ownerB    string
	adminA, auditorA  string // API keys of tenant A
	adminB            string // API key of tenant B
	doc               *openapi3.T
	router            routers.Router
	validateResponses bool
}

func newManageWorld(t *testing.T) *manageWorld {
	t.Helper()
	s := newFullStack(t, nil)
	ctx := context.Background()
	w := &manageWorld{s: s, validateResponses: true}
	mk := func(name, email string) (string, string) {
		u, _, err := s.DB.UpsertOIDCUser(ctx, s.IdP.Issuer(), devidp.Subject(email), email, strings.Split(email, "@")[0])
		if err != nil {
			t.Fatal(err)
		}
		tn, err := s.DB.CreateTenantWithOwner(ctx, name, u.ID, models.AuditInput{Actor: u.ID})
		if err != nil {
			t.Fatal(err)
		}
		return tn.ID, u.ID
	}
	w.tenantA, w.ownerA = mk("Alpha API", "owner@alpha.test")
	w.tenantB, w.ownerB = mk("Beta API", "owner@beta.test")
	w.adminA = w.apiKey(t, w.tenantA, w.ownerA, "alpha admin", models.RoleAdmin)
	w.auditorA = w.apiKey(t, w.tenantA, w.ownerA, "alpha auditor", models.RoleAuditor)
	w.adminB = w.apiKey(t, w.tenantB, w.ownerB, "beta admin", models.RoleAdmin)

	res, err := http.Get(s.URL + manageapi.BasePath + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET openapi.json: %d %s", res.StatusCode, raw)
	}
	loader := openapi3.NewLoader()
	w.doc, err = loader.LoadFromData(raw)
	if err != nil {
		t.Fatalf("load the OpenAPI document: %v", err)
	}
	if err := w.doc.Validate(loader.Context); err != nil {
		t.Fatalf("the OpenAPI document does not validate: %v", err)
	}
	w.doc.Servers = openapi3.Servers{{URL: s.URL + manageapi.BasePath}}
	if w.router, err = gorillamux.NewRouter(w.doc); err != nil {
		t.Fatal(err)
	}
	return w
}

// apiKey creates an API key of tenant as user.
func (w *manageWorld) apiKey(t *testing.T, tenant, user, name string, role models.Role) string {
	t.Helper()
	k, _, err := w.s.Keys.NewAPIKey(context.Background(), tenant, keysvc.RequestBy{UserID: user, Kind: models.ActorUser}, name, role, 0)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// apiAnswer is one answer of the management API.
type apiAnswer struct {
	Status int
	Header http.Header
	Raw    []byte
	Body   map[string]any
}

// code is the error code of an error answer.
func (a apiAnswer) code() string {
	e, _ := a.Body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

// str is a top-level string field.
func (a apiAnswer) str(k string) string { s, _ := a.Body[k].(string); return s }

// items is a list answer's items.
func (a apiAnswer) items() []map[string]any {
	var out []map[string]any
	for _, it := range a.Body["items"].([]any) {
		out = append(out, it.(map[string]any))
	}
	return out
}

// call sends one request with key (none when "") and body (JSON-encoded
// unless a string or []byte), checks the request and the answer against
// the OpenAPI document, and decodes the answer. headers adds headers as
// "Name: value".
func (w *manageWorld) call(t *testing.T, method, path, key string, body any, headers ...string) apiAnswer {
	t.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			t.Fatal(err)
		}
	}
	u := w.s.URL + manageapi.BasePath + path
	req, err := http.NewRequest(method, u, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out := apiAnswer{Status: res.StatusCode, Header: res.Header}
	out.Raw, _ = io.ReadAll(res.Body)
	if len(out.Raw) > 0 {
		if err := json.Unmarshal(out.Raw, &out.Body); err != nil {
			t.Fatalf("%s %s: answer %d is not a JSON object: %s", method, path, res.StatusCode, out.Raw)
		}
	}
	if w.validateResponses {
		w.validate(t, method, u, raw, req.Header, out)
	}
	return out
}

// validate checks an answer against the document: the operation exists,
// and the answer's status and body match its schema (errors match the
// Error schema).
func (w *manageWorld) validate(t *testing.T, method, u string, body []byte, h http.Header, out apiAnswer) {
	t.Helper()
	req, _ := http.NewRequest(method, u, bytes.NewReader(body))
	req.Header = h.Clone()
	route, params, err := w.router.FindRoute(req)
	if err != nil {
		pu, _ := url.Parse(u)
		if out.Status == http.StatusNotFound || out.Status == http.StatusMethodNotAllowed {
			return // an unknown route: nothing to check it against
		}
		t.Errorf("%s %s: not in the OpenAPI document (%v), answered %d", method, pu.Path, err, out.Status)
		return
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	rv := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: out.Status, Header: out.Header,
		Body: io.NopCloser(bytes.NewReader(out.Raw)), Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	if err := openapi3filter.ValidateResponse(context.Background(), rv); err != nil {
		t.Errorf("%s %s: answer %d does not match the OpenAPI document: %v\n%s", method, route.Path, out.Status, err, out.Raw)
	}
}

// want fails unless the answer has status (and, for errors, code).
func (a apiAnswer) want(t *testing.T, status int, code string) apiAnswer {
	t.Helper()
	if a.Status != status || (code != "" && a.code() != code) {
		t.Fatalf("got %d %s, want %d %s", a.Status, a.Raw, status, code)
	}
	return a
}

// byUser names a user as the actor of a service call in a test.
func byUser(id string) keysvc.RequestBy { return keysvc.RequestBy{UserID: id, Kind: models.ActorUser} }
