package web_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"keyport/handlers"
	"keyport/handlers/dataapi"
	"keyport/handlers/notice"
	"keyport/keysvc"
	"keyport/keysvc/jobs"
	"keyport/keysvc/keysvctest"
	"keyport/keysvc/mailer"
	"keyport/keysvc/rotation"
	"keyport/keysvc/seal"
	"keyport/models"
	"keyport/web"
	"keyport/web/devidp"
	"keyport/web/mailcatcher"
)

// newScheduler builds the stack's job worker and rotation scheduler. The
// worker does not run by itself: tests call Tick and RunDue, so nothing
// happens between their steps.
func newScheduler(db *models.DB, sealer *seal.Sealer, keys *keysvc.Service, send mailer.MailSender, base string,
	now func() time.Time, log *slog.Logger) (*jobs.Worker, *rotation.Scheduler) {
	w := jobs.NewWorker(db, log, jobs.WorkerConfig{Concurrency: 1})
	ob := mailer.NewOutbox(db, sealer, send, "keyport.test")
	s := rotation.NewScheduler(rotation.SchedulerDeps{DB: db, Keys: keys, Outbox: ob, Worker: w, Render: notice.Renderer{BaseURL: base},
		Logger: log, Now: now})
	return w, s
}

var dana = devidp.Identity{Email: "dana@rotation.test", Name: "Dana Owner", EmailVerified: true}

// registerKey connects the stack's tenant account and registers a fresh
// KMS key through the pages, returning its keyport id.
func (s *stack) registerKey(t *testing.T, b *browser, name string) string {
	t.Helper()
	s.addConnection(t, b, url.Values{"name": {"prod"}, "account_id": {awsTenantAcct}, "default_region": {awsRegion},
		"kind": {"access_key"}, "access_key_id": {awsUserAKID}, "secret_access_key": {awsUserSecret}})
	_, page := b.get(t, s.URL+"/keys/new")
	cs, _ := s.DB.ListConnections(context.Background(), s.tenantOf(t, dana))
	res, _ := b.post(t, s.URL+"/keys", url.Values{"csrf_token": {csrfToken(t, page)}, "connection_id": {cs[0].ID}, "name": {name},
		"key_arn": {s.tenantKMSKey(t, "")}}, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("register key: %d", res.StatusCode)
	}
	parts := strings.Split(res.Request.URL.Path, "/")
	return parts[len(parts)-1]
}

var nextRotationRE = regexp.MustCompile(`data-testid="next-rotation">([^<]+)<`)

func nextRotation(t *testing.T, page string) string {
	t.Helper()
	m := nextRotationRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("page shows no next rotation")
	}
	return m[1]
}

