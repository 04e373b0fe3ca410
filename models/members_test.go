package models

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// memberSetup is a tenant with an owner and an auditor who has a session.
func memberSetup(t *testing.T) (*DB, *Tenant, *User, *User) {
	t.Helper()
	db, _ := openTestDB(t)
	owner := mustUser(t, db, "owner")
	aud := mustUser(t, db, "aud")
	tn := mustTenant(t, db, "Acme", owner)
	if err := db.AddMember(context.Background(), tn.ID, aud.ID, RoleAuditor, owner.ID, AuditInput{Actor: owner.ID}); err != nil {
		t.Fatal(err)
	}
	return db, tn, owner, aud
}

func TestListMembers(t *testing.T) {
	db, tn, owner, aud := memberSetup(t)
	ms, err := db.ListMembers(context.Background(), tn.ID)
	if err != nil || len(ms) != 2 {
		t.Fatalf("ListMembers = %+v, %v", ms, err)
	}
	if ms[0].UserID != owner.ID || ms[0].Role != RoleOwner || ms[0].InvitedBy != "" || ms[0].LastSignInAt == nil {
		t.Errorf("first = %+v, want the owner", ms[0])
	}
	if ms[1].UserID != aud.ID || ms[1].InvitedByEmail != owner.Email || ms[1].InvitedByName != owner.Name {
		t.Errorf("second = %+v, want the auditor invited by the owner", ms[1])
	}
	if err := db.AddMember(context.Background(), tn.ID, aud.ID, RoleAdmin, owner.ID, AuditInput{Actor: owner.ID}); !errors.Is(err, ErrConflict) {
		t.Errorf("adding a member twice: %v, want ErrConflict", err)
	}
}

func TestChangeMemberRole(t *testing.T) {
	db, tn, owner, aud := memberSetup(t)
	ctx := context.Background()
	s := newTestSession(t, db, aud, time.Hour)

	ch, err := db.ChangeMemberRole(ctx, tn.ID, aud.ID, RoleAdmin, AuditInput{Actor: owner.ID})
	if err != nil || ch.From != RoleAuditor || ch.To != RoleAdmin || ch.SessionsEnded {
		t.Fatalf("promote = %+v, %v", ch, err)
	}
	if _, err := db.GetSession(ctx, s.ID); err != nil {
		t.Errorf("a promotion ended the session: %v", err)
	}
	ch, err = db.ChangeMemberRole(ctx, tn.ID, aud.ID, RoleAuditor, AuditInput{Actor: owner.ID})
	if err != nil || !ch.SessionsEnded {
		t.Fatalf("demote = %+v, %v", ch, err)
	}
	if _, err := db.GetSession(ctx, s.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("session after demotion: %v, want ErrNotFound", err)
	}
	evs, _ := db.ListAudit(ctx, tn.ID, 10)
	if evs[0].Action != "member.role_changed" || !strings.Contains(evs[0].Details, `"from":"admin"`) || evs[0].TargetID != aud.ID {
		t.Errorf("audit = %+v", evs[0])
	}
	n := len(evs)
	if _, err := db.ChangeMemberRole(ctx, tn.ID, aud.ID, RoleAuditor, AuditInput{Actor: owner.ID}); err != nil {
		t.Fatal(err)
	}
	if evs, _ = db.ListAudit(ctx, tn.ID, 10); len(evs) != n {
		t.Error("an unchanged role wrote an audit event")
	}
	if _, err := db.ChangeMemberRole(ctx, tn.ID, aud.ID, Role("root"), AuditInput{Actor: owner.ID}); err == nil {
		t.Error("invalid role accepted")
	}
}

