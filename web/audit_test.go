package web_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"keyport/handlers"
	"keyport/models"
	"keyport/views"
	"keyport/web/devidp"
)

var (
	auditOwner   = devidp.Identity{Email: "olga@audit.test", Name: "Olga Owner", EmailVerified: true}
	auditAuditor = devidp.Identity{Email: "dave@partner.test", Name: "Dave Auditor", EmailVerified: true}
	auditOutside = devidp.Identity{Email: "eve@beta.test", Name: "Eve Elsewhere", EmailVerified: true}
	auditOps     = devidp.Identity{Email: "ops@provider.test", Name: "Ops", EmailVerified: true}
)

// auditWorld is tenant A (owner and auditor, a key, many events) and
// tenant B (another owner, events with a marker A must never see).
type auditWorld struct {
	s                *stack
	tenantA, tenantB string
	auditor, outside *browser
	keyID            string
}

func newAuditWorld(t *testing.T) *auditWorld {
	t.Helper()
	s := newStack(t, func(c *handlers.Config) { c.Operators = []string{auditOps.Email} })
	ctx := context.Background()
	w := &auditWorld{s: s, auditor: newBrowser(t), outside: newBrowser(t)}
	s.signIn(t, newBrowser(t), auditOwner)
	w.tenantA = s.tenantOf(t, auditOwner)
	if err := s.DB.AddMember(ctx, w.tenantA, s.userID(t, auditAuditor), models.RoleAuditor, "", models.AuditInput{Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	s.signIn(t, w.auditor, auditAuditor)
	s.signIn(t, w.outside, auditOutside)
	w.tenantB = s.tenantOf(t, auditOutside)

	conn := &models.Connection{TenantID: w.tenantA, Name: "audit conn", AccountID: awsTenantAcct, DefaultRegion: awsRegion,
		Kind: "assume_role", RoleARN: awsRoleARN, ExternalID: awsExternalID}
	if err := s.DB.CreateConnection(ctx, conn, models.AuditInput{Actor: "test", Action: "connection.created"}); err != nil {
		t.Fatal(err)
	}
	arn := "arn:aws:kms:" + awsRegion + ":" + awsTenantAcct + ":key/11111111-2222-3333-4444-555555555555"
	nk := &models.NewKey{Key: models.Key{TenantID: w.tenantA, ConnectionID: conn.ID, Name: "ledger", Mode: models.ModeCMK, State: models.StateEnabled},
		Regions: []models.KeyRegion{{Region: awsRegion, KMSKeyARN: arn}}, Version: &models.DataKeyVersion{Version: 1, Reason: "register"},
		Wraps: []models.DataKeyWrap{{Region: awsRegion, KMSKeyARN: arn, Ciphertext: []byte("wrapped")}}}
	if err := s.DB.CreateKey(ctx, nk, models.AuditInput{Actor: s.userID(t, auditOwner), Action: "key.registered"}); err != nil {
		t.Fatal(err)
	}
	w.keyID = nk.Key.ID
	var ins []models.AuditInput
	for i := range 120 {
		in := models.AuditInput{TenantID: w.tenantA, Actor: "keyport:data-api", Action: "key.datakey_fetched", TargetType: "key", TargetID: w.keyID,
			Details: map[string]string{"n": fmt.Sprint(i)}}
		if i%10 == 0 {
			in.Action, in.Actor = "test.rotated", s.userID(t, auditOwner)
		}
		ins = append(ins, in, models.AuditInput{TenantID: w.tenantB, Actor: "usr_beta", Action: "test.beta", Details: map[string]string{"marker": "beta-only-marker"}})
	}
	if err := s.DB.AppendAuditBatch(ctx, ins); err != nil {
		t.Fatal(err)
	}
	return w
}

var rowRE = regexp.MustCompile(`data-testid="audit-row" data-seq="(\d+)" data-action="([^"]+)"`)

func rows(page string) []string {
	var out []string
	for _, m := range rowRE.FindAllStringSubmatch(page, -1) {
		out = append(out, m[2])
	}
	return out
}

// href returns the unescaped href of the element with the test id.
func href(t *testing.T, page, testid string) string {
	t.Helper()
	m := regexp.MustCompile(`href="([^"]+)" data-testid="` + testid + `"`).FindStringSubmatch(page)
	if m == nil {
		return ""
	}
	return strings.ReplaceAll(m[1], "&amp;", "&")
}

func TestAuditPageFiltersPagesAndLinks(t *testing.T) {
	w := newAuditWorld(t)
	s := w.s

	res, page := w.auditor.get(t, s.URL+"/audit")
	if res.StatusCode != http.StatusOK || len(rows(page)) != 50 {
		t.Fatalf("first page: %d, %d rows", res.StatusCode, len(rows(page)))
	}
	if !regexp.MustCompile(`href="/keys/` + w.keyID + `"[^>]*data-testid="audit-target">key ledger</a>`).MatchString(page) {
		t.Error("events do not link to their key by name")
	}
	if strings.Contains(page, "beta-only-marker") || href(t, page, "audit-newer") != "" {
		t.Error("first page shows another tenant's event or a newer link")
	}
	// Walk every page by cursor: each event once, newest first.
	seen := map[string]bool{}
	total := 0
	for next := "/audit"; next != ""; {
		_, page = w.auditor.get(t, s.URL+next)
		for _, m := range rowRE.FindAllStringSubmatch(page, -1) {
			if seen[m[1]] {
				t.Fatalf("seq %s shown twice", m[1])
			}
			seen[m[1]] = true
			total++
		}
		next = href(t, page, "audit-older")
	}
	evs, _ := s.DB.AuditEvents(context.Background(), models.TenantScope(w.tenantA), models.AuditFilter{})
	if total != len(evs) || total < 120 {
		t.Errorf("paged through %d events, the tenant has %d", total, len(evs))
	}

	// Filters: action and key; the newer link keeps them.
	_, page = w.auditor.get(t, s.URL+"/audit?action=test.rotated&key="+w.keyID)
	if got := rows(page); len(got) != 12 || strings.Join(got, ",") != strings.TrimSuffix(strings.Repeat("test.rotated,", 12), ",") {
		t.Errorf("action+key filter: %v", got)
	}
	_, page = w.auditor.get(t, s.URL+"/audit?actor="+url.QueryEscape("keyport:data-api"))
	if got := rows(page); len(got) != 50 || got[0] != "key.datakey_fetched" {
		t.Errorf("actor filter: %v", got)
	}
	older := href(t, page, "audit-older")
	if !strings.Contains(older, "actor=keyport%3Adata-api") || !strings.Contains(older, "before=") {
		t.Errorf("older link loses the filter: %q", older)
	}
	res, page = w.auditor.get(t, s.URL+"/audit?from=yesterday")
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, `data-testid="error-from"`) {
		t.Errorf("bad date: %d", res.StatusCode)
	}

	// Another tenant's owner names tenant A's key and cursors: nothing.
	_, page = w.outside.get(t, s.URL+"/audit?key="+w.keyID+"&before=100000")
	if len(rows(page)) != 0 || strings.Contains(page, w.keyID) && strings.Contains(page, "ledger") {
		t.Errorf("outsider sees tenant A's events: %v", rows(page))
	}
	_, page = w.outside.get(t, s.URL+"/audit")
	if strings.Contains(page, "key.datakey_fetched") || strings.Contains(page, w.tenantA) || !strings.Contains(page, "test.beta") {
		t.Error("outsider's audit page is not only their own")
	}

	// Operators see every tenant, and only through their own pages.
	ops := newBrowser(t)
	s.signIn(t, ops, auditOps)
	_, page = ops.get(t, s.URL+"/operator/audit")
	if !strings.Contains(page, "test.beta") || !strings.Contains(page, "key.datakey_fetched") || !strings.Contains(page, "<th>Tenant</th>") {
		t.Error("operator audit page does not span tenants")
	}
	_, page = ops.get(t, s.URL+"/operator/audit?tenant="+w.tenantB)
	if got := rows(page); len(got) == 0 || strings.Contains(strings.Join(got, ","), "key.") {
		t.Errorf("operator's tenant filter: %v", got)
	}
	if _, page := ops.get(t, s.URL+"/audit"); strings.Contains(page, "key.datakey_fetched") || strings.Contains(page, "test.beta") {
		t.Error("a tenant's audit page shows the operator other tenants' events") // their sign-in made them their own tenant
	}
	_, page = ops.get(t, s.URL+"/operator")
	if !strings.Contains(page, `data-testid="tenant-row" data-tenant="`+w.tenantA+`"`) || !strings.Contains(page, `data-testid="attention-row" data-key="`+w.keyID+`"`) {
		t.Error("operator overview lacks tenant A or its never-validated key")
	}
}

func TestVerifyChainButtonReportsFirstBrokenRow(t *testing.T) {
	w := newAuditWorld(t)
	s := w.s
	ctx := context.Background()
	verify := func() string {
		t.Helper()
		s.Clock.Advance(time.Minute) // past the verification rate limit
		_, page := w.auditor.get(t, s.URL+"/audit")
		res, page := w.auditor.post(t, s.URL+"/audit/verify", url.Values{"csrf_token": {csrfToken(t, page)}}, nil)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("verify: %d", res.StatusCode)
		}
		return page
	}
	page := verify()
	head, _ := s.DB.LatestTenantAuditHead(ctx, w.tenantA)
	if !strings.Contains(page, `data-testid="chain-ok"`) || !regexp.MustCompile(`data-testid="chain-head">[0-9a-f]{64}<`).MatchString(page) {
		t.Fatalf("intact chain not reported as intact")
	}
	if acts := s.auditActions(t, w.tenantA); !strings.HasPrefix(acts[len(acts)-1], "audit.chain_verified:") {
		t.Errorf("verification not recorded: %v", acts[len(acts)-1])
	}

	raw := s.rawSQL(t)
	// Each tampering is older than the one before, so each becomes the
	// first broken row, named by the tenant's own sequence number.
	a := "tenant_id = '" + w.tenantA + "' AND tenant_seq"
	for _, tc := range []struct {
		stmt string
		want int64
	}{
		{fmt.Sprintf(`UPDATE audit_events SET details = '{"n":"tampered"}' WHERE %s = %d`, a, head.Seq-40), head.Seq - 40},
		{fmt.Sprintf(`DELETE FROM audit_events WHERE %s = %d`, a, head.Seq-60), head.Seq - 59},
		{fmt.Sprintf(`UPDATE audit_events SET tenant_seq = -1 WHERE %[1]s = %[2]d; UPDATE audit_events SET tenant_seq = %[2]d WHERE %[1]s = %[3]d; UPDATE audit_events SET tenant_seq = %[3]d WHERE %[1]s = -1`,
			a, head.Seq-80, head.Seq-79), head.Seq - 80},
	} {
		if _, err := raw.Exec(tc.stmt); err != nil {
			t.Fatal(err)
		}
		page = verify()
		if !strings.Contains(page, fmt.Sprintf(`data-testid="chain-broken" data-seq="%d"`, tc.want)) {
			t.Errorf("after %q: broken row not reported at %d", tc.stmt, tc.want)
		}
	}
}

