package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"keyport/web/devidp"
)

// userID returns the id of the user id signs in as (recording a sign-in,
// with the same name and email, as the store offers no other lookup).
func (s *stack) userID(t *testing.T, id devidp.Identity) string {
	t.Helper()
	u, _, err := s.DB.UpsertOIDCUser(context.Background(), s.IdP.Issuer(), devidp.Subject(id.Email), id.Email, id.Name)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// tenantsOf lists the ids of the tenants id belongs to.
func (s *stack) tenantsOf(t *testing.T, id devidp.Identity) []string {
	t.Helper()
	ts, err := s.DB.TenantsForUser(context.Background(), s.userID(t, id))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, tm := range ts {
		out = append(out, tm.Tenant.ID)
	}
	return out
}

// tenantOf returns the one tenant id belongs to.
func (s *stack) tenantOf(t *testing.T, id devidp.Identity) string {
	t.Helper()
	ts := s.tenantsOf(t, id)
	if len(ts) != 1 {
		t.Fatalf("%s is in %d tenants", id.Email, len(ts))
	}
	return ts[0]
}

// memberPost posts a members-page form as b.
func (s *stack) memberPost(t *testing.T, b *browser, path string, form url.Values) (*http.Response, string) {
	t.Helper()
	_, page := b.get(t, s.URL+"/members")
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf_token", csrfToken(t, page))
	return b.post(t, s.URL+path, form, nil)
}

func TestMembersPage(t *testing.T) {
	s := newStack(t, nil)
	ob := newBrowser(t)
	s.signIn(t, ob, alice)
	bb := s.join(t, ob, bob, "auditor")

	_, page := ob.get(t, s.URL+"/members")
	for _, want := range []string{`data-email="alice@example.com"`, `data-email="bob@partner.test"`, "Alice Admin", "Bob Auditor",
		`data-testid="invite"`, `data-testid="remove-member"`, `data-testid="change-role"`, `aria-current="page">Members`} {
		if !strings.Contains(page, want) {
			t.Errorf("owner's members page lacks %s", want)
		}
	}
	// Bob's row names Alice as the inviter; both rows show a last sign-in.
	row := page[strings.Index(page, `data-email="bob@partner.test"`):]
	row = row[:strings.Index(row, "</tr>")]
	if !strings.Contains(row, "<td>Alice Admin</td>") || !strings.Contains(row, "<time") {
		t.Errorf("bob's row: %s", row)
	}

	// The auditor reads the same list but gets no forms to change it.
	res, page := bb.get(t, s.URL+"/members")
	if res.StatusCode != http.StatusOK || !strings.Contains(page, `data-email="alice@example.com"`) {
		t.Fatalf("auditor members page: %d", res.StatusCode)
	}
	for _, absent := range []string{`data-testid="invite"`, `data-testid="remove-member"`, `data-testid="change-role"`, `data-testid="resend-invitation"`} {
		if strings.Contains(page, absent) {
			t.Errorf("auditor sees %s", absent)
		}
	}
	res, _ = s.memberPost(t, bb, "/members/invite", url.Values{"email": {"x@y.test"}, "role": {"owner"}})
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("auditor invites: %d", res.StatusCode)
	}
	res, _ = s.memberPost(t, bb, "/members/"+s.userID(t, alice)+"/role", url.Values{"role": {"auditor"}})
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("auditor changes a role: %d", res.StatusCode)
	}
}

func TestRemoveMemberEndsSessions(t *testing.T) {
	s := newStack(t, nil)
	ob := newBrowser(t)
	s.signIn(t, ob, alice)
	bb := s.join(t, ob, bob, "admin")
	tenantID := s.tenantOf(t, alice)

	res, body := s.memberPost(t, ob, "/members/"+s.userID(t, bob)+"/remove", nil)
	if res.Request.URL.RawQuery != "done=removed" || strings.Contains(body, `data-email="bob@partner.test"`) {
		t.Fatalf("remove ended at %s", res.Request.URL)
	}
	// Bob's very next request finds no session.
	res, _ = bb.get(t, s.URL+"/dashboard")
	if res.Request.URL.Path != "/" {
		t.Errorf("removed member still reaches %s", res.Request.URL)
	}
	got := strings.Join(s.auditActions(t, tenantID), "\n")
	if !strings.Contains(got, `member.removed:{"role":"admin","sessions_ended":"true"}`) {
		t.Errorf("removal not audited:\n%s", got)
	}
}

