package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"keyport/handlers"
	"keyport/models"
	"keyport/web/devidp"
)

var (
	usageRowRE  = regexp.MustCompile(`(?s)<tr data-period="([^"]+)">(.*?)</tr>`)
	usageCellRE = regexp.MustCompile(`<td>([0-9,]+)</td>`)
)

// usageTable reads a usage chart's table (data-testid id) as period ->
// [encrypts, decrypts, data keys, cache hits, KMS calls], failing when the
// page has no such table.
func usageTable(t *testing.T, page, id string) map[string][5]int64 {
	t.Helper()
	i := strings.Index(page, `data-testid="`+id+`"`)
	if i < 0 {
		t.Fatalf("page has no table %s", id)
	}
	table := page[i:]
	table = table[:strings.Index(table, "</table>")]
	out := map[string][5]int64{}
	for _, m := range usageRowRE.FindAllStringSubmatch(table, -1) {
		cells := usageCellRE.FindAllStringSubmatch(m[2], -1)
		if len(cells) != 5 {
			t.Fatalf("%s row %s has %d counts", id, m[1], len(cells))
		}
		var v [5]int64
		for j, c := range cells {
			v[j], _ = strconv.ParseInt(strings.ReplaceAll(c[1], ",", ""), 10, 64)
		}
		out[m[1]] = v
	}
	return out
}

// usageSum adds up a table's rows.
func usageSum(rows map[string][5]int64) [5]int64 {
	var sum [5]int64
	for _, v := range rows {
		for j := range v {
			sum[j] += v[j]
		}
	}
	return sum
}

// testidText is the text of the first element with data-testid id (no
// nested elements).
func testidText(t *testing.T, page, id string) string {
	t.Helper()
	m := regexp.MustCompile(`data-testid="` + regexp.QuoteMeta(id) + `"[^>]*>([^<]*)<`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("page has no %s", id)
	}
	return m[1]
}

// TestUsageChartsCountDataAPIUse: encrypts, decrypts and a data key made
// through the data API with a service token, against kmslocal, show in the
// key page's hourly and daily tables and the dashboard's with the counts
// the data plane made; the cache's savings are priced at the provider's
// price per 10,000 requests, which an operator sets on the Provider page
// (audited, a bad price refused at its field). Before any use, both pages
// say so.
func TestUsageChartsCountDataAPIUse(t *testing.T) {
	s := newFullStack(t, func(c *handlers.Config) { c.Operators = []string{"ops@provider.test"} })
	ctx := context.Background()
	b := newBrowser(t)
	s.signIn(t, b, dana)
	tenant := s.tenantOf(t, dana)
	keyID := s.registerKey(t, b, "orders")
	keyURL := s.URL + "/keys/" + keyID

	_, page := b.get(t, keyURL)
	if !strings.Contains(page, `data-testid="usage-empty-key"`) || !strings.Contains(page, "No use recorded yet.") {
		t.Error("a key without use shows no empty state")
	}
	if _, page = b.get(t, s.URL+"/dashboard"); !strings.Contains(page, `data-testid="usage-empty-tenant"`) {
		t.Error("a tenant without use shows no empty state on the dashboard")
	}

	ops := newBrowser(t)
	s.signIn(t, ops, devidp.Identity{Email: "ops@provider.test", EmailVerified: true})
	_, page = ops.get(t, s.URL+"/provider")
	if !strings.Contains(page, `name="kms_price_per_10k" value="0.03"`) {
		t.Error("the provider page does not show the default price of 0.03")
	}
	token := csrfToken(t, page)
	res, page := ops.post(t, s.URL+"/provider/settings", url.Values{"csrf_token": {token}, "kms_price_per_10k": {"-1"}}, nil)
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, `data-testid="error-kms_price_per_10k"`) {
		t.Errorf("a negative price: %d", res.StatusCode)
	}
	res, page = ops.post(t, s.URL+"/provider/settings", url.Values{"csrf_token": {token}, "kms_price_per_10k": {"1000"}}, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("save price: %d %s", res.StatusCode, regexp.MustCompile(`role="alert"[^>]*>[^<]*`).FindAllString(page, -1))
	}
	acts := s.auditActions(t, "")
	if last := acts[len(acts)-1]; !strings.HasPrefix(last, "provider.settings_updated:") || !strings.Contains(last, "kms_price_per_10k") {
		t.Errorf("price change audit = %v", last)
	}

	tok, _, err := s.Keys.NewServiceToken(ctx, tenant, "orders service", "operator")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Keys.Purge(ctx, tenant, keyID, "test"); err != nil { // a cold cache: the first use asks KMS
		t.Fatal(err)
	}
	var cts []any
	for i := range 3 {
		st, enc := s.dataAPI(t, tok, "/api/v1/encrypt", map[string]any{"key_id": keyID, "plaintext": b64("order " + strconv.Itoa(i))})
		if st != http.StatusOK {
			t.Fatalf("encrypt: %d %v", st, enc)
		}
		cts = append(cts, enc["ciphertext"])
	}
	if st, dk := s.dataAPI(t, tok, "/api/v1/datakey", map[string]any{"key_id": keyID}); st != http.StatusOK {
		t.Fatalf("datakey: %d %v", st, dk)
	}
	for _, ct := range cts[:2] {
		if st, dec := s.dataAPI(t, tok, "/api/v1/decrypt", map[string]any{"ciphertext": ct}); st != http.StatusOK {
			t.Fatalf("decrypt: %d %v", st, dec)
		}
	}
	if err := s.Keys.FlushUsage(ctx); err != nil {
		t.Fatal(err)
	}

	// A data key is an encrypt of fresh random bytes, so it counts as one
	// too; the first use fetched the data key from KMS, the other six were
	// served from the cache.
	want := [5]int64{4, 2, 1, 5, 1}
	_, page = b.get(t, keyURL)
	if got := usageSum(usageTable(t, page, "usage-key-hourly-table")); got != want {
		t.Errorf("key page hourly table sums to %v, want %v", got, want)
	}
	daily := usageTable(t, page, "usage-key-daily-table")
	if len(daily) != 90 || daily[time.Now().UTC().Format("2006-01-02")] != want {
		t.Errorf("key page daily table: %d rows, today %v, want %v", len(daily), daily[time.Now().UTC().Format("2006-01-02")], want)
	}
	// 5 requests saved at $1000 per 10,000: $0.50, in both spans.
	for _, id := range []string{"usage-cost-key-0", "usage-cost-key-1"} {
		if got := testidText(t, page, id); got != "$0.50" {
			t.Errorf("%s = %q, want $0.50", id, got)
		}
	}
	if !strings.Contains(page, "$1000.00 per 10,000 KMS requests") {
		t.Error("the key page does not name the price the cost is estimated at")
	}

	_, page = b.get(t, s.URL+"/dashboard")
	if got := usageSum(usageTable(t, page, "usage-tenant-hourly-table")); got != want {
		t.Errorf("dashboard hourly table sums to %v, want %v", got, want)
	}
	if got := testidText(t, page, "usage-cost-tenant-1"); got != "$0.50" {
		t.Errorf("dashboard 90-day saving = %q, want $0.50", got)
	}
	if strings.Contains(page, `data-testid="usage-empty-tenant"`) {
		t.Error("the dashboard still says nothing was used")
	}
}