// TestTenantVerifiesOwnChainOnly: issue 17 #4. Another tenant's activity
// changes neither a tenant's verified row count nor its head; a tenant's
// activity report shows its own chain's head and numbers; verification
// runs on POST only, rate-limited.
func TestTenantVerifiesOwnChainOnly(t *testing.T) {
	w := newAuditWorld(t)
	s := w.s
	ctx := context.Background()
	checked := regexp.MustCompile(`</strong> (\d+) rows verified`)
	verify := func(want int) string {
		t.Helper()
		_, page := w.auditor.get(t, s.URL+"/audit")
		res, page := w.auditor.post(t, s.URL+"/audit/verify", url.Values{"csrf_token": {csrfToken(t, page)}}, nil)
		if res.StatusCode != want {
			t.Fatalf("verify: %d, want %d", res.StatusCode, want)
		}
		return page
	}
	m := checked.FindStringSubmatch(verify(http.StatusOK))
	if m == nil {
		t.Fatal("no verified row count")
	}
	if page := verify(http.StatusTooManyRequests); !strings.Contains(page, `data-testid="verify-notice"`) {
		t.Error("a second verification at once was not refused with a notice")
	}
	for range 25 {
		if _, err := s.DB.AppendAudit(ctx, models.AuditInput{TenantID: w.tenantB, Actor: "usr_b", Action: "auth.sign_in"}); err != nil {
			t.Fatal(err)
		}
	}
	s.Clock.Advance(time.Minute)
	before, _ := strconv.Atoi(m[1])
	m = checked.FindStringSubmatch(verify(http.StatusOK))
	// One more row: the first verification's own audit.chain_verified event.
	if after, _ := strconv.Atoi(m[1]); after != before+1 {
		t.Errorf("tenant A's verified rows went from %d to %d after tenant B's 25 events", before, after)
	}
	head, _ := s.DB.LatestTenantAuditHead(ctx, w.tenantA)
	global, _ := s.DB.LatestAuditHead(ctx)
	// The report's own download is recorded before it is made: its head
	// is the tenant's head then; its verification is the last one made.
	res, body := w.auditor.get(t, s.URL+"/reports/activity?format=csv")
	seq := regexp.MustCompile(`(?m)^audit_chain_head_seq,(\d+)$`).FindStringSubmatch(body)
	rows := regexp.MustCompile(`(?m)^chain_rows_checked,(\d+)$`).FindStringSubmatch(body)
	if res.StatusCode != http.StatusOK || seq == nil || rows == nil || rows[1] != m[1] || (seq[1] != strconv.FormatInt(head.Seq, 10) && seq[1] != strconv.FormatInt(head.Seq+1, 10)) ||
		strings.Contains(body, hex.EncodeToString(global.Hash)) {
		t.Errorf("tenant A's activity report does not show its own head (seq %d) or shows the global one:\n%.600s", head.Seq, body)
	}
	if res, _ := w.auditor.get(t, s.URL+"/audit/verify"); res.StatusCode == http.StatusOK {
		t.Error("GET /audit/verify answered 200: verification must be a POST")
	}
}