func TestRotationOverHTTP(t *testing.T) {
	s := newStack(t, nil)
	ctx := context.Background()
	b := newBrowser(t)
	s.signIn(t, b, dana)
	keyID := s.registerKey(t, b, "ledger")
	rotURL := s.URL + "/keys/" + keyID + "/rotation"

	// The default policy: yearly, notices 30, 7 and 1 days before.
	_, page := b.get(t, rotURL)
	if !strings.Contains(page, "every 365 days") || strings.Count(page, `data-testid="planned-notice"`) != 3 {
		t.Fatalf("default schedule not shown:\n%s", page)
	}
	// A bad policy is refused with the field's message.
	res, page := b.post(t, rotURL, url.Values{"csrf_token": {csrfToken(t, page)}, "period_days": {"0"}, "notice_days": {"7"}}, nil)
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, `data-testid="error-period_days"`) {
		t.Fatalf("bad policy: %d", res.StatusCode)
	}
	// Every 30 days, notices 7 and 1 days before.
	res, page = b.post(t, rotURL, url.Values{"csrf_token": {csrfToken(t, page)}, "period_days": {"30"}, "notice_days": {"7, 1"},
		"automatic": {"true"}, "window_start_hour": {"3"}, "window_hours": {"2"}}, nil)
	if res.StatusCode != http.StatusOK || strings.Count(page, `data-testid="planned-notice"`) != 2 {
		t.Fatalf("policy not saved: %d", res.StatusCode)
	}
	k, _ := s.DB.GetKey(ctx, s.tenantOf(t, dana), keyID)
	want := k.CreatedAt.AddDate(0, 0, 30).Format("2006-01-02") + " 03:00 UTC"
	if got := nextRotation(t, page); got != want {
		t.Errorf("next rotation %q, want %q", got, want)
	}

	// Rotate now, twice from the same page (a double click): one rotation.
	token := csrfToken(t, page)
	for i, flash := range []string{"Key rotated", "already rotated"} {
		res, page = b.post(t, s.URL+"/keys/"+keyID+"/rotate", url.Values{"csrf_token": {token}, "from_version": {"1"}}, nil)
		if res.StatusCode != http.StatusOK || !strings.Contains(page, flash) {
			t.Fatalf("rotate now #%d: %d, want %q", i+1, res.StatusCode, flash)
		}
	}
	if vs, _ := s.DB.DataKeyVersions(ctx, k.TenantID, keyID); len(vs) != 2 {
		t.Fatalf("versions after a double click = %d, want 2", len(vs))
	}
	if !strings.Contains(page, `data-testid="current-version">2<`) {
		t.Error("the page does not show version 2")
	}
	// The "rotated" email goes out through the outbox.
	s.Jobs.RunDue(ctx)
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	m, err := s.Mail.WaitFor(wctx, func(m mailcatcher.Message) bool { return m.Subject == "Key ledger was rotated to version 2" })
	if err != nil || len(m.To) != 1 || m.To[0] != dana.Email || !strings.Contains(m.Text, "on request") {
		t.Fatalf("rotated email: %v %+v\n%s", err, m.To, m.Text)
	}

	// Postpone within the bound moves the date; past it is refused.
	before := nextRotation(t, page)
	res, page = b.post(t, rotURL+"/postpone", url.Values{"csrf_token": {token}, "days": {"7"}}, nil)
	next, _ := time.Parse("2006-01-02 15:04 MST", before)
	if res.StatusCode != http.StatusOK || nextRotation(t, page) != next.AddDate(0, 0, 7).Format("2006-01-02 15:04")+" UTC" {
		t.Fatalf("postpone: %d %s", res.StatusCode, nextRotation(t, page))
	}
	if res, _ = b.post(t, rotURL+"/postpone", url.Values{"csrf_token": {token}, "days": {"30"}}, nil); res.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("postponing past the bound: %d", res.StatusCode)
	}

	// The 7-day notice goes out; an admin acknowledges it.
	s.Clock.Advance(31 * 24 * time.Hour)
	s.Jobs.Tick(ctx)
	s.Jobs.RunDue(ctx)
	s.signIn(t, b, dana) // a month later: the session has ended
	_, page = b.get(t, rotURL)
	token = csrfToken(t, page)
	if !strings.Contains(page, `data-testid="ack-notice"`) {
		t.Fatalf("no notice to acknowledge:\n%s", page)
	}
	form := regexp.MustCompile(`action="(/keys/[^"]+/ack)"`).FindStringSubmatch(page)
	res, page = b.post(t, s.URL+form[1], url.Values{"csrf_token": {token}}, nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(page, "acknowledged by Dana Owner") {
		t.Fatalf("acknowledge: %d", res.StatusCode)
	}

	// Upcoming rotations and the calendar feed (a capability URL: no
	// session, shown once, replaced on demand).
	_, page = b.get(t, s.URL+"/rotations")
	if !strings.Contains(page, `data-testid="upcoming-row"`) || !strings.Contains(page, "ledger") {
		t.Fatal("upcoming page lacks the key")
	}
	feedURL := func() string {
		_, p := b.post(t, s.URL+"/rotations/calendar", url.Values{"csrf_token": {token}}, nil)
		m := regexp.MustCompile(`data-testid="calendar-url">([^<]+)<`).FindStringSubmatch(p)
		if m == nil {
			t.Fatal("no feed address shown")
		}
		return m[1]
	}
	first := feedURL()
	res, err = http.Get(first) // no cookies
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/calendar") ||
		!strings.Contains(string(body), "SUMMARY:Key rotation: ledger (automatic)") || !strings.Contains(string(body), "TRIGGER:-P7D") {
		t.Fatalf("feed: %d %s\n%s", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	if len(res.Cookies()) != 0 {
		t.Error("the feed set a cookie")
	}
	second := feedURL()
	if res, _ := http.Get(first); res.StatusCode != http.StatusNotFound {
		t.Errorf("the replaced feed address still answers %d", res.StatusCode)
	}
	if res, _ := http.Get(second); res.StatusCode != http.StatusOK {
		t.Errorf("the new feed address answers %d", res.StatusCode)
	}
	if _, page = b.get(t, s.URL+"/rotations"); strings.Contains(page, strings.Split(second, "/")[4]) {
		t.Error("the feed token is shown again after a reload")
	}
	acts := strings.Join(s.auditActions(t, k.TenantID), " ")
	for _, a := range []string{"key.rotation_policy_set", "key.rotation_requested", "key.data_key_rotated", "key.rotation_postponed",
		"key.notice_acknowledged", "calendar_feed.created"} {
		if !strings.Contains(acts, a) {
			t.Errorf("no audit event %s", a)
		}
	}

	// A rotation whose attempt fails says so, not "under way" (issue 17 #23).
	_, page = b.get(t, rotURL)
	s.KMS.FailNext("GenerateDataKeyWithoutPlaintext", 1, "AccessDeniedException")
	res, page = b.post(t, s.URL+"/keys/"+keyID+"/rotate", url.Values{"csrf_token": {csrfToken(t, page)}}, nil)
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "The rotation failed") || strings.Contains(page, "under way") {
		t.Errorf("a failed rotation: %d\n%s", res.StatusCode, page)
	}
	if strings.Contains(s.Logs.String(), strings.Split(second, "/")[4]) {
		t.Error("the feed token reached the logs")
	}
}

// TestKMSRotationOverHTTP: on a customer-managed key's rotation page
// an owner rotates the KMS key material (after opening the confirmation)
// and sees which data-key version is now current; a refusal by KMS is
// shown in keyport's words; keys in a key store have no such button.
func TestKMSRotationOverHTTP(t *testing.T) {
	s := lifecycleStack(t)
	ctx := context.Background()
	b := newBrowser(t)
	s.signIn(t, b, dana)
	keyID := s.registerKey(t, b, "ledger")
	rotURL := s.URL + "/keys/" + keyID + "/rotation"
	tenant := s.tenantOf(t, dana)
	regions, err := s.DB.KeyRegions(ctx, tenant, keyID)
	if err != nil {
		t.Fatal(err)
	}
	admin := kms.NewFromConfig(s.KMS.AWSConfig(awsRegion, awsAdminAKID, awsAdminSecret))
	rotations := func() []kmstypes.RotationsListEntry {
		out, err := admin.ListKeyRotations(ctx, &kms.ListKeyRotationsInput{KeyId: aws.String(regions[0].KMSKeyARN)})
		if err != nil {
			t.Fatal(err)
		}
		return out.Rotations
	}

	_, page := b.get(t, rotURL)
	action := `action="/keys/` + keyID + `/rotation/kms"`
	if !strings.Contains(page, `data-testid="rotate-kms"`) || !strings.Contains(page, action) || !strings.Contains(page, "RotateKeyOnDemand") ||
		!strings.Contains(page, `name="kms_rotate_on_demand"`) {
		t.Fatalf("the rotation page offers no KMS material rotation:\n%s", page)
	}
	if _, keyPage := b.get(t, s.URL+"/keys/"+keyID); strings.Contains(keyPage, `data-testid="rotate-kms"`) {
		t.Error("the key page offers the KMS material rotation; it belongs on the rotation page")
	}
	res, page := b.post(t, s.URL+"/keys/"+keyID+"/rotation/kms", url.Values{"csrf_token": {csrfToken(t, page)}, "from_version": {"1"}}, nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(page, "KMS key material rotated: data-key version 2 is now current") ||
		!strings.Contains(page, `data-testid="current-version">2<`) {
		t.Fatalf("rotate KMS material: %d\n%s", res.StatusCode, page)
	}
	if rots := rotations(); len(rots) != 1 || rots[0].RotationType != kmstypes.RotationTypeOnDemand {
		t.Fatalf("KMS rotations = %+v, want one ON_DEMAND", rots)
	}
	if acts := strings.Join(s.auditActions(t, tenant), " "); !strings.Contains(acts, "key.kms_material_rotated") {
		t.Errorf("no key.kms_material_rotated audit event in %s", acts)
	}

	// KMS refuses (its quota of on-demand rotations): the page says so in
	// keyport's words and nothing changes.
	s.KMS.FailNext("RotateKeyOnDemand", 1, "LimitExceededException")
	res, page = b.post(t, s.URL+"/keys/"+keyID+"/rotation/kms", url.Values{"csrf_token": {csrfToken(t, page)}, "from_version": {"2"}}, nil)
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, `data-testid="rotation-error"`) ||
		!strings.Contains(page, "used all the on-demand rotations AWS allows") || strings.Contains(page, "LimitExceeded") {
		t.Fatalf("refused rotation: %d\n%s", res.StatusCode, page)
	}
	if len(rotations()) != 1 || !strings.Contains(page, `data-testid="current-version">2<`) {
		t.Error("a refused KMS rotation changed something")
	}

	// A key in a key store (mode 2) rotates in place from its key page.
	b2 := newBrowser(t)
	s.signIn(t, b2, erin)
	_, managed := s.newStoreAndKey(t, b2, "managed")
	_, page = b2.get(t, s.URL+"/keys/"+managed+"/rotation")
	if !strings.Contains(page, `data-testid="rotate-now"`) || strings.Contains(page, `data-testid="rotate-kms"`) {
		t.Fatalf("a mode-2 key's rotation page: rotate-now %v, rotate-kms %v", strings.Contains(page, `data-testid="rotate-now"`),
			strings.Contains(page, `data-testid="rotate-kms"`))
	}
	res, _ = b2.post(t, s.URL+"/keys/"+managed+"/rotation/kms", url.Values{"csrf_token": {csrfToken(t, page)}}, nil)
	if res.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("KMS material rotation of a mode-2 key: %d, want 422", res.StatusCode)
	}
}