// TestUsageChartMarkup: the chart is an SVG with role="img", a title and a
// description it is labelled by, drawn with attributes only (no style
// attribute, no script: the page's CSP refuses both), with axis titles,
// and its numbers are in a table with headers; the page is served under
// the CSP.
func TestUsageChartMarkup(t *testing.T) {
	s := newStack(t, nil)
	ctx := context.Background()
	b := newBrowser(t)
	s.signIn(t, b, dana)
	keyID := s.registerKey(t, b, "orders")
	hour := time.Now().UTC().Add(-3 * time.Hour).Format("2006-01-02T15")
	if err := s.DB.AddKeyUsage(ctx, []models.KeyUsage{{KeyID: keyID, Period: hour, Encrypts: 1234, Decrypts: 41, CacheHits: 40, KMSCalls: 1}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, scope string }{{"/keys/" + keyID, "key"}, {"/dashboard", "tenant"}} {
		res, page := b.get(t, s.URL+tc.path)
		if res.StatusCode != http.StatusOK || !strings.Contains(res.Header.Get("Content-Security-Policy"), "style-src 'self'") {
			t.Fatalf("%s: %d, CSP %q", tc.path, res.StatusCode, res.Header.Get("Content-Security-Policy"))
		}
		i := strings.Index(page, `data-testid="usage-charts-`+tc.scope+`"`)
		if i < 0 {
			t.Fatalf("%s has no usage section", tc.path)
		}
		section := page[i:]
		section = section[:strings.Index(section, "</section>")]
		id := "usage-" + tc.scope + "-hourly"
		for _, want := range []string{
			`<svg role="img" aria-labelledby="` + id + `-title ` + id + `-desc"`,
			`<title id="` + id + `-title">Use per hour, last 48 hours</title>`,
			`<desc id="` + id + `-desc">Use per hour, last 48 hours, in total: 1,234 encrypts, 41 decrypts, 0 data keys, 40 cache hits, 1 kms calls.`,
			`>Hour (UTC)</text>`, `>Requests per hour</text>`, `>Day (UTC)</text>`,
			`<polyline points=`,
			`<details><summary>Hourly counts as a table</summary><table class="table" data-testid="` + id + `-table">`,
			`<th scope="col">Cache hits</th>`,
		} {
			if !strings.Contains(section, want) {
				t.Errorf("%s lacks %s", tc.path, want)
			}
		}
		if strings.Contains(section, "style=") || strings.Contains(section, "<script") {
			t.Errorf("%s: the chart uses a style attribute or a script", tc.path)
		}
		if got := usageTable(t, page, id+"-table")[hour]; got != [5]int64{1234, 41, 0, 40, 1} {
			t.Errorf("%s: the hour's row = %v", tc.path, got)
		}
		if n := len(usageTable(t, page, id+"-table")); n != 48 {
			t.Errorf("%s: %d hourly rows, want 48", tc.path, n)
		}
	}
}
