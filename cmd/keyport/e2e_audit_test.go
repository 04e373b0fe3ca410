package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"keyport/models"
	"keyport/views"
	"keyport/web/webtest"
)

// download is what the page's own fetch of a report URL returned.
type download struct {
	Status      int    `json:"status"`
	Disposition string `json:"disposition"`
	Type        string `json:"type"`
	Body        string `json:"body"`
}

// fetchReport fetches path with the page's cookies, as a click on the
// download link would, and returns the response.
func fetchReport(ctx context.Context, path string) (download, error) {
	js := `fetch(` + strconvQuote(path) + `, {credentials: "same-origin"}).then(async r => JSON.stringify({
		status: r.status, disposition: r.headers.get("content-disposition") || "", type: r.headers.get("content-type") || "", body: await r.text()}))`
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
	if err != nil {
		return download{}, err
	}
	var d download
	err = json.Unmarshal([]byte(raw), &d)
	return d, err
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestBrowserAuditorDownloadsReports: an owner invites an auditor, who
// opens the audit log, verifies the chain and downloads each report in each
// format; the JSON inventory parses and lists the tenant's keys.
func TestBrowserAuditorDownloadsReports(t *testing.T) {
	owner := webtest.Browser(t, 150*time.Second)
	dir := t.TempDir()
	base := startDev(t, map[string]string{"KEYPORT_DATA_DIR": dir})
	step := func(ctx context.Context, name string, acts ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		webtest.Page{T: t, Ctx: ctx, Prefix: "audit-"}.Step(name, acts...)
	}

	step(owner, "owner signs in", then(signIn(base, "carol@acme.test", "Carol Owner"),
		actions{chromedp.WaitVisible(chromedp.CSS(`[data-testid="dashboard"]`))})...)
	tenantID, keyNames := seedKeys(t, dir)

	_, link := inviteByEmail(webtest.Page{T: t, Ctx: owner, Prefix: "audit-"}, base, "dave@partner.test", "auditor")
	dave := newPerson(t, owner)
	step(dave, "the auditor accepts", then(
		actions{chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS(`[data-testid="invitation"]`))},
		signInAndAccept("dave@partner.test", "Dave Auditor"))...)

	step(dave, "the auditor opens the audit log",
		chromedp.Click(chromedp.CSS(`nav.mainnav a[href="/audit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="audit-table"]`)),
	)
	step(dave, "the auditor verifies the chain",
		chromedp.Click(chromedp.CSS(`[data-testid="verify-chain"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="chain-ok"]`)),
	)
	webtest.Screenshot(t, dave, "audit-auditor")

	step(dave, "the auditor opens the reports", chromedp.Navigate(base+"/reports"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="reports"]`)))
	for _, name := range []string{"inventory", "activity", "validation"} {
		for _, format := range []string{"csv", "json", "html"} {
			d, err := fetchReport(dave, "/reports/"+name+"?format="+format)
			if err != nil || d.Status != 200 {
				t.Fatalf("%s %s: %v, status %d", name, format, err, d.Status)
			}
			switch format {
			case "csv":
				rd := csv.NewReader(strings.NewReader(d.Body))
				rd.FieldsPerRecord = -1
				if _, err := rd.ReadAll(); err != nil || !strings.Contains(d.Body, "audit_chain_head_hash,") {
					t.Errorf("%s csv does not parse or lacks the chain head: %v", name, err)
				}
			case "json":
				var doc struct {
					Meta views.ReportMeta `json:"meta"`
				}
				if err := json.Unmarshal([]byte(d.Body), &doc); err != nil || len(doc.Meta.ChainHead.Hash) != 64 || doc.Meta.TenantID != tenantID {
					t.Errorf("%s json: %v, meta %+v", name, err, doc.Meta)
				}
			}
			if format != "html" && !regexp.MustCompile(`^attachment; filename="keyport-acme-test-[a-z0-9-]+-\d{8}T\d{6}Z\.`+format+`"$`).MatchString(d.Disposition) {
				t.Errorf("%s %s: Content-Disposition %q", name, format, d.Disposition)
			}
		}
	}
	d, _ := fetchReport(dave, "/reports/inventory?format=json")
	var inv views.InventoryReport
	if err := json.Unmarshal([]byte(d.Body), &inv); err != nil {
		t.Fatalf("inventory json: %v", err)
	}
	var got []string
	for _, k := range inv.Keys {
		got = append(got, k.Name)
		if len(k.Versions) == 0 || len(k.Versions[0].Fingerprint) != 64 || len(k.Regions) == 0 {
			t.Errorf("key %s lacks versions, fingerprints or regions: %+v", k.Name, k)
		}
	}
	if strings.Join(got, ",") != strings.Join(keyNames, ",") {
		t.Errorf("inventory lists %v, the tenant has %v", got, keyNames)
	}

	step(dave, "the printable inventory opens",
		chromedp.Navigate(base+"/reports"),
		chromedp.Click(chromedp.CSS(`[data-testid="html-inventory"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="report-head"]`)),
	)
	if n := (webtest.Page{T: t, Ctx: dave}).Count(`[data-testid="inventory-key"]`); n != len(keyNames) {
		t.Errorf("printable inventory shows %d keys", n)
	}
	webtest.Screenshot(t, dave, "report-inventory")
}

// seedKeys gives the one tenant two keys, straight through the store (the
// report, not key registration, is under test), and returns the tenant id
// and the key names in report order.
func seedKeys(t *testing.T, dir string) (string, []string) {
	t.Helper()
	ctx := context.Background()
	db := openDevStore(t, envOf(map[string]string{"KEYPORT_DATA_DIR": dir}))
	defer db.Close()
	tenants, err := db.TenantKeyCounts(ctx)
	if err != nil || len(tenants) != 1 {
		t.Fatalf("tenants: %v, %v", tenants, err)
	}
	tid := tenants[0].TenantID
	conn := &models.Connection{TenantID: tid, Name: "prod", AccountID: "111122223333", DefaultRegion: "eu-west-1",
		Kind: "assume_role", RoleARN: "arn:aws:iam::111122223333:role/keyport", ExternalID: "keyport-e2e"}
	if err := db.CreateConnection(ctx, conn, models.AuditInput{Actor: "e2e", Action: "connection.created"}); err != nil {
		t.Fatal(err)
	}
	names := []string{"customers", "orders"}
	for i, name := range names {
		arn := "arn:aws:kms:eu-west-1:111122223333:key/0000000" + string(rune('0'+i)) + "-0000-0000-0000-000000000000"
		nk := &models.NewKey{Key: models.Key{TenantID: tid, ConnectionID: conn.ID, Name: name, Mode: models.ModeCMK, State: models.StateEnabled},
			Regions: []models.KeyRegion{{Region: "eu-west-1", KMSKeyARN: arn}}, Version: &models.DataKeyVersion{Version: 1, Reason: "register"},
			Wraps: []models.DataKeyWrap{{Region: "eu-west-1", KMSKeyARN: arn, Ciphertext: []byte("wrapped " + name)}}}
		if err := db.CreateKey(ctx, nk, models.AuditInput{Actor: "e2e", Action: "key.registered"}); err != nil {
			t.Fatal(err)
		}
	}
	return tid, names
}
