package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"keyport/handlers"
	"keyport/models"
	"keyport/web/devidp"
	"keyport/web/mailcatcher"
)

var (
	bob = devidp.Identity{Email: "bob@partner.test", Name: "Bob Auditor", EmailVerified: true}
	eve = devidp.Identity{Email: "eve@elsewhere.test", Name: "Eve", EmailVerified: true}
)

var linkRE = regexp.MustCompile(`https?://[^\s"<>]+/invite\?token=[A-Za-z0-9_-]+`)

// invite posts the invitation form as the owner in b and returns the
// response.
func (s *stack) invite(t *testing.T, b *browser, email, role string) (*http.Response, string) {
	t.Helper()
	_, page := b.get(t, s.URL+"/members")
	return b.post(t, s.URL+"/members/invite", url.Values{"csrf_token": {csrfToken(t, page)}, "email": {email}, "role": {role}}, nil)
}

// inviteLink waits for the newest invitation email to email and returns the
// link in it (checking that text and HTML carry the same one).
func (s *stack) inviteLink(t *testing.T, email string, after int) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := s.Mail.WaitFor(ctx, func(m mailcatcher.Message) bool {
		if len(m.To) != 1 || m.To[0] != email {
			return false
		}
		msgs := s.Mail.Messages() // newest first: the first len-after are new
		for i := 0; i < len(msgs)-after; i++ {
			if msgs[i].ID == m.ID {
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Fatalf("no invitation email to %s: %v", email, err)
	}
	text, html := linkRE.FindString(m.Text), linkRE.FindString(strings.ReplaceAll(m.HTML, "&amp;", "&"))
	if text == "" || text != html {
		t.Fatalf("invitation links: text %q, html %q", text, html)
	}
	return text
}

// signInWithLink opens an invitation link in b, signs in as id and returns
// the page the flow ends on.
func (s *stack) signInWithLink(t *testing.T, b *browser, link string, id devidp.Identity) (*http.Response, string) {
	t.Helper()
	res, body := b.get(t, link)
	if res.Request.URL.Path != "/invite" || res.Request.URL.RawQuery != "" || !strings.Contains(body, `data-testid="invitation-signin"`) {
		t.Fatalf("invitation link landed on %s (%d)", res.Request.URL, res.StatusCode)
	}
	s.IdP.Queue(id)
	return b.get(t, s.URL+"/auth/login?return_to=%2Finvite")
}

// accept posts the accept form of an invitation page.
func (s *stack) accept(t *testing.T, b *browser, page string) (*http.Response, string) {
	t.Helper()
	return b.post(t, s.URL+"/invite/accept", url.Values{"csrf_token": {csrfToken(t, page)}}, nil)
}

// join runs the whole invitation of id as role by the owner in ob and
// returns the invitee's browser, signed in and in the tenant.
func (s *stack) join(t *testing.T, ob *browser, id devidp.Identity, role string) *browser {
	t.Helper()
	n := len(s.Mail.Messages())
	if res, _ := s.invite(t, ob, id.Email, role); res.Request.URL.String() != s.URL+"/members?done=invited" {
		t.Fatalf("invite %s ended at %s", id.Email, res.Request.URL)
	}
	b := newBrowser(t)
	_, page := s.signInWithLink(t, b, s.inviteLink(t, id.Email, n), id)
	res, body := s.accept(t, b, page)
	if res.Request.URL.Path != "/dashboard" || !strings.Contains(body, "signed in as <strong>"+role) {
		t.Fatalf("accept ended at %s (%d)", res.Request.URL, res.StatusCode)
	}
	return b
}

func TestInvitationFlow(t *testing.T) {
	s := newStack(t, nil)
	ob := newBrowser(t)
	s.signIn(t, ob, alice)
	tenantID := s.tenantOf(t, alice)

	res, body := s.invite(t, ob, "Bob@Partner.test", "auditor")
	if res.Request.URL.String() != s.URL+"/members?done=invited" || !strings.Contains(body, "Invitation sent.") {
		t.Fatalf("invite ended at %s", res.Request.URL)
	}
	if !strings.Contains(body, `data-email="bob@partner.test"`) {
		t.Error("open invitation not listed")
	}
	m, _ := s.Mail.WaitFor(context.Background(), func(mailcatcher.Message) bool { return true })
	for _, want := range []string{"Alice Admin", "example.com", "auditor", "changes nothing", "expires on"} {
		if !strings.Contains(m.Text, want) || !strings.Contains(m.HTML, want) {
			t.Errorf("invitation email lacks %q:\n%s", want, m.Text)
		}
	}
	if m.Subject != "Alice Admin invited you to example.com on keyport" {
		t.Errorf("subject = %q", m.Subject)
	}
	link := s.inviteLink(t, "bob@partner.test", 0)
	token := link[strings.Index(link, "token=")+6:]
	if len(token) < 22 { // 128 bits in base64url
		t.Fatalf("token %q is too short", token)
	}

	// The link's first answer moves the token into an HttpOnly cookie and
	// redirects to an address without it.
	b := newBrowser(t)
	first, err := b.noFollow().Get(link)
	if err != nil {
		t.Fatal(err)
	}
	first.Body.Close()
	set := first.Header.Get("Set-Cookie")
	if first.StatusCode != http.StatusSeeOther || first.Header.Get("Location") != "/invite" ||
		!strings.Contains(set, "keyport_invite=") || !strings.Contains(set, "HttpOnly") || first.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("link answered %d, Location %q, Set-Cookie %q", first.StatusCode, first.Header.Get("Location"), set)
	}

	// Bob signs in from the invitation: no tenant of his own is created,
	// and he comes back to the invitation to accept it.
	res, page := s.signInWithLink(t, b, link, bob)
	if res.Request.URL.Path != "/invite" || !strings.Contains(page, `data-testid="invitation-accept"`) {
		t.Fatalf("after sign-in: %s (%d)", res.Request.URL, res.StatusCode)
	}
	res, body = s.accept(t, b, page)
	if res.Request.URL.Path != "/dashboard" || !strings.Contains(body, "signed in as <strong>auditor") || !strings.Contains(body, "example.com") {
		t.Fatalf("after accept: %s (%d)", res.Request.URL, res.StatusCode)
	}
	if s.cookie(b, "keyport_invite") != nil {
		t.Error("invitation cookie kept after accepting")
	}
	if tenants := s.tenantsOf(t, bob); len(tenants) != 1 || tenants[0] != tenantID {
		t.Errorf("bob's tenants = %v, want only alice's %s", tenants, tenantID)
	}
	got := strings.Join(s.auditActions(t, tenantID), "\n")
	for _, want := range []string{"member.invited:", "member.joined:"} {
		if !strings.Contains(got, want) {
			t.Errorf("audit lacks %s:\n%s", want, got)
		}
	}
	if strings.Contains(s.Logs.String(), token) || strings.Contains(got, token) {
		t.Error("the invitation token reached the log or the audit trail")
	}

	// Reuse: the link works once, in any browser.
	again := newBrowser(t)
	s.signIn(t, again, bob)
	res, body = again.get(t, link)
	if res.StatusCode != http.StatusGone || !strings.Contains(body, "no longer valid") {
		t.Errorf("reused link: %d", res.StatusCode)
	}
	if s.cookie(again, "keyport_invite") != nil {
		t.Error("a dead invitation stays in the browser")
	}
}

func TestInvitationEmailMismatch(t *testing.T) {
	s := newStack(t, nil)
	ob := newBrowser(t)
	s.signIn(t, ob, alice)
	tenantID := s.tenantOf(t, alice)
	s.invite(t, ob, bob.Email, "admin")
	link := s.inviteLink(t, bob.Email, 0)

	eb := newBrowser(t)
	res, body := s.signInWithLink(t, eb, link, eve)
	if res.StatusCode != http.StatusForbidden || !strings.Contains(body, "This invitation is for someone else") || strings.Contains(body, bob.Email) {
		t.Fatalf("eve with bob's link: %d at %s", res.StatusCode, res.Request.URL)
	}
	// Posting the accept form anyway is refused too, and audited.
	res, _ = eb.post(t, s.URL+"/invite/accept", url.Values{"csrf_token": {csrfToken(t, body)}}, nil)
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("eve accept: %d", res.StatusCode)
	}
	if tenants := s.tenantsOf(t, eve); len(tenants) != 0 {
		t.Errorf("eve is in %v", tenants)
	}
	if got := strings.Join(s.auditActions(t, tenantID), "\n"); !strings.Contains(got, `member.invite_refused:{"email":"eve@elsewhere.test","reason":"email_mismatch"}`) {
		t.Errorf("refusal not audited:\n%s", got)
	}
	// The refusal did not use the link up: bob can still accept it.
	bb := newBrowser(t)
	_, page := s.signInWithLink(t, bb, link, bob)
	if res, _ := s.accept(t, bb, page); res.Request.URL.Path != "/dashboard" {
		t.Errorf("bob after eve's attempt: %s", res.Request.URL)
	}
}

