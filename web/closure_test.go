package web_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"keyport/handlers/notice"
	"keyport/keysvc"
	"keyport/keysvc/mailer"
	"keyport/keysvc/managed"
	"keyport/models"
	"keyport/web/devidp"
	"keyport/web/mailcatcher"
)

var (
	olga = devidp.Identity{Email: "olga@closing.test", Name: "Olga Owner", EmailVerified: true}
	aldo = devidp.Identity{Email: "aldo@closing.test", Name: "Aldo Auditor", EmailVerified: true}
)

// TestTenantClosure walks an owner's closing of a tenant over HTTP: the
// page with its downloads and confirmation, the banner every member sees,
// a cancellation, a second request, then the window's end through the
// real job path, with a KMS failure in the middle that the job resumes
// from its recorded step. Afterwards nothing of the tenant works and a
// former member's sign-in does not bring it back.
func TestTenantClosure(t *testing.T) {
	s := newFullStack(t, nil)
	s.Managed.AttachWorker(s.Jobs)
	s.Managed.PreferWrappingKeySpec("RSA_2048")
	ctx := context.Background()
	mhost, mport, _ := net.SplitHostPort(s.Mail.Addr())
	port, _ := strconv.Atoi(mport)
	ml, err := mailer.New(mailer.Config{Host: mhost, Port: port, TLS: mailer.NoTLS, From: "keyport <keyport@keyport.test>"})
	if err != nil {
		t.Fatal(err)
	}
	s.Managed.SetApprovalMail(mailer.NewOutbox(s.DB, s.Seal, ml, "keyport.test"), notice.Renderer{BaseURL: s.URL})
	mailed := func(to, subject string) {
		t.Helper()
		if _, err := s.Jobs.RunDue(ctx); err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if _, err := s.Mail.WaitFor(wctx, func(m mailcatcher.Message) bool {
			return len(m.To) == 1 && m.To[0] == to && strings.HasPrefix(m.Subject, subject)
		}); err != nil {
			t.Errorf("no email %q to %s: %v", subject, to, err)
		}
	}

	ob := newBrowser(t)
	s.signIn(t, ob, olga)
	tenant := s.tenantOf(t, olga)
	ownerID := s.userID(t, olga)
	u, _, err := s.DB.UpsertOIDCUser(ctx, s.IdP.Issuer(), devidp.Subject(aldo.Email), aldo.Email, aldo.Name)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DB.AddMember(ctx, tenant, u.ID, models.RoleAuditor, ownerID, models.AuditInput{Actor: ownerID}); err != nil {
		t.Fatal(err)
	}
	ab := newBrowser(t)
	s.signIn(t, ab, aldo)

	// What the tenant has: a connection, a keyport-made key in a store
	// (its KMS key in the tenant's account), a key of the tenant's own KMS
	// and a service token that uses them.
	by := keysvc.RequestBy{UserID: ownerID}
	conn, err := s.Keys.CreateConnection(ctx, tenant, by, keysvc.ConnectionInput{Name: "prod", AccountID: awsTenantAcct,
		DefaultRegion: awsRegion, Kind: "access_key", AccessKeyID: awsUserAKID, Secret: awsUserSecret})
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Managed.CreateStore(ctx, tenant, by, managed.StoreInput{Name: "main", ConnectionID: conn.ID})
	if err != nil {
		t.Fatal(err)
	}
	gen, err := s.Managed.CreateGeneratedKey(ctx, tenant, by, managed.CreateKeyInput{StoreID: st.ID, Name: "payments", ValidDays: 90})
	if err != nil || !gen.Done() {
		t.Fatalf("create generated key: %v %+v", err, gen)
	}
	genARN := activeKMSKey(t, s, tenant, gen.Key.ID)
	cmkARN := s.tenantKMSKey(t, "")
	cmk := &models.NewKey{Key: models.Key{TenantID: tenant, ConnectionID: conn.ID, Name: "own", Mode: models.ModeCMK,
		State: models.StateEnabled, Health: "OK"}, Regions: []models.KeyRegion{{Region: awsRegion, KMSKeyARN: cmkARN}}}
	if err := s.DB.CreateKey(ctx, cmk, models.AuditInput{Actor: ownerID, Action: "key.registered"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Keys.RotateDataKey(ctx, tenant, cmk.Key.ID, ownerID, "register"); err != nil {
		t.Fatal(err)
	}
	token, _, err := s.Keys.NewServiceToken(ctx, tenant, "app", "operator")
	if err != nil {
		t.Fatal(err)
	}
	encrypt := func() int {
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/api/v1/encrypt",
			strings.NewReader(`{"key_id":"`+gen.Key.ID+`","plaintext":"aGVsbG8=","context":{"f":"x"}}`))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if got := encrypt(); got != http.StatusOK {
		t.Fatalf("encrypt before closing: %d", got)
	}

	// The page: what closing does, and the audit log and reports to take
	// first, as the existing CSV and JSON exports.
	res, page := ob.get(t, s.URL+"/tenant/close")
	if res.StatusCode != http.StatusOK || !strings.Contains(page, `data-testid="close-form"`) {
		t.Fatalf("close page: %d", res.StatusCode)
	}
	for _, want := range []string{"/reports/activity?format=csv&amp;from=", "/reports/activity?format=json", "/reports/inventory?format=csv",
		"/reports/inventory?format=json", "/reports/validation?format=csv", "/reports/validation?format=json"} {
		if !strings.Contains(page, want) {
			t.Errorf("close page offers no %s", want)
		}
	}
	created, _ := s.DB.GetTenant(ctx, tenant)
	res, csv := ob.get(t, s.URL+"/reports/activity?format=csv&from="+created.CreatedAt.Format(time.DateOnly)+"&to="+s.Clock.Now().UTC().Format(time.DateOnly))
	if res.StatusCode != http.StatusOK || !strings.Contains(csv, "tenant.created") {
		t.Fatalf("audit log download: %d %.200s", res.StatusCode, csv)
	}
	if _, members := ob.get(t, s.URL+"/members"); !strings.Contains(members, `href="/tenant/close"`) {
		t.Error("the members page has no way to the close page for an owner")
	}

	// Refused: a wrong name, a window out of bounds, an auditor.
	post := func(b *browser, path string, form url.Values) (*http.Response, string) {
		_, p := b.get(t, s.URL+"/dashboard")
		form.Set("csrf_token", csrfToken(t, p))
		return b.post(t, s.URL+path, form, nil)
	}
	for _, bad := range []struct{ name, days, field string }{{"closing", "7", "confirm_name"}, {"closing.test", "3", "window_days"}, {"closing.test", "31", "window_days"}} {
		res, page := post(ob, "/tenant/close", url.Values{"confirm_name": {bad.name}, "window_days": {bad.days}})
		if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, `data-testid="error-`+bad.field+`"`) {
			t.Errorf("close with %q, %s days: %d, want 422 on %s", bad.name, bad.days, res.StatusCode, bad.field)
		}
	}
	if res, _ := post(ab, "/tenant/close", url.Values{"confirm_name": {"closing.test"}, "window_days": {"7"}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("an auditor asked to close: %d", res.StatusCode)
	}
	if c, _ := s.Managed.Closure(ctx, tenant); c != nil {
		t.Fatalf("a refused request left a closure: %+v", c)
	}

	// Requested, seen by every member, cancelled by the owner.
	res, page = post(ob, "/tenant/close", url.Values{"confirm_name": {" closing.test "}, "window_days": {"7"}})
	if res.StatusCode != http.StatusOK || !strings.Contains(page, `data-testid="close-pending"`) || !strings.Contains(page, `data-testid="cancel-close"`) {
		t.Fatalf("request closure: %d", res.StatusCode)
	}
	if _, dash := ab.get(t, s.URL+"/dashboard"); !strings.Contains(dash, `data-testid="closing-banner"`) || !strings.Contains(dash, "olga@closing.test") {
		t.Error("the auditor sees no closing banner")
	}
	mailed(aldo.Email, "closing.test closes on ")
	mailed(olga.Email, "closing.test closes on ")
	if res, _ := post(ab, "/tenant/close/cancel", url.Values{}); res.StatusCode != http.StatusForbidden {
		t.Errorf("an auditor cancelled: %d", res.StatusCode)
	}
	if res, _ := post(ob, "/tenant/close/cancel", url.Values{}); res.StatusCode != http.StatusOK {
		t.Fatalf("cancel: %d", res.StatusCode)
	}
	if _, dash := ab.get(t, s.URL+"/dashboard"); strings.Contains(dash, `data-testid="closing-banner"`) {
		t.Error("the banner stays after the cancellation")
	}
	mailed(aldo.Email, "Cancelled: closing.test will not be closed")
	if res, _ := post(ob, "/tenant/close/cancel", url.Values{}); res.StatusCode != http.StatusConflict {
		t.Errorf("cancel with nothing pending: %d, want 409", res.StatusCode)
	}
	res, _ = post(ob, "/tenant/close", url.Values{"confirm_name": {"closing.test"}, "window_days": {"7"}})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("request closure again: %d", res.StatusCode)
	}
	if res, _ := post(ob, "/tenant/close", url.Values{"confirm_name": {"closing.test"}, "window_days": {"7"}}); res.StatusCode != http.StatusConflict {
		t.Errorf("a second closure: %d, want 409", res.StatusCode)
	}

	// Nothing happens before the window ends: the job is not due.
	s.Clock.Advance(6 * 24 * time.Hour)
	if _, err := s.Jobs.RunDue(ctx); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Managed.Closure(ctx, tenant); c == nil || c.State != models.ClosurePending {
		t.Fatalf("closure before its window ended: %+v", c)
	}
	if got := encrypt(); got != http.StatusOK {
		t.Fatalf("encrypt during the window: %d", got)
	}

	// The window ends; KMS fails once on the way: access is gone already,
	// and the job resumes from the step it recorded.
	sessions := countRows(t, s, "SELECT count(*) FROM sessions WHERE tenant_id = '"+tenant+"'")
	if sessions == 0 {
		t.Fatal("no session works in the tenant before its closure")
	}
	s.Clock.Advance(24*time.Hour + time.Minute)
	s.KMS.FailNext("ScheduleKeyDeletion", 1, "KMSInternalException")
	if _, err := s.Jobs.RunDue(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := s.Managed.Closure(ctx, tenant)
	if err != nil || c.State != models.ClosureClosing || c.Step != "schedule_kms_deletion" {
		t.Fatalf("closure after a failed KMS step: %+v %v", c, err)
	}
	if got := encrypt(); got != http.StatusUnauthorized {
		t.Errorf("encrypt with the tenant's token once its closure began: %d, want 401", got)
	}
	if n := countRows(t, s, "SELECT count(*) FROM sessions WHERE tenant_id = '"+tenant+"'"); n != 0 {
		t.Errorf("%d sessions of the closing tenant remain", n)
	}
	if n := countRows(t, s, "SELECT count(*) FROM memberships WHERE tenant_id = '"+tenant+"'"); n != 0 {
		t.Errorf("%d memberships of the closing tenant remain", n)
	}
	s.Clock.Advance(2 * time.Hour) // past the retry's backoff
	if _, err := s.Jobs.RunDue(ctx); err != nil {
		t.Fatal(err)
	}
	c, err = s.Managed.Closure(ctx, tenant)
	if err != nil || c.State != models.ClosureClosed || c.KMSKeysScheduled != 1 || c.Detail != "" {
		t.Fatalf("closure after the resumed job: %+v %v", c, err)
	}

	// KMS: the key keyport made is pending deletion with the closure's
	// window; the tenant's own key is untouched.
	admin := kms.NewFromConfig(s.KMS.AWSConfig(awsRegion, awsAdminAKID, awsAdminSecret))
	for arn, want := range map[string]string{genARN: "PendingDeletion", cmkARN: "Enabled"} {
		d, err := admin.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(arn)})
		if err != nil {
			t.Fatal(err)
		}
		if got := string(d.KeyMetadata.KeyState); got != want {
			t.Errorf("KMS key %s is %s, want %s", arn, got, want)
		}
		if want == "PendingDeletion" && d.KeyMetadata.DeletionDate.Sub(time.Now()) < 6*24*time.Hour { // kmslocal keeps real time
			t.Errorf("KMS deletion of %s at %v: shorter than the 7-day window", arn, d.KeyMetadata.DeletionDate)
		}
	}
	// keyport: every secret of the tenant erased, every key DELETED.
	for q, want := range map[string]int{
		"SELECT count(*) FROM key_materials WHERE tenant_id = '" + tenant + "' AND length(sealed) > 0":                           0,
		"SELECT count(*) FROM aws_connections WHERE tenant_id = '" + tenant + "' AND secret_sealed IS NOT NULL":                  0,
		"SELECT count(*) FROM data_key_wraps WHERE key_id IN (SELECT id FROM keys WHERE tenant_id = '" + tenant + "')":           0,
		"SELECT count(*) FROM keys WHERE tenant_id = '" + tenant + "' AND state <> 'DELETED'":                                    0,
		"SELECT count(*) FROM service_tokens WHERE tenant_id = '" + tenant + "' AND revoked_at IS NULL":                          0,
		"SELECT count(*) FROM closed_memberships WHERE tenant_id = '" + tenant + "'":                                             2,
		"SELECT count(*) FROM audit_events WHERE tenant_id = '" + tenant + "' AND action = 'tenant.closed'":                      1,
		"SELECT count(*) FROM jobs WHERE tenant_id = '" + tenant + "' AND kind = 'tenant.close' AND state = 'done'":              1,
		"SELECT count(*) FROM jobs WHERE tenant_id = '" + tenant + "' AND kind = 'tenant.close' AND state = 'cancelled'":         1,
		"SELECT count(*) FROM tenant_closures WHERE tenant_id = '" + tenant + "' AND state = 'cancelled' AND cancelled_by <> ''": 1,
	} {
		if got := countRows(t, s, q); got != want {
			t.Errorf("%s = %d, want %d", q, got, want)
		}
	}
	for _, col := range models.ClosureErasedColumns() {
		q := "SELECT count(*) FROM " + col.Table + " WHERE tenant_id = '" + tenant + "' AND " + col.BlobColumn + " IS NOT NULL AND length(" + col.BlobColumn + ") > 0"
		if col.Table == "idempotency_records" { // keyed by the tenant's API keys, not by tenant
			q = "SELECT count(*) FROM idempotency_records r JOIN api_keys k ON r.id LIKE k.id || '/%' WHERE k.tenant_id = '" + tenant + "'"
		}
		if got := countRows(t, s, q); got != 0 {
			t.Errorf("%s: %d sealed blobs of the closed tenant remain", col, got)
		}
	}
	if _, _, err := s.Keys.NewServiceToken(ctx, tenant, "late", "operator"); !errors.Is(err, models.ErrTenantClosed) {
		t.Errorf("a new service token for the closed tenant: %v, want ErrTenantClosed", err)
	}
	if _, err := s.Keys.Encrypt(ctx, tenant, gen.Key.ID, []byte("x"), nil); err == nil {
		t.Error("the data plane still encrypts under a closed tenant's key")
	}
	var actions []string
	for _, a := range s.auditActions(t, tenant) {
		name, _, _ := strings.Cut(a, ":")
		if strings.HasPrefix(name, "tenant.") {
			actions = append(actions, name)
		}
	}
	want := []string{"tenant.created", "tenant.closure_requested", "tenant.closure_cancelled", "tenant.closure_requested",
		"tenant.access_revoked", "tenant.secrets_erased", "tenant.closed"}
	if !slices.Equal(actions, want) {
		t.Errorf("tenant audit events:\n got %v\nwant %v", actions, want)
	}
	if ok, err := s.DB.VerifyTenantAudit(ctx, tenant); err != nil || !ok.OK {
		t.Errorf("the closed tenant's audit chain does not verify: %+v %v", ok, err)
	}

	// A former member signs in again: told the tenant is closed, given no
	// tenant (not a fresh one in its place), and no session.
	before := countRows(t, s, "SELECT count(*) FROM tenants")
	for _, id := range []devidp.Identity{olga, aldo} {
		b := newBrowser(t)
		res, page := s.signIn(t, b, id)
		if res.StatusCode != http.StatusForbidden || !strings.Contains(page, "Tenant closed") {
			t.Errorf("%s signing in after the closure: %d", id.Email, res.StatusCode)
		}
		if r, _ := b.get(t, s.URL+"/dashboard"); r.Request.URL.Path == "/dashboard" {
			t.Errorf("%s has a session after the closure", id.Email)
		}
		if ts := s.tenantsOf(t, id); len(ts) != 0 {
			t.Errorf("%s is in tenants %v after the closure", id.Email, ts)
		}
	}
	if after := countRows(t, s, "SELECT count(*) FROM tenants"); after != before {
		t.Errorf("signing in as former members made %d tenants", after-before)
	}
	if cl, _ := s.Managed.Closure(ctx, tenant); cl == nil || cl.State != models.ClosureClosed {
		t.Errorf("the tenant is no longer closed: %+v", cl)
	}
}

// activeKMSKey is the KMS key of a managed key's active material.
func activeKMSKey(t *testing.T, s *stack, tenantID, keyID string) string {
	t.Helper()
	m, err := s.DB.ActiveMaterial(context.Background(), tenantID, keyID)
	if err != nil {
		t.Fatal(err)
	}
	return m.KMSKeyARN
}

// countRows runs a count query around the store.
func countRows(t *testing.T, s *stack, q string) int {
	t.Helper()
	var n int
	if err := s.rawSQL(t).QueryRow(q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}