func TestLastOwnerProtected(t *testing.T) {
	db, tn, owner, aud := memberSetup(t)
	ctx := context.Background()
	if _, err := db.ChangeMemberRole(ctx, tn.ID, owner.ID, RoleAdmin, AuditInput{Actor: owner.ID}); !errors.Is(err, ErrLastOwner) {
		t.Errorf("demote last owner: %v, want ErrLastOwner", err)
	}
	if err := db.RemoveMember(ctx, tn.ID, owner.ID, false, AuditInput{Actor: owner.ID}); !errors.Is(err, ErrLastOwner) {
		t.Errorf("remove last owner: %v, want ErrLastOwner", err)
	}
	// With a second owner, either may go.
	if _, err := db.ChangeMemberRole(ctx, tn.ID, aud.ID, RoleOwner, AuditInput{Actor: owner.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ChangeMemberRole(ctx, tn.ID, owner.ID, RoleAuditor, AuditInput{Actor: owner.ID}); err != nil {
		t.Fatalf("demote one of two owners: %v", err)
	}
	if err := db.RemoveMember(ctx, tn.ID, aud.ID, true, AuditInput{Actor: aud.ID}); !errors.Is(err, ErrLastOwner) {
		t.Errorf("remove the now last owner: %v, want ErrLastOwner", err)
	}
}

func TestRemoveMember(t *testing.T) {
	db, tn, owner, aud := memberSetup(t)
	ctx := context.Background()
	other := mustTenant(t, db, "Other", mustUser(t, db, "other"))
	s := newTestSession(t, db, aud, time.Hour)

	// Another tenant's id never reaches this tenant's members.
	if err := db.RemoveMember(ctx, other.ID, aud.ID, true, AuditInput{Actor: owner.ID}); !errors.Is(err, ErrNotFound) {
		t.Errorf("remove through another tenant: %v, want ErrNotFound", err)
	}
	if _, err := db.ChangeMemberRole(ctx, other.ID, aud.ID, RoleOwner, AuditInput{Actor: owner.ID}); !errors.Is(err, ErrNotFound) {
		t.Errorf("role change through another tenant: %v, want ErrNotFound", err)
	}
	if err := db.RemoveMember(ctx, tn.ID, aud.ID, true, AuditInput{Actor: owner.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetMembership(ctx, tn.ID, aud.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("membership after removal: %v", err)
	}
	if _, err := db.GetSession(ctx, s.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("session after removal: %v, want ErrNotFound", err)
	}
	evs, _ := db.ListAudit(ctx, tn.ID, 1)
	if evs[0].Action != "member.removed" || !strings.Contains(evs[0].Details, `"role":"auditor"`) {
		t.Errorf("audit = %+v", evs[0])
	}
	if ok, _ := db.IsMemberEmail(ctx, tn.ID, "OWNER@example.com"); !ok {
		t.Error("IsMemberEmail is case-sensitive")
	}
}

// TestRemoveMemberEndsOnlyThatTenantsSessions: a user in two tenants,
// removed from one, keeps the session working in the other (issue 17 #9);
// a demotion likewise ends only the sessions in the tenant it happens in.
func TestRemoveMemberEndsOnlyThatTenantsSessions(t *testing.T) {
	db, tn, owner, aud := memberSetup(t)
	ctx := context.Background()
	other := mustTenant(t, db, "Other", mustUser(t, db, "other"))
	if err := db.AddMember(ctx, other.ID, aud.ID, RoleAdmin, "", AuditInput{Actor: owner.ID}); err != nil {
		t.Fatal(err)
	}
	session := func(tenantID string) *Session {
		s := newTestSession(t, db, aud, time.Hour)
		if tenantID != "" {
			if err := db.SetSessionTenant(ctx, s.ID, tenantID); err != nil {
				t.Fatal(err)
			}
		}
		return s
	}
	alive := func(s *Session) bool {
		_, err := db.GetSession(ctx, s.ID)
		if err != nil && !errors.Is(err, ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}

	inAcme, inOther, unbound := session(tn.ID), session(other.ID), session("")
	if _, err := db.ChangeMemberRole(ctx, other.ID, aud.ID, RoleAuditor, AuditInput{Actor: owner.ID}); err != nil {
		t.Fatal(err)
	}
	if !alive(inAcme) || alive(inOther) || alive(unbound) {
		t.Errorf("after a demotion in Other: Acme session alive=%v, Other alive=%v, unbound alive=%v; want true, false, false",
			alive(inAcme), alive(inOther), alive(unbound))
	}

	inAcme, inOther, unbound = session(tn.ID), session(other.ID), session("")
	if err := db.RemoveMember(ctx, tn.ID, aud.ID, true, AuditInput{Actor: owner.ID}); err != nil {
		t.Fatal(err)
	}
	if alive(inAcme) || !alive(inOther) || alive(unbound) {
		t.Errorf("after removal from Acme: Acme session alive=%v, Other alive=%v, unbound alive=%v; want false, true, false",
			alive(inAcme), alive(inOther), alive(unbound))
	}
}