// TestActivityReportDoesNotVerify: issue 17 #4. Downloading the activity
// report never walks the chain (that is the audit page's POST,
// rate-limited): each download prints the last verification's result,
// time and row count, unchanged by the downloads' own events, and its own
// chain head, which they move.
func TestActivityReportDoesNotVerify(t *testing.T) {
	w := newAuditWorld(t)
	s := w.s
	ctx := context.Background()
	report := func() views.ActivityReport {
		t.Helper()
		res, body := w.auditor.get(t, s.URL+"/reports/activity?format=json")
		var r views.ActivityReport
		if err := json.Unmarshal([]byte(body), &r); res.StatusCode != http.StatusOK || err != nil {
			t.Fatalf("activity report: %d %v", res.StatusCode, err)
		}
		return r
	}
	if r := report(); r.Verification.VerifiedAt != nil || r.Verification.OK {
		t.Errorf("never verified, the report says %+v", r.Verification)
	}
	_, page := w.auditor.get(t, s.URL+"/audit")
	if res, _ := w.auditor.post(t, s.URL+"/audit/verify", url.Values{"csrf_token": {csrfToken(t, page)}}, nil); res.StatusCode != http.StatusOK {
		t.Fatalf("verify: %d", res.StatusCode)
	}
	last, err := s.DB.LastAuditVerification(ctx, w.tenantA, false)
	if err != nil || last == nil || !last.OK {
		t.Fatalf("recorded verification: %+v %v", last, err)
	}
	var prevHead int64
	for i := range 5 {
		s.Clock.Advance(time.Minute) // a verification now would be another time
		r := report()
		v := r.Verification
		if !v.OK || v.Checked != last.Checked || v.VerifiedAt == nil || !v.VerifiedAt.Equal(last.At) {
			t.Errorf("download %d: verification %+v (at %v), want the recorded one: %d rows at %v", i, v, v.VerifiedAt, last.Checked, last.At)
		}
		if r.Meta.ChainHead.Seq <= prevHead {
			t.Errorf("download %d: chain head %d did not move past %d", i, r.Meta.ChainHead.Seq, prevHead)
		}
		prevHead = r.Meta.ChainHead.Seq
	}
	if again, _ := s.DB.LastAuditVerification(ctx, w.tenantA, false); again == nil || !again.At.Equal(last.At) || again.Checked != last.Checked {
		t.Errorf("the downloads changed the recorded verification: %+v, was %+v", again, last)
	}
}