func TestDemotionEndsSessionsPromotionDoesNot(t *testing.T) {
	s := newStack(t, nil)
	ob := newBrowser(t)
	s.signIn(t, ob, alice)
	bb := s.join(t, ob, bob, "auditor")
	bobID := s.userID(t, bob)

	res, _ := s.memberPost(t, ob, "/members/"+bobID+"/role", url.Values{"role": {"admin"}})
	if res.Request.URL.RawQuery != "done=role_changed" {
		t.Fatalf("promote ended at %s", res.Request.URL)
	}
	if res, body := bb.get(t, s.URL+"/dashboard"); res.StatusCode != http.StatusOK || !strings.Contains(body, "signed in as <strong>admin") {
		t.Errorf("bob after promotion: %d at %s", res.StatusCode, res.Request.URL)
	}
	res, _ = s.memberPost(t, ob, "/members/"+bobID+"/role", url.Values{"role": {"auditor"}})
	if res.Request.URL.RawQuery != "done=role_signed_out" {
		t.Fatalf("demote ended at %s", res.Request.URL)
	}
	if res, _ := bb.get(t, s.URL+"/dashboard"); res.Request.URL.Path != "/" {
		t.Errorf("demoted member's session survived: %s", res.Request.URL)
	}
	got := strings.Join(s.auditActions(t, s.tenantOf(t, alice)), "\n")
	if !strings.Contains(got, `member.role_changed:{"from":"auditor","sessions_ended":"false","to":"admin"}`) ||
		!strings.Contains(got, `member.role_changed:{"from":"admin","sessions_ended":"true","to":"auditor"}`) {
		t.Errorf("role changes not audited:\n%s", got)
	}
	res, _ = s.memberPost(t, ob, "/members/"+bobID+"/role", url.Values{"role": {"root"}})
	if res.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("invalid role: %d", res.StatusCode)
	}
}

func TestLastOwnerProtected(t *testing.T) {
	s := newStack(t, nil)
	ob := newBrowser(t)
	s.signIn(t, ob, alice)
	aliceID := s.userID(t, alice)
	for path, form := range map[string]url.Values{
		"/members/" + aliceID + "/role":   {"role": {"admin"}},
		"/members/" + aliceID + "/remove": nil,
		"/members/leave":                  nil,
	} {
		res, body := s.memberPost(t, ob, path, form)
		if res.StatusCode != http.StatusConflict || !strings.Contains(body, "owner") {
			t.Errorf("%s as the last owner: %d", path, res.StatusCode)
		}
	}
	// With a second owner, the first may step down (and is signed out).
	bb := s.join(t, ob, bob, "owner")
	res, _ := s.memberPost(t, ob, "/members/"+aliceID+"/role", url.Values{"role": {"auditor"}})
	if res.Request.URL.Path != "/" {
		t.Errorf("self-demotion ended at %s", res.Request.URL)
	}
	// Bob, now the only owner, cannot leave; Alice (auditor) can.
	if res, _ := s.memberPost(t, bb, "/members/leave", nil); res.StatusCode != http.StatusConflict {
		t.Errorf("last owner leaves: %d", res.StatusCode)
	}
	ab := newBrowser(t)
	s.signIn(t, ab, alice)
	res, _ = s.memberPost(t, ab, "/members/leave", nil)
	if len(s.tenantsOf(t, alice)) != 0 {
		t.Errorf("alice still a member after leaving (%d at %s)", res.StatusCode, res.Request.URL)
	}
	if got := strings.Join(s.auditActions(t, s.tenantOf(t, bob)), "\n"); !strings.Contains(got, "member.left:") {
		t.Errorf("leaving not audited:\n%s", got)
	}
}
