package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
		"strings"
	"sync/atomic"
	"testing"
	"time"

	"keyport/models"
)

// listSeed adds keys to the signed-in tenant straight through the store:
// registered keys with two regions and a used data-key version, enough of
// them to cross pages.
type listSeed struct {
	s      *stack
	tenant string
	conn   string
	n      int
}

func newListSeed(t *testing.T, s *stack, tenant string) *listSeed {
	t.Helper()
	c := &models.Connection{TenantID: tenant, Name: "prod", AccountID: "111122223333", DefaultRegion: "us-east-1", Kind: "assume_role",
		RoleARN: "arn:aws:iam::111122223333:role/keyport"}
	if err := s.DB.CreateConnection(context.Background(), c, models.AuditInput{Action: "connection.created"}); err != nil {
		t.Fatal(err)
	}
	return &listSeed{s: s, tenant: tenant, conn: c.ID}
}

// add registers a key named name whose last use is usedAt (zero: never).
func (l *listSeed) add(t *testing.T, name string, usedAt time.Time) string {
	t.Helper()
	ctx := context.Background()
	l.n++
	arn := func(region string) string {
		return fmt.Sprintf("arn:aws:kms:%s:111122223333:key/seed-%04d-%s", region, l.n, strings.ToLower(strings.ReplaceAll(name, " ", "-")))
	}
	nk := &models.NewKey{Key: models.Key{TenantID: l.tenant, ConnectionID: l.conn, Name: name, Mode: models.ModeCMK, State: models.StateEnabled, Health: models.HealthOK},
		Regions: []models.KeyRegion{{Region: "us-east-1", KMSKeyARN: arn("us-east-1")}, {Region: "eu-west-1", KMSKeyARN: arn("eu-west-1"), Priority: 1}},
		Version: &models.DataKeyVersion{Version: 1, Reason: "register"},
		Wraps:   []models.DataKeyWrap{{Region: "us-east-1", KMSKeyARN: arn("us-east-1"), Ciphertext: []byte("wrapped")}}}
	if err := l.s.DB.CreateKey(ctx, nk, models.AuditInput{Action: "key.registered"}); err != nil {
		t.Fatal(err)
	}
	if !usedAt.IsZero() {
		if err := l.s.DB.AddVersionUsage(ctx, []models.VersionUsage{{KeyID: nk.Key.ID, Version: 1, Encrypts: 1, LastUsedAt: usedAt}}); err != nil {
			t.Fatal(err)
		}
	}
	return nk.Key.ID
}

// countedKey marks the context of the request whose statements count.
type countedKey struct{}

// statementCounter counts the SQL statements of requests served by get:
// background work of the stack (jobs, replicas' polling) is not counted.
type statementCounter struct {
	s *stack
	n atomic.Int64
}

func newStatementCounter(t *testing.T, s *stack) *statementCounter {
	t.Helper()
	sc := &statementCounter{s: s}
	if err := s.DB.OnStatement(func(ctx context.Context) {
		if ctx != nil && ctx.Value(countedKey{}) != nil {
			sc.n.Add(1)
		}
	}); err != nil {
		t.Fatal(err)
	}
	return sc
}

// get serves one GET through the stack's handler with the browser's
// cookies and returns the status, the page and the statements it ran.
func (sc *statementCounter) get(t *testing.T, b *browser, path string) (int, string, int64) {
	t.Helper()
	u, _ := url.Parse(sc.s.URL)
	req := httptest.NewRequest(http.MethodGet, sc.s.URL+path, nil)
	req = req.WithContext(context.WithValue(req.Context(), countedKey{}, true))
	for _, c := range b.Jar.Cookies(u) {
		req.AddCookie(c)
	}
	sc.n.Store(0)
	rec := httptest.NewRecorder()
	sc.s.Echo.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String(), sc.n.Load()
}

// TestKeysListQueriesDoNotGrow: the keys list runs as many SQL statements
// at 200 keys as at 10, for the first page, a search, a sort by last use
// and a later page: regions and last use come batched for the page, and
// search and paging happen in SQL.
func TestKeysListQueriesDoNotGrow(t *testing.T) {
	s := newStack(t, nil)
	b := newBrowser(t)
	s.signIn(t, b, dana)
	seed := newListSeed(t, s, s.tenantOf(t, dana))
	sc := newStatementCounter(t, s)
	paths := []string{"/keys", "/keys?q=key", "/keys?sort=last_used&dir=desc", "/keys?sort=next_rotation&page=2", "/keys?sort=status"}
	measure := func(n int) map[string]int64 {
		for seed.n < n {
			used := time.Time{}
			if seed.n%3 == 0 {
				used = s.Clock.Now().Add(-time.Duration(seed.n) * time.Minute)
			}
			seed.add(t, fmt.Sprintf("key %03d", seed.n), used)
		}
		out := map[string]int64{}
		for _, p := range paths {
			code, page, q := sc.get(t, b, p)
			if code != http.StatusOK || !strings.Contains(page, `data-testid="keys-table"`) {
				t.Fatalf("GET %s at %d keys: %d", p, n, code)
			}
			if rows := strings.Count(page, `data-testid="key-row"`); rows != min(n, models.KeyPageSize) && !strings.Contains(p, "page=2") {
				t.Errorf("GET %s at %d keys: %d rows", p, n, rows)
			}
			out[p] = q
		}
		return out
	}
	small, large := measure(10), measure(200)
	for _, p := range paths {
		t.Logf("METRIC keys_list_queries path=%q keys=10 queries=%d keys=200 queries=%d", p, small[p], large[p])
		if small[p] == 0 || large[p] > small[p] {
			t.Errorf("GET %s: %d statements at 10 keys, %d at 200: the count grows with the keys", p, small[p], large[p])
		}
	}
}