func TestInvitationUnverifiedEmailRefused(t *testing.T) {
	s := newStack(t, nil)
	ob := newBrowser(t)
	s.signIn(t, ob, alice)
	s.invite(t, ob, bob.Email, "auditor")
	b := newBrowser(t)
	unverified := bob
	unverified.EmailVerified = false
	res, body := s.signInWithLink(t, b, s.inviteLink(t, bob.Email, 0), unverified)
	if res.StatusCode != http.StatusForbidden || !strings.Contains(body, "Verified email required") {
		t.Errorf("unverified sign-in with an invitation: %d", res.StatusCode)
	}
}

func TestInvitationExpires(t *testing.T) {
	s := newStack(t, nil)
	ob := newBrowser(t)
	s.signIn(t, ob, alice)
	s.invite(t, ob, bob.Email, "auditor")
	link := s.inviteLink(t, bob.Email, 0)
	s.Clock.Advance(7*24*time.Hour + time.Second)
	res, body := newBrowser(t).get(t, link)
	if res.StatusCode != http.StatusGone || !strings.Contains(body, "Invitation expired") {
		t.Errorf("expired link: %d", res.StatusCode)
	}
	// The owner (signing in again after a week) sees it as expired and can
	// resend it.
	s.signIn(t, ob, alice)
	_, page := ob.get(t, s.URL+"/members")
	if !strings.Contains(page, "<strong>expired</strong>") || !strings.Contains(page, `data-testid="resend-invitation"`) {
		t.Error("expired invitation not offered for resend")
	}
}

