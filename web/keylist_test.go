package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
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

	mu  sync.Mutex
	sql []string // the statements of the last request, in order
}

func newStatementCounter(t *testing.T, s *stack) *statementCounter {
	t.Helper()
	sc := &statementCounter{s: s}
	if err := s.DB.OnStatementSQL(func(ctx context.Context, sql string) {
		if ctx != nil && ctx.Value(countedKey{}) != nil {
			sc.n.Add(1)
			sc.mu.Lock()
			sc.sql = append(sc.sql, sql)
			sc.mu.Unlock()
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
	sc.mu.Lock()
	sc.sql = nil
	sc.mu.Unlock()
	rec := httptest.NewRecorder()
	sc.s.Echo.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String(), sc.n.Load()
}

// statements lists the SQL of the last request get served, one a line.
func (sc *statementCounter) statements() string {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return strings.Join(sc.sql, "\n")
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

// keyRowNames lists the key names of a keys page in order.
func keyRowNames(page string) []string {
	var out []string
	for _, part := range strings.Split(page, `data-testid="key-row"`)[1:] {
		i := strings.Index(part, `<a href="/keys/`)
		j := strings.Index(part[i:], ">")
		k := strings.Index(part[i+j:], "</a>")
		out = append(out, part[i+j+1:i+j+k])
	}
	return out
}

// TestKeysListSearchSortPage: the empty state, search by name, alias, ARN
// and id ignoring case, a "no match" state that keeps the query, sorting
// by name and last use both ways, and 50 keys a page.
func TestKeysListSearchSortPage(t *testing.T) {
	s := newStack(t, nil)
	b := newBrowser(t)
	s.signIn(t, b, dana)
	tenant := s.tenantOf(t, dana)
	if _, page := b.get(t, s.URL+"/keys"); !strings.Contains(page, `data-testid="keys-empty"`) || strings.Contains(page, `data-testid="keys-search"`) {
		t.Fatal("a tenant without keys does not get the empty state")
	}
	seed := newListSeed(t, s, tenant)
	now := s.Clock.Now()
	orders := seed.add(t, "Orders EU", now.Add(-time.Hour))
	seed.add(t, "billing", now.Add(-48*time.Hour))
	seed.add(t, "audit trail", time.Time{})
	for i := 0; i < 52; i++ {
		seed.add(t, fmt.Sprintf("zz bulk %02d", i), time.Time{})
	}
	// A key whose material keyport holds, in a store, with its alias.
	st := &models.KeyStore{TenantID: tenant, ConnectionID: seed.conn, Region: "us-east-1", Name: "payments store"}
	if err := s.DB.CreateKeyStore(context.Background(), st, models.AuditInput{Action: "key_store.created"}); err != nil {
		t.Fatal(err)
	}
	ledger := seed.add(t, "ledger", time.Time{})
	if _, err := s.rawSQL(t).Exec(`UPDATE keys SET mode = 'generated' WHERE id = $1`, ledger); err != nil {
		t.Fatal(err)
	}
	if _, err := s.rawSQL(t).Exec(`INSERT INTO managed_keys (key_id, tenant_id, store_id, alias_name, updated_at) VALUES ($1, $2, $3, $4, $5)`,
		ledger, tenant, st.ID, "alias/keyport/Ledger-Main", now); err != nil {
		t.Fatal(err)
	}

	res, page := b.get(t, s.URL+"/keys")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("keys list: %d", res.StatusCode)
	}
	names := keyRowNames(page)
	if len(names) != models.KeyPageSize || names[0] != "audit trail" || names[1] != "billing" || !strings.Contains(page, `data-testid="keys-next"`) ||
		!strings.Contains(page, "Page 1 of 2") || !strings.Contains(page, "56 keys") {
		t.Errorf("first page: %d rows starting %v", len(names), names[:min(3, len(names))])
	}
	for _, col := range []string{"Kind", "Store", "Alias", "Regions", "Status", "Next rotation", "Last used"} {
		if !strings.Contains(page, ">"+col) {
			t.Errorf("the keys table has no %q column", col)
		}
	}
	if _, page := b.get(t, s.URL+"/keys?page=2"); len(keyRowNames(page)) != 6 || !strings.Contains(page, `data-testid="keys-prev"`) || strings.Contains(page, `data-testid="keys-next"`) {
		t.Errorf("second page: %v", keyRowNames(page))
	}
	if _, page := b.get(t, s.URL+"/keys?page=99"); !strings.Contains(page, "Page 2 of 2") {
		t.Error("a page past the end does not show the last page")
	}

	for _, tc := range []struct{ q, want string }{
		{"ORDERS", "Orders EU"},                             // name, any case
		{"ledger-main", "ledger"},                           // alias
		{"eu-west-1:111122223333:key/seed-0002", "billing"}, // a replica's ARN
		{strings.ToUpper(orders[4:]), "Orders EU"},          // id
	} {
		_, page := b.get(t, s.URL+"/keys?q="+url.QueryEscape(tc.q))
		if got := keyRowNames(page); len(got) != 1 || got[0] != tc.want {
			t.Errorf("search %q: %v, want [%s]", tc.q, got, tc.want)
		}
	}
	if _, page := b.get(t, s.URL+"/keys?q=ledger"); !strings.Contains(page, "payments store") || !strings.Contains(page, "alias/keyport/Ledger-Main") ||
		!strings.Contains(page, `href="/stores/`+st.ID+`"`) || !strings.Contains(page, ">Generated<") {
		t.Error("the managed key's row does not show its kind, store and alias")
	}
	if _, page := b.get(t, s.URL+"/keys?q=100%25_"); !strings.Contains(page, `data-testid="keys-no-match"`) || !strings.Contains(page, `value="100%_"`) ||
		!strings.Contains(page, "“100%_”") {
		t.Error("a search matching nothing does not keep its query (LIKE wildcards must match themselves)")
	}

	_, page = b.get(t, s.URL+"/keys?sort=last_used&dir=desc")
	if got := keyRowNames(page); len(got) < 3 || got[0] != "Orders EU" || got[1] != "billing" {
		t.Errorf("by last use, newest first: %v", got[:min(3, len(got))])
	}
	if !strings.Contains(page, `aria-sort="descending"`) || !strings.Contains(page, `href="/keys?sort=last_used"`) {
		t.Error("the sorted column does not say so or does not offer the other direction")
	}
	_, page = b.get(t, s.URL+"/keys?sort=last_used")
	if got := keyRowNames(page); got[0] != "billing" || got[1] != "Orders EU" {
		t.Errorf("by last use, oldest first (never used last): %v", got[:3])
	}
	_, page = b.get(t, s.URL+"/keys?sort=name&dir=desc&q=bulk")
	if got := keyRowNames(page); len(got) != 50 || got[0] != "zz bulk 51" {
		t.Errorf("by name, descending, searched: %v", got[:min(3, len(got))])
	}
	if _, page := b.get(t, s.URL+"/keys?sort=name;drop&dir=sideways"); len(keyRowNames(page)) != 50 {
		t.Error("an unknown sort is not the default order")
	}
}

// TestConnectionsListKeys: each connection says how many keys use it and
// links the first ones by name; deleted keys do not count.
func TestConnectionsListKeys(t *testing.T) {
	s := newStack(t, nil)
	b := newBrowser(t)
	s.signIn(t, b, dana)
	tenant := s.tenantOf(t, dana)
	used := newListSeed(t, s, tenant)
	var ids []string
	for i := 0; i < 8; i++ {
		ids = append(ids, used.add(t, fmt.Sprintf("k%d", i), time.Time{}))
	}
	if _, err := s.rawSQL(t).Exec(`UPDATE keys SET state = 'DELETED' WHERE id = $1`, ids[0]); err != nil {
		t.Fatal(err)
	}
	idle := &models.Connection{TenantID: tenant, Name: "idle", AccountID: "444455556666", DefaultRegion: "us-east-1", Kind: "assume_role",
		RoleARN: "arn:aws:iam::444455556666:role/keyport"}
	if err := s.DB.CreateConnection(context.Background(), idle, models.AuditInput{Action: "connection.created"}); err != nil {
		t.Fatal(err)
	}
	_, page := b.get(t, s.URL+"/connections")
	cells := strings.Split(page, `data-testid="connection-keys"`)[1:]
	if len(cells) != 2 {
		t.Fatalf("%d connection key cells, want 2", len(cells))
	}
	// Rows are by name: "idle" first, then "prod".
	if !strings.HasPrefix(cells[0], ` data-count="0"`) || !strings.Contains(cells[0], "none") {
		t.Errorf("the idle connection's keys: %.80s", cells[0])
	}
	prod := cells[1]
	if !strings.HasPrefix(prod, ` data-count="7"`) || !strings.Contains(prod, "7 keys") || !strings.Contains(prod, "and 2 more") {
		t.Errorf("the used connection's keys: %.300s", prod)
	}
	for i, id := range ids[1:6] {
		if !strings.Contains(prod, `href="/keys/`+id+`">k`+strconv.Itoa(i+1)+`<`) {
			t.Errorf("key k%d is not linked", i+1)
		}
	}
	if strings.Contains(prod, ids[0]) {
		t.Error("a deleted key is listed as using the connection")
	}
}
