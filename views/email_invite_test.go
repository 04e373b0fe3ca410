package views

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

var inviteMail = InviteEmail{TenantName: "R&D <Labs>", InviterName: "Ann O'Hara", InviterEmail: "ann@example.com",
	Role: "auditor", Link: "https://keyport.example.com/invite?token=abc_DEF-123", ExpiresAt: time.Date(2026, 3, 8, 9, 30, 0, 0, time.UTC)}

// TestInviteEmailText pins the plain-text body: it is what most people read
// first and must not drift unnoticed.
func TestInviteEmailText(t *testing.T) {
	var buf bytes.Buffer
	if err := InviteEmailText(inviteMail).Render(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	want := `Ann O'Hara (ann@example.com) invited you to join the tenant R&D <Labs> on keyport as auditor.

Reads everything (keys, history, the audit log) and downloads reports, but changes nothing.

Accept the invitation:
https://keyport.example.com/invite?token=abc_DEF-123

The link works once and expires on 8 March 2026 at 09:30 UTC. To accept, sign in with this email address.

If you did not expect this invitation, ignore this email; nothing happens unless you accept.
`
	if buf.String() != want {
		t.Errorf("text body:\n%s\nwant:\n%s", buf.String(), want)
	}
	if got := InviteEmailSubject(inviteMail); got != "Ann O'Hara invited you to R&D <Labs> on keyport" {
		t.Errorf("subject = %q", got)
	}
}

func TestInviteEmailHTMLEscapes(t *testing.T) {
	doc, html := renderDoc(t, InviteEmailHTML(inviteMail))
	if strings.Contains(html, "<Labs>") || !strings.Contains(html, "R&amp;D &lt;Labs&gt;") {
		t.Error("tenant name not escaped in the HTML body")
	}
	if href, _ := doc.Find("a").Attr("href"); href != inviteMail.Link {
		t.Errorf("link = %q", href)
	}
	if !strings.Contains(doc.Text(), "8 March 2026 at 09:30 UTC") || !strings.Contains(doc.Text(), "changes nothing") {
		t.Error("HTML body lacks the expiry or the role's rights")
	}
}

func TestMembersPageForAuditorHasNoForms(t *testing.T) {
	m := Members{Members: []MemberRow{{UserID: "usr_1", Name: hostile, Email: "a@example.com", Role: "owner"}},
		Invitations: []InvitationRow{{ID: "inv_1", Email: "b@example.com", Role: "admin"}}}
	doc, html := renderDoc(t, MembersPage(signedIn(), m))
	if strings.Contains(html, hostile) {
		t.Fatal("a member name was written unescaped")
	}
	if n := doc.Find(`form[action^="/members/"]`).Length(); n != 1 { // only "leave"
		t.Errorf("read-only page has %d member forms", n)
	}
	m.CanManage = true
	doc, _ = renderDoc(t, MembersPage(signedIn(), m))
	for _, sel := range []string{`form[action="/members/usr_1/role"]`, `form[action="/members/usr_1/remove"]`,
		`form[action="/members/invitations/inv_1/resend"]`, `form[action="/members/invitations/inv_1/revoke"]`, `form[action="/members/invite"]`} {
		if doc.Find(sel+` input[name="csrf_token"][value="tok"]`).Length() != 1 {
			t.Errorf("owner page lacks %s with its CSRF token", sel)
		}
	}
}