// noticeParam gives the authorization matrix a notice of tenant A's key
// for the :notice_id path parameter.
func (w *matrixWorld) noticeParam(t *testing.T, keyID string) string {
	t.Helper()
	ctx := context.Background()
	if _, err := w.s.Rot.Policy(ctx, w.tenantA, keyID); err != nil {
		t.Fatal(err)
	}
	ns, err := w.s.DB.KeyNotices(ctx, w.tenantA, keyID, 10)
	if err != nil || len(ns) == 0 {
		t.Fatalf("no notice for the matrix: %v", err)
	}
	return ns[0].ID
}

// TestRotateOverDataAPI: the provider's services force a rotation through
// the data API; concurrent calls from the same version are one rotation.
func TestRotateOverDataAPI(t *testing.T) {
	env := keysvctest.New(t, keysvc.Config{})
	ctx := context.Background()
	k := env.Key(t, "api-rotated")
	tok, _, err := env.Service.NewServiceToken(ctx, env.Tenant.ID, "ops service", env.Owner.ID)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	_, rot := newScheduler(env.DB, env.Sealer, env.Service, nil, "https://keyport.test", env.Clock.Now, log)
	h := handlers.New(handlers.Deps{DB: env.DB, Logger: log, Rotation: rot})
	ts := httptest.NewServer(web.New(web.Deps{Handlers: h, API: dataapi.New(env.Service, env.Managed(env.Service), log), Logger: log}))
	defer ts.Close()
	call := func(keyID, body string) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, ts.URL+"/api/v1/keys/"+keyID+"/rotate", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return 0, nil
		}
		defer res.Body.Close()
		var out map[string]any
		json.NewDecoder(res.Body).Decode(&out)
		return res.StatusCode, out
	}
	type answer struct {
		status int
		body   map[string]any
	}
	answers := make(chan answer, 6)
	for range 6 {
		go func() {
			st, b := call(k.ID, `{"from_version":1}`)
			answers <- answer{st, b}
		}()
	}
	for range 6 {
		a := <-answers
		if a.status != http.StatusOK || a.body["key_version"] != float64(2) {
			t.Errorf("concurrent rotate: %d %v", a.status, a.body)
		}
	}
	if vs, _ := env.DB.DataKeyVersions(ctx, env.Tenant.ID, k.ID); len(vs) != 2 {
		t.Fatalf("versions = %d, want 2", len(vs))
	}
	if st, b := call(k.ID, ""); st != http.StatusOK || b["state"] != "rotated" || b["key_version"] != float64(3) {
		t.Errorf("rotate from the current version: %d %v", st, b)
	}
	if st, b := call("key_nosuchkey", ""); st != http.StatusNotFound {
		t.Errorf("unknown key: %d %v", st, b)
	}
	// A rotation whose attempt fails is an error, not 202 in_progress
	// (issue 17 #23): retrying while the job waits for its retry, failed
	// once its attempts ran out.
	env.KMS.FailNext("GenerateDataKeyWithoutPlaintext", 100, "AccessDeniedException")
	defer env.KMS.ClearFaults()
	st, b := call(k.ID, "")
	if e, _ := b["error"].(map[string]any); st != http.StatusServiceUnavailable || e["code"] != "rotation_retrying" {
		t.Errorf("rotation whose attempt failed: %d %v", st, b)
	}
	for range 12 {
		env.Clock.Advance(48 * time.Hour) // past the retry's backoff
		if st, b = call(k.ID, `{"from_version":3}`); st != http.StatusServiceUnavailable {
			break
		}
	}
	if e, _ := b["error"].(map[string]any); st != http.StatusConflict || e["code"] != "rotation_failed" {
		t.Errorf("rotation whose attempts ran out: %d %v", st, b)
	}
	if vs, _ := env.DB.DataKeyVersions(ctx, env.Tenant.ID, k.ID); len(vs) != 3 {
		t.Errorf("versions after failed rotations = %d, want 3", len(vs))
	}
}
