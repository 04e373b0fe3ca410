package web_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/mail"
	"net/textproto"
	"net/url"
	"strings"
	"testing"
	"time"

	"keyport/handlers/reportnotice"
	"keyport/keysvc/jobs"
	"keyport/keysvc/mailer"
	"keyport/keysvc/reportmail"
	"keyport/models"
	"keyport/web/mailcatcher"
)

// mailAttachment finds a message's attachment by content type and returns
// its file name and decoded bytes.
func mailAttachment(t *testing.T, raw []byte, contentType string) (string, []byte) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var name string
	var data []byte
	var walk func(h textproto.MIMEHeader, body io.Reader)
	walk = func(h textproto.MIMEHeader, body io.Reader) {
		mt, params, _ := mime.ParseMediaType(h.Get("Content-Type"))
		if strings.HasPrefix(mt, "multipart/") {
			mr := multipart.NewReader(body, params["boundary"])
			for {
				p, err := mr.NextRawPart()
				if err != nil {
					return
				}
				walk(p.Header, p)
			}
		}
		disp, dparams, _ := mime.ParseMediaType(h.Get("Content-Disposition"))
		if disp != "attachment" || mt != contentType {
			return
		}
		name = dparams["filename"]
		if strings.EqualFold(h.Get("Content-Transfer-Encoding"), "base64") {
			body = base64.NewDecoder(base64.StdEncoding, body)
		}
		data, _ = io.ReadAll(body)
	}
	walk(textproto.MIMEHeader(msg.Header), msg.Body)
	if data == nil {
		t.Fatalf("no %s attachment in:\n%s", contentType, raw)
	}
	return name, data
}

