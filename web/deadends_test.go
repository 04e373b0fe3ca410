package web_test

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"keyport/handlers/notice"
	"keyport/keysvc"
	"keyport/keysvc/mailer"
	"keyport/keysvc/managed"
	"keyport/models"
	"keyport/web/devidp"
	"keyport/web/mailcatcher"
)

var (
	dora = devidp.Identity{Email: "dora@deadends.test", Name: "Dora Admin", EmailVerified: true}
	aud  = devidp.Identity{Email: "aud@deadends.test", Name: "Aud Auditor", EmailVerified: true}
)

// stackApprovalMail makes the stack's managed service email approvals
// through an outbox to the stack's mail catcher, as cmd/keyport does.
func stackApprovalMail(t *testing.T, s *stack) {
	t.Helper()
	mhost, mport, _ := net.SplitHostPort(s.Mail.Addr())
	port, _ := strconv.Atoi(mport)
	ml, err := mailer.New(mailer.Config{Host: mhost, Port: port, TLS: mailer.NoTLS, From: "keyport <keyport@keyport.test>"})
	if err != nil {
		t.Fatal(err)
	}
	s.Managed.SetApprovalMail(mailer.NewOutbox(s.DB, s.Seal, ml, "keyport.test"), notice.Renderer{BaseURL: s.URL})
}

// addMemberNow makes id a member of tenant with role, invited by nobody.
func (s *stack) addMemberNow(t *testing.T, tenant string, id devidp.Identity, role models.Role) string {
	t.Helper()
	ctx := context.Background()
	u, _, err := s.DB.UpsertOIDCUser(ctx, s.IdP.Issuer(), devidp.Subject(id.Email), id.Email, id.Name)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DB.AddMember(ctx, tenant, u.ID, role, "", models.AuditInput{Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// TestImportKeyReachable: issue 14 item 5. The import-your-own-key page
// is linked from the Keys page and the Key stores page for those who can
// import; an auditor sees no link.
func TestImportKeyReachable(t *testing.T) {
	s := lifecycleStack(t)
	b := newBrowser(t)
	s.signIn(t, b, erin)
	link := `href="/import-requests"`
	for _, p := range []string{"/keys", "/stores"} {
		if _, page := b.get(t, s.URL+p); !strings.Contains(page, `data-testid="import-key-link"`) || !strings.Contains(page, link) ||
			!strings.Contains(page, "create one first") {
			t.Errorf("%s without a store: no import link saying a store comes first", p)
		}
	}
	s.newStoreAndKey(t, b, "payments")
	for _, p := range []string{"/keys", "/stores"} {
		_, page := b.get(t, s.URL+p)
		if !strings.Contains(page, link) || strings.Contains(page, "create one first") {
			t.Errorf("%s: no import link", p)
		}
	}
	// The link leads to the page that makes import requests.
	if res, page := b.get(t, s.URL+"/import-requests"); res.StatusCode != http.StatusOK || !strings.Contains(page, `data-testid="import-request-form"`) {
		t.Fatalf("import page: %d", res.StatusCode)
	}
	s.addMemberNow(t, s.tenantOf(t, erin), aud, models.RoleAuditor)
	ab := newBrowser(t)
	s.signIn(t, ab, aud)
	for _, p := range []string{"/keys", "/stores"} {
		if _, page := ab.get(t, s.URL+p); strings.Contains(page, `data-testid="import-key-link"`) {
			t.Errorf("%s offers an auditor the import link", p)
		}
	}
}

// TestApprovalNeedsApproverAndMailsThem: issue 14 item 5. Asking for an
// approval when nobody could decide it is refused with a message saying
// who could and what to do; once an admin can, the request is made and
// that admin (not only the owners) gets the email through the mail
// catcher, and can approve.
func TestApprovalNeedsApproverAndMailsThem(t *testing.T) {
	s := lifecycleStack(t)
	stackApprovalMail(t, s)
	ctx := context.Background()
	b := newBrowser(t)
	s.signIn(t, b, erin)
	tenant := s.tenantOf(t, erin)
	_, keyID := s.newStoreAndKey(t, b, "guarded")
	if err := s.Managed.SetApprovalSettings(ctx, keysvc.RequestBy{UserID: "operator"},
		managed.ApprovalSettings{Export: true, ApproverMinAge: managed.DefaultApproverMinAge}); err != nil {
		t.Fatal(err)
	}
	ask := func() (*http.Response, string) {
		r, page := b.get(t, s.URL+"/keys/"+keyID)
		if !strings.Contains(page, "csrf_token") {
			t.Fatalf("key page %d %s:\n%s", r.StatusCode, r.Request.URL, page)
		}
		return b.post(t, s.URL+"/keys/"+keyID+"/approvals", url.Values{"csrf_token": {csrfToken(t, page)}, "action": {"export"}}, nil)
	}
	res, page := ask()
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "Nobody can approve this request") ||
		!strings.Contains(page, "Invite another admin first") {
		t.Fatalf("alone: %d\n%s", res.StatusCode, page)
	}
	s.addMemberNow(t, tenant, dora, models.RoleAdmin)
	res, page = ask()
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "dora@deadends.test (admin): joined less than 24 hours ago") {
		t.Fatalf("with a new admin: %d\n%s", res.StatusCode, page)
	}
	if as, _ := s.DB.OpenApprovals(ctx, tenant); len(as) != 0 {
		t.Fatalf("refused requests were recorded: %d", len(as))
	}

	s.Clock.Advance(managed.DefaultApproverMinAge + time.Minute)
	s.signIn(t, b, erin) // a day later: a new session
	if res, _ := ask(); res.StatusCode != http.StatusOK || res.Request.URL.Query().Get("done") != "requested" {
		t.Fatalf("request with a possible approver: %d %s", res.StatusCode, res.Request.URL)
	}
	if _, err := s.Jobs.RunDue(ctx); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	m, err := s.Mail.WaitFor(wctx, func(m mailcatcher.Message) bool {
		return len(m.To) == 1 && m.To[0] == dora.Email && strings.HasPrefix(m.Subject, "Approval requested")
	})
	if err != nil {
		t.Fatalf("the possible approver was not emailed: %v", err)
	}
	if !strings.Contains(m.Text, "/keys/"+keyID) || !strings.Contains(m.Text, erin.Email) {
		t.Errorf("approval email does not name the requester and link the key:\n%s", m.Text)
	}

	// The approver decides on the key page.
	db := newBrowser(t)
	s.signIn(t, db, dora)
	_, kp := db.get(t, s.URL+"/keys/"+keyID)
	as, _ := s.DB.OpenApprovals(ctx, tenant)
	if len(as) != 1 || !strings.Contains(kp, `data-testid="approve"`) {
		t.Fatalf("approver's key page: %d open approvals", len(as))
	}
	res, _ = db.post(t, s.URL+"/keys/"+keyID+"/approvals/"+as[0].ID+"/decide", url.Values{"csrf_token": {csrfToken(t, kp)}, "decision": {"approve"}}, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("approve: %d", res.StatusCode)
	}
	if a, _ := s.DB.TenantApproval(ctx, tenant, as[0].ID); a.State != models.ApprovalApproved {
		t.Fatalf("approval state %s", a.State)
	}
}