func TestReinviteRevokesOldLink(t *testing.T) {
	s := newStack(t, nil)
	ob := newBrowser(t)
	s.signIn(t, ob, alice)
	s.invite(t, ob, bob.Email, "auditor")
	old := s.inviteLink(t, bob.Email, 0)
	s.invite(t, ob, bob.Email, "admin")
	fresh := s.inviteLink(t, bob.Email, 1)
	if old == fresh {
		t.Fatal("re-invite sent the same link")
	}
	if res, _ := newBrowser(t).get(t, old); res.StatusCode != http.StatusGone {
		t.Errorf("old link after re-invite: %d", res.StatusCode)
	}
	// Resend replaces the link again; revoke ends the last one.
	_, page := ob.get(t, s.URL+"/members")
	id := regexp.MustCompile(`/members/invitations/(inv_[a-z0-9]+)/resend`).FindStringSubmatch(page)
	if len(id) != 2 || strings.Count(page, `data-testid="invitation-row"`) != 1 {
		t.Fatalf("open invitations on the page: %d", strings.Count(page, `data-testid="invitation-row"`))
	}
	res, _ := ob.post(t, s.URL+"/members/invitations/"+id[1]+"/resend", url.Values{"csrf_token": {csrfToken(t, page)}}, nil)
	if res.Request.URL.RawQuery != "done=resent" {
		t.Fatalf("resend ended at %s", res.Request.URL)
	}
	resent := s.inviteLink(t, bob.Email, 2)
	if res, _ := newBrowser(t).get(t, fresh); res.StatusCode != http.StatusGone {
		t.Errorf("link after resend: %d", res.StatusCode)
	}
	_, page = ob.get(t, s.URL+"/members")
	id = regexp.MustCompile(`/members/invitations/(inv_[a-z0-9]+)/revoke`).FindStringSubmatch(page)
	res, _ = ob.post(t, s.URL+"/members/invitations/"+id[1]+"/revoke", url.Values{"csrf_token": {csrfToken(t, page)}}, nil)
	if res.Request.URL.RawQuery != "done=revoked" {
		t.Fatalf("revoke ended at %s", res.Request.URL)
	}
	if res, _ := newBrowser(t).get(t, resent); res.StatusCode != http.StatusGone {
		t.Errorf("link after revoke: %d", res.StatusCode)
	}
	got := strings.Join(s.auditActions(t, s.tenantOf(t, alice)), "\n")
	for _, want := range []string{"member.invited:", "member.invite_resent:", "member.invite_revoked:"} {
		if !strings.Contains(got, want) {
			t.Errorf("audit lacks %s", want)
		}
	}
}