// TestScheduledValidationReport: an owner schedules the validation report
// on the reports page (audited); every owner and auditor, and nobody else,
// then gets it by email as a JSON attachment through the outbox, once per
// period, even with two replicas planning it; monthly works the same way
// and "off" stops it.
func TestScheduledValidationReport(t *testing.T) {
	s := newStack(t, nil)
	ctx := context.Background()
	b := newBrowser(t)
	s.signIn(t, b, dana)
	keyID := s.registerKey(t, b, "payroll")
	tenantID := s.tenantOf(t, dana)
	raw := s.rawSQL(t)

	// An auditor and an admin besides the owner.
	for _, m := range []struct {
		email string
		role  models.Role
	}{{"audrey@rotation.test", models.RoleAuditor}, {"adam@rotation.test", models.RoleAdmin}} {
		u, _, err := s.DB.UpsertOIDCUser(ctx, s.IdP.Issuer(), m.email, m.email, m.email)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.DB.AddMember(ctx, tenantID, u.ID, m.role, "", models.AuditInput{Actor: "test", Action: "member.added"}); err != nil {
			t.Fatal(err)
		}
	}

	// Two replicas plan reports: the stack's worker (which also delivers
	// email) and a second one on the same database.
	render := reportnotice.Renderer{BaseURL: s.URL}
	reportmail.New(reportmail.Deps{DB: s.DB, Settings: s.Keys, Outbox: mailer.NewOutbox(s.DB, s.Seal, nil, "keyport.test"), Worker: s.Jobs,
		Render: render, Now: s.Clock.Now})
	w2 := jobs.NewWorker(s.DB, nil, jobs.WorkerConfig{Concurrency: 1})
	reportmail.New(reportmail.Deps{DB: s.DB, Settings: s.Keys, Outbox: mailer.NewOutbox(s.DB, s.Seal, nil, "keyport.test"), Worker: w2,
		Render: render, Now: s.Clock.Now})
	plan := func() {
		t.Helper()
		w2.Tick(ctx)
		s.Jobs.Tick(ctx)
		if _, err := w2.RunDue(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Jobs.RunDue(ctx); err != nil {
			t.Fatal(err)
		}
	}
	reportJobs := func() int {
		var n int
		if err := raw.QueryRow(`SELECT COUNT(*) FROM jobs WHERE kind = '` + reportmail.JobKind + `'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	reportMails := func() map[string]int {
		out := map[string]int{}
		for _, m := range s.Mail.Messages() {
			if strings.HasPrefix(m.Subject, "Configuration validation of ") {
				out[m.To[0]]++
			}
		}
		return out
	}

	// Nothing is scheduled at first.
	_, page := b.get(t, s.URL+"/reports")
	if !strings.Contains(page, `data-testid="report-schedule-period">not sent<`) {
		t.Fatalf("reports page without a schedule:\n%s", page)
	}
	plan()
	if n := reportJobs(); n != 0 {
		t.Fatalf("%d report jobs without a schedule", n)
	}

	// A bad period is refused with the field's message; weekly is saved.
	res, page := b.post(t, s.URL+"/reports/schedule", url.Values{"csrf_token": {csrfToken(t, page)}, "period": {"fortnightly"}}, nil)
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, `data-testid="error-period"`) {
		t.Fatalf("bad period: %d", res.StatusCode)
	}
	res, page = b.post(t, s.URL+"/reports/schedule", url.Values{"csrf_token": {csrfToken(t, page)}, "period": {"weekly"}}, nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(page, `data-testid="report-schedule-period">sent weekly<`) {
		t.Fatalf("weekly not saved: %d", res.StatusCode)
	}
	evs, _ := s.DB.AuditEvents(ctx, models.TenantScope(tenantID), models.AuditFilter{Action: "report.schedule_changed"})
	if len(evs) != 1 || !strings.Contains(evs[0].Details, `"from":"off"`) || !strings.Contains(evs[0].Details, `"to":"weekly"`) {
		t.Fatalf("schedule audit events: %+v", evs)
	}

	// This week's report: one job whichever replica plans it, one email to
	// each owner and auditor, none to the admin.
	plan()
	plan()
	if n := reportJobs(); n != 1 {
		t.Fatalf("%d report jobs for one week, want 1", n)
	}
	for _, who := range []string{dana.Email, "audrey@rotation.test"} {
		if _, err := s.Mail.WaitFor(ctx, func(m mailcatcher.Message) bool {
			return m.To[0] == who && strings.HasPrefix(m.Subject, "Configuration validation of ")
		}); err != nil {
			t.Fatalf("no report for %s: %v", who, err)
		}
	}
	if got := reportMails(); len(got) != 2 || got[dana.Email] != 1 || got["audrey@rotation.test"] != 1 {
		t.Fatalf("report emails by recipient: %v", got)
	}

	// The attachment is the reports page's JSON report of this tenant.
	var msg mailcatcher.Message
	for _, m := range s.Mail.Messages() {
		if m.To[0] == "audrey@rotation.test" {
			msg = m
		}
	}
	if !strings.Contains(msg.Text, "weekly configuration validation report") || !strings.Contains(msg.Text, s.URL+"/reports") {
		t.Errorf("report email text:\n%s", msg.Text)
	}
	name, body := mailAttachment(t, msg.Raw, "application/json")
	if !strings.HasSuffix(name, ".json") || !strings.Contains(name, "configuration-validation") {
		t.Errorf("attachment name %q", name)
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("attachment is not JSON: %v\n%s", err, body)
	}
	_, download := b.get(t, s.URL+"/reports/validation?format=json")
	var want map[string]any
	if err := json.Unmarshal([]byte(download), &want); err != nil {
		t.Fatal(err)
	}
	meta, _ := doc["meta"].(map[string]any)
	if meta["report"] != "configuration_validation" || meta["tenant_id"] != tenantID || doc["verdict"] == nil || doc["keys"] == nil {
		t.Errorf("the emailed report: %s", body)
	}
	wantKeys, _ := json.Marshal(want["keys"])
	gotKeys, _ := json.Marshal(doc["keys"])
	if doc["verdict"] != want["verdict"] || !bytes.Equal(wantKeys, gotKeys) || !strings.Contains(string(body), keyID) {
		t.Errorf("the emailed report differs from the download:\n%s\nwant\n%s", body, download)
	}
	if evs, _ := s.DB.AuditEvents(ctx, models.TenantScope(tenantID), models.AuditFilter{Action: "report.emailed"}); len(evs) != 1 ||
		!strings.Contains(evs[0].Details, `"recipients":"2"`) {
		t.Errorf("report.emailed events: %+v", evs)
	}

	// Planned again the same week: nothing more. Next week: the next report.
	plan()
	if n := reportJobs(); n != 1 {
		t.Fatalf("%d report jobs within one week", n)
	}
	s.Clock.Advance(7 * 24 * time.Hour)
	plan()
	plan()
	if n := reportJobs(); n != 2 {
		t.Fatalf("%d report jobs after a second week, want 2", n)
	}
	if got := reportMails(); got[dana.Email] != 2 || got["audrey@rotation.test"] != 2 || len(got) != 2 {
		t.Fatalf("report emails after two weeks: %v", got)
	}

	// Monthly: this month's report at once, then nothing until next month.
	s.signIn(t, b, dana) // a week later the session has ended
	_, page = b.get(t, s.URL+"/reports")
	if res, page := b.post(t, s.URL+"/reports/schedule", url.Values{"csrf_token": {csrfToken(t, page)}, "period": {"monthly"}}, nil); !strings.Contains(page, "sent monthly") {
		t.Fatalf("monthly not saved: %d", res.StatusCode)
	}
	plan()
	plan()
	if n := reportJobs(); n != 3 {
		t.Fatalf("%d report jobs after switching to monthly, want 3", n)
	}
	month := reportmail.PeriodKey(models.ReportMonthly, s.Clock.Now())
	var runKey string
	if err := raw.QueryRow(`SELECT run_key FROM jobs WHERE kind = '` + reportmail.JobKind + `' ORDER BY created_at DESC, run_key LIMIT 1`).Scan(&runKey); err != nil ||
		runKey != reportmail.RunKey(tenantID, reportmail.ValidationReport, month) {
		t.Errorf("monthly run key %q (%v), want the month %s", runKey, err, month)
	}

	// Off: nothing more, even a month later.
	_, page = b.get(t, s.URL+"/reports")
	if res, page := b.post(t, s.URL+"/reports/schedule", url.Values{"csrf_token": {csrfToken(t, page)}, "period": {"off"}}, nil); !strings.Contains(page, ">not sent<") {
		t.Fatalf("off not saved: %d", res.StatusCode)
	}
	s.Clock.Advance(32 * 24 * time.Hour)
	plan()
	if n := reportJobs(); n != 3 {
		t.Fatalf("%d report jobs after turning it off", n)
	}
	if evs, _ := s.DB.AuditEvents(ctx, models.TenantScope(tenantID), models.AuditFilter{Action: "report.schedule_changed"}); len(evs) != 3 {
		t.Errorf("%d schedule changes audited, want 3", len(evs))
	}
}
