package web_test

import (
	"context"
	"crypto/sha256"
	"net/http"
	"strings"
	"testing"
	"time"

	"keyport/models"
	"keyport/web/devidp"
)

// member adds a user with email to tenant with role and returns its id.
func (w *manageWorld) member(t *testing.T, tenant, email string, role models.Role) string {
	t.Helper()
	ctx := context.Background()
	u, _, err := w.s.DB.UpsertOIDCUser(ctx, w.s.IdP.Issuer(), devidp.Subject(email), email, strings.Split(email, "@")[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := w.s.DB.AddMember(ctx, tenant, u.ID, role, "", models.AuditInput{Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// role is a member's role in tenant ("" when not a member).
func (w *manageWorld) role(t *testing.T, tenant, user string) models.Role {
	t.Helper()
	m, err := w.s.DB.GetMembership(context.Background(), tenant, user)
	if err != nil {
		return ""
	}
	return m.Role
}

func TestManageAPIMembers(t *testing.T) {
	w := newManageWorld(t)
	aud := w.member(t, w.tenantA, "aud@alpha.test", models.RoleAuditor)
	adm := w.member(t, w.tenantA, "adm@alpha.test", models.RoleAdmin)
	other := w.member(t, w.tenantB, "member@beta.test", models.RoleAuditor)

	// Every key reads the members; nothing of another tenant shows.
	list := w.call(t, http.MethodGet, "/members", w.auditorA, nil).want(t, http.StatusOK, "")
	if n := len(list.items()); n != 3 || strings.Contains(string(list.Raw), "beta.test") {
		t.Fatalf("members of A: %s", list.Raw)
	}

	// An admin key moves members between admin and auditor.
	got := w.call(t, http.MethodPatch, "/members/"+aud, w.adminA, map[string]any{"role": "admin"}).want(t, http.StatusOK, "")
	if got.str("role") != "admin" || w.role(t, w.tenantA, aud) != models.RoleAdmin {
		t.Fatalf("promote: %s", got.Raw)
	}
	w.call(t, http.MethodPatch, "/members/"+aud, w.adminA, map[string]any{"role": "auditor"}).want(t, http.StatusOK, "")

	// Owners are out of reach, and nobody is made one.
	w.call(t, http.MethodPatch, "/members/"+adm, w.adminA, map[string]any{"role": "owner"}).want(t, http.StatusForbidden, "owner_out_of_reach")
	w.call(t, http.MethodPatch, "/members/"+w.ownerA, w.adminA, map[string]any{"role": "auditor"}).want(t, http.StatusForbidden, "owner_out_of_reach")
	w.call(t, http.MethodDelete, "/members/"+w.ownerA, w.adminA, nil).want(t, http.StatusForbidden, "owner_out_of_reach")
	if w.role(t, w.tenantA, adm) != models.RoleAdmin || w.role(t, w.tenantA, w.ownerA) != models.RoleOwner {
		t.Fatal("a refused change changed a role")
	}

	// Bad input.
	w.call(t, http.MethodPatch, "/members/"+adm, w.adminA, map[string]any{"role": "god"}).want(t, http.StatusBadRequest, "invalid_request")
	w.call(t, http.MethodPatch, "/members/"+adm, w.adminA, map[string]any{"role": "admin", "x": 1}).want(t, http.StatusBadRequest, "invalid_json")

	// An auditor key reads only.
	w.call(t, http.MethodPatch, "/members/"+adm, w.auditorA, map[string]any{"role": "auditor"}).want(t, http.StatusForbidden, "forbidden")
	w.call(t, http.MethodDelete, "/members/"+adm, w.auditorA, nil).want(t, http.StatusForbidden, "forbidden")

	// Another tenant's member is not found, for reads and writes alike,
	// and stays as it was.
	missing := w.call(t, http.MethodPatch, "/members/usr_nosuch", w.adminA, map[string]any{"role": "admin"}).want(t, http.StatusNotFound, "not_found")
	cross := w.call(t, http.MethodPatch, "/members/"+other, w.adminA, map[string]any{"role": "admin"}).want(t, http.StatusNotFound, "not_found")
	if string(cross.Raw) != string(missing.Raw) {
		t.Fatalf("another tenant's member %s, a missing one %s", cross.Raw, missing.Raw)
	}
	w.call(t, http.MethodDelete, "/members/"+other, w.adminA, nil).want(t, http.StatusNotFound, "not_found")
	w.call(t, http.MethodDelete, "/members/"+adm, w.adminB, nil).want(t, http.StatusNotFound, "not_found")
	w.call(t, http.MethodPatch, "/members/"+adm, w.adminB, map[string]any{"role": "auditor"}).want(t, http.StatusNotFound, "not_found")
	if w.role(t, w.tenantB, other) != models.RoleAuditor || w.role(t, w.tenantA, adm) != models.RoleAdmin {
		t.Fatal("a cross-tenant request changed a role")
	}

	// Removing.
	w.call(t, http.MethodDelete, "/members/"+adm, w.adminA, nil).want(t, http.StatusNoContent, "")
	if w.role(t, w.tenantA, adm) != "" {
		t.Fatal("the member is still there")
	}
	w.call(t, http.MethodDelete, "/members/"+adm, w.adminA, nil).want(t, http.StatusNotFound, "not_found")

	evs := w.auditEvents(t, w.tenantA)
	for _, a := range []string{"member.role_changed", "member.removed"} {
		e, ok := evs[a]
		if !ok || e.ActorKind != models.ActorAPIKey {
			t.Errorf("%s: %+v (want an event by the API key)", a, e)
		}
	}
}

// keyID is the id of an API key ("kak_...").
func keyID(k string) string {
	p := strings.SplitN(strings.TrimPrefix(k, "kpa_"), "_", 3)
	return p[0] + "_" + p[1]
}

// keyEvents is the newest event of each action the API key k wrote in
// tenant.
func (w *manageWorld) keyEvents(t *testing.T, tenant, k string) map[string]models.AuditEvent {
	t.Helper()
	p, err := w.s.DB.QueryAudit(context.Background(), models.TenantScope(tenant), models.AuditFilter{Actor: keyID(k), Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]models.AuditEvent{}
	for _, e := range p.Events {
		if _, ok := out[e.Action]; !ok {
			out[e.Action] = e
		}
	}
	return out
}

// auditEvents is the newest event of each action of tenant.
func (w *manageWorld) auditEvents(t *testing.T, tenant string) map[string]models.AuditEvent {
	t.Helper()
	p, err := w.s.DB.QueryAudit(context.Background(), models.TenantScope(tenant), models.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]models.AuditEvent{}
	for _, e := range p.Events {
		if _, ok := out[e.Action]; !ok {
			out[e.Action] = e
		}
	}
	return out
}

func TestManageAPIInvitations(t *testing.T) {
	w := newManageWorld(t)
	before := len(w.s.Mail.Messages())

	// Bad input, and an auditor key.
	w.call(t, http.MethodPost, "/invitations", w.adminA, map[string]any{"email": "not an email", "role": "admin"}).want(t, http.StatusBadRequest, "invalid_request")
	w.call(t, http.MethodPost, "/invitations", w.adminA, map[string]any{"email": "x@example.net", "role": "emperor"}).want(t, http.StatusBadRequest, "invalid_request")
	w.call(t, http.MethodPost, "/invitations", w.adminA, `{"email":`).want(t, http.StatusBadRequest, "invalid_json")
	w.call(t, http.MethodPost, "/invitations", w.auditorA, map[string]any{"email": "x@example.net", "role": "auditor"}).want(t, http.StatusForbidden, "forbidden")
	// Never an owner.
	w.call(t, http.MethodPost, "/invitations", w.adminA, map[string]any{"email": "boss@example.net", "role": "owner"}).want(t, http.StatusForbidden, "owner_out_of_reach")

	// The invitation gets the portal's email; a replay sends nothing twice.
	body := map[string]any{"email": "new@example.net", "role": "admin"}
	first := w.call(t, http.MethodPost, "/invitations", w.adminA, body, "Idempotency-Key: invite-1").want(t, http.StatusCreated, "")
	again := w.call(t, http.MethodPost, "/invitations", w.adminA, body, "Idempotency-Key: invite-1").want(t, http.StatusCreated, "")
	if string(first.Raw) != string(again.Raw) || first.Body["email_sent"] != true || first.str("role") != "admin" {
		t.Fatalf("invite %s, replay %s", first.Raw, again.Raw)
	}
	msgs := w.s.Mail.Messages()
	if len(msgs) != before+1 {
		t.Fatalf("%d emails after an invitation and its replay, want 1", len(msgs)-before)
	}
	m := msgs[len(msgs)-1]
	if m.To[0] != "new@example.net" || !strings.Contains(m.Subject, `API key "alpha admin"`) || !strings.Contains(m.Text, "/invite?token=") ||
		!strings.Contains(m.Text, "Alpha API") {
		t.Fatalf("invitation email: %q\n%s", m.Subject, m.Text)
	}
	if strings.Contains(string(first.Raw), "token") {
		t.Fatal("the answer shows the link's token")
	}
	invID := first.str("id")
	list := w.call(t, http.MethodGet, "/invitations", w.auditorA, nil).want(t, http.StatusOK, "")
	if len(list.items()) != 1 || list.items()[0]["id"] != invID {
		t.Fatalf("invitations: %s", list.Raw)
	}

	// Resending makes a new one with a new link.
	re := w.call(t, http.MethodPost, "/invitations/"+invID+"/resend", w.adminA, nil).want(t, http.StatusOK, "")
	if re.str("id") == invID || len(w.s.Mail.Messages()) != before+2 {
		t.Fatalf("resend: %s", re.Raw)
	}
	invID = re.str("id")

	// Tenant B sees nothing of it and cannot touch it.
	if l := w.call(t, http.MethodGet, "/invitations", w.adminB, nil).want(t, http.StatusOK, ""); len(l.items()) != 0 {
		t.Fatalf("tenant B sees %s", l.Raw)
	}
	missing := w.call(t, http.MethodPost, "/invitations/inv_nosuch/resend", w.adminB, nil).want(t, http.StatusNotFound, "not_found")
	cross := w.call(t, http.MethodPost, "/invitations/"+invID+"/resend", w.adminB, nil).want(t, http.StatusNotFound, "not_found")
	if string(missing.Raw) != string(cross.Raw) {
		t.Fatalf("cross %s, missing %s", cross.Raw, missing.Raw)
	}
	w.call(t, http.MethodDelete, "/invitations/"+invID, w.adminB, nil).want(t, http.StatusNotFound, "not_found")
	w.call(t, http.MethodDelete, "/invitations/"+invID, w.auditorA, nil).want(t, http.StatusForbidden, "forbidden")
	if l := w.call(t, http.MethodGet, "/invitations", w.adminA, nil).want(t, http.StatusOK, ""); len(l.items()) != 1 || len(w.s.Mail.Messages()) != before+2 {
		t.Fatalf("after refused requests: %s", l.Raw)
	}

	// An owner's invitation (made in the portal) is out of reach.
	h := sha256.Sum256([]byte("owner-invite-token"))
	ownerInv, err := w.s.DB.CreateInvitation(context.Background(), models.NewInvitation{TenantID: w.tenantA, Email: "co-owner@example.net",
		Role: models.RoleOwner, TokenHash: h[:], InvitedBy: w.ownerA, TTL: time.Hour}, models.AuditInput{Actor: w.ownerA})
	if err != nil {
		t.Fatal(err)
	}
	w.call(t, http.MethodPost, "/invitations/"+ownerInv.ID+"/resend", w.adminA, nil).want(t, http.StatusForbidden, "owner_out_of_reach")
	w.call(t, http.MethodDelete, "/invitations/"+ownerInv.ID, w.adminA, nil).want(t, http.StatusForbidden, "owner_out_of_reach")

	// Revoking.
	w.call(t, http.MethodDelete, "/invitations/"+invID, w.adminA, nil).want(t, http.StatusNoContent, "")
	w.call(t, http.MethodDelete, "/invitations/"+invID, w.adminA, nil).want(t, http.StatusNotFound, "not_found")
	if l := w.call(t, http.MethodGet, "/invitations", w.adminA, nil).want(t, http.StatusOK, ""); len(l.items()) != 1 || l.items()[0]["id"] != ownerInv.ID {
		t.Fatalf("after revoking: %s", l.Raw)
	}
	evs := w.keyEvents(t, w.tenantA, w.adminA)
	for _, a := range []string{"member.invited", "member.invite_resent", "member.invite_revoked"} {
		if e, ok := evs[a]; !ok || e.ActorKind != models.ActorAPIKey {
			t.Errorf("no %s by the API key", a)
		}
	}
}