func TestInviteValidationAndRateLimit(t *testing.T) {
	s := newStack(t, func(c *handlers.Config) { c.InviteRateLimit, c.InviteRateWindow = 2, 10*time.Minute })
	ob := newBrowser(t)
	s.signIn(t, ob, alice)

	res, body := s.invite(t, ob, "not-an-address", "auditor")
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `data-testid="email-error"`) || !strings.Contains(body, `value="not-an-address"`) {
		t.Errorf("bad email: %d", res.StatusCode)
	}
	res, body = s.invite(t, ob, bob.Email, "root")
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `data-testid="role-error"`) {
		t.Errorf("bad role: %d", res.StatusCode)
	}
	res, body = s.invite(t, ob, "ALICE@example.com", "admin")
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "already a member") {
		t.Errorf("member invited again: %d", res.StatusCode)
	}
	for _, e := range []string{"a@x.test", "b@x.test"} {
		if res, _ := s.invite(t, ob, e, "auditor"); res.StatusCode != http.StatusOK {
			t.Fatalf("invite %s: %d", e, res.StatusCode)
		}
	}
	res, body = s.invite(t, ob, "c@x.test", "auditor")
	if res.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "too many invitations") {
		t.Errorf("third invitation within the hour: %d", res.StatusCode)
	}
	s.Clock.Advance(10 * time.Minute)
	if res, _ := s.invite(t, ob, "c@x.test", "auditor"); res.StatusCode != http.StatusOK {
		t.Errorf("after the window: %d", res.StatusCode)
	}
}

func TestInvitationMailFailureOffersResend(t *testing.T) {
	s := newStack(t, nil)
	ob := newBrowser(t)
	s.signIn(t, ob, alice)
	s.Mail.Close()
	res, body := s.invite(t, ob, bob.Email, "auditor")
	if res.Request.URL.RawQuery != "done=mail_failed" || !strings.Contains(body, `data-testid="members-notice"`) ||
		!strings.Contains(body, "email could not be sent") || !strings.Contains(body, `data-testid="resend-invitation"`) {
		t.Errorf("mail failure: %s\n%s", res.Request.URL, body)
	}
	if !strings.Contains(s.Logs.String(), "invitation email not sent") {
		t.Error("mail failure not logged")
	}
}

func TestInviteOnlySignupAcceptsInvitation(t *testing.T) {
	s := newStack(t, func(c *handlers.Config) { c.InviteOnly = true })
	// The first owner exists already (invite-only refuses everyone else).
	ctx := context.Background()
	u, _, err := s.DB.UpsertOIDCUser(ctx, s.IdP.Issuer(), devidp.Subject(alice.Email), alice.Email, alice.Name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB.CreateTenantWithOwner(ctx, "Acme", u.ID, models.AuditInput{Actor: u.ID}); err != nil {
		t.Fatal(err)
	}
	ob := newBrowser(t)
	s.signIn(t, ob, alice)

	// Without an invitation eve is refused at sign-in.
	if res, _ := s.signIn(t, newBrowser(t), eve); res.StatusCode != http.StatusForbidden {
		t.Errorf("eve without invitation: %d", res.StatusCode)
	}
	b := s.join(t, ob, bob, "admin")
	if res, _ := b.get(t, s.URL+"/members"); res.StatusCode != http.StatusOK {
		t.Errorf("bob after joining: %d", res.StatusCode)
	}
}
