package models

import (
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

func invite(t *testing.T, db *DB, tn *Tenant, by *User, email, token string) *Invitation {
	t.Helper()
	inv, err := db.CreateInvitation(context.Background(), NewInvitation{TenantID: tn.ID, Email: email, Role: RoleAuditor,
		TokenHash: tokenHash(token), InvitedBy: by.ID, TTL: 7 * 24 * time.Hour}, AuditInput{Actor: by.ID})
	if err != nil {
		t.Fatalf("CreateInvitation(%s): %v", email, err)
	}
	return inv
}

func TestNormalizeEmail(t *testing.T) {
	for in, want := range map[string]string{" Bob@Example.COM ": "bob@example.com", "a+b@x.io": "a+b@x.io"} {
		if got, err := NormalizeEmail(in); err != nil || got != want {
			t.Errorf("NormalizeEmail(%q) = %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "bob", "Bob <bob@example.com>", "a@b, c@d", "bob@example.com\r\nBcc: x@y", strings.Repeat("a", 250) + "@x.io"} {
		if _, err := NormalizeEmail(bad); err == nil {
			t.Errorf("NormalizeEmail(%q) accepted", bad)
		}
	}
}

func TestInvitationAcceptOnce(t *testing.T) {
	db, tn, owner, _ := memberSetup(t)
	ctx := context.Background()
	inv := invite(t, db, tn, owner, "Bob@Example.com", "tok-1")
	if inv.Email != "bob@example.com" || !inv.ExpiresAt.Equal(db.now().Add(7*24*time.Hour)) {
		t.Fatalf("invitation = %+v", inv)
	}
	info, err := db.InvitationByToken(ctx, tokenHash("tok-1"))
	if err != nil || info.TenantName != "Acme" || info.InviterEmail != owner.Email {
		t.Fatalf("InvitationByToken = %+v, %v", info, err)
	}
	bob := mustUser(t, db, "bob")
	got, err := db.AcceptInvitation(ctx, tokenHash("tok-1"), bob.ID, "BOB@example.COM", AuditInput{Actor: bob.ID})
	if err != nil || got.AcceptedBy != bob.ID {
		t.Fatalf("accept = %+v, %v", got, err)
	}
	m, err := db.GetMembership(ctx, tn.ID, bob.ID)
	if err != nil || m.Role != RoleAuditor || m.InvitedBy != owner.ID {
		t.Fatalf("membership = %+v, %v", m, err)
	}
	// Reuse: the same token again, by anyone, fails.
	if _, err := db.AcceptInvitation(ctx, tokenHash("tok-1"), bob.ID, "bob@example.com", AuditInput{Actor: bob.ID}); !errors.Is(err, ErrInvitationUsed) {
		t.Errorf("second accept: %v, want ErrInvitationUsed", err)
	}
	if _, err := db.InvitationByToken(ctx, tokenHash("tok-1")); !errors.Is(err, ErrInvitationUsed) {
		t.Errorf("lookup after accept: %v", err)
	}
	if _, err := db.InvitationByToken(ctx, tokenHash("nope")); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown token: %v", err)
	}
	evs, _ := db.ListAudit(ctx, tn.ID, 1)
	if evs[0].Action != "member.joined" || evs[0].TargetID != bob.ID || !strings.Contains(evs[0].Details, inv.ID) {
		t.Errorf("audit = %+v", evs[0])
	}
	if list, _ := db.ListInvitations(ctx, tn.ID); len(list) != 0 {
		t.Errorf("accepted invitation still listed: %+v", list)
	}
	// Bob is a member now: inviting him again is refused.
	_, err = db.CreateInvitation(ctx, NewInvitation{TenantID: tn.ID, Email: "bob@EXAMPLE.com", Role: RoleAdmin,
		TokenHash: tokenHash("tok-2"), InvitedBy: owner.ID, TTL: time.Hour}, AuditInput{Actor: owner.ID})
	if !errors.Is(err, ErrAlreadyMember) {
		t.Errorf("invite a member: %v, want ErrAlreadyMember", err)
	}
}

func TestInvitationConcurrentAcceptsOneWins(t *testing.T) {
	db, tn, owner, _ := memberSetup(t)
	invite(t, db, tn, owner, "bob@example.com", "tok")
	bob := mustUser(t, db, "bob")
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = db.AcceptInvitation(context.Background(), tokenHash("tok"), bob.ID, "bob@example.com", AuditInput{Actor: bob.ID})
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else if !errors.Is(err, ErrInvitationUsed) {
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d accepts succeeded, want exactly 1", ok)
	}
}

func TestInvitationExpiry(t *testing.T) {
	db, clock := openTestDB(t)
	owner := mustUser(t, db, "owner")
	tn := mustTenant(t, db, "Acme", owner)
	invite(t, db, tn, owner, "bob@example.com", "tok")
	bob := mustUser(t, db, "bob")
	clock.Advance(7*24*time.Hour - time.Second)
	if _, err := db.InvitationByToken(context.Background(), tokenHash("tok")); err != nil {
		t.Fatalf("just before expiry: %v", err)
	}
	clock.Advance(time.Second)
	_, err := db.AcceptInvitation(context.Background(), tokenHash("tok"), bob.ID, "bob@example.com", AuditInput{Actor: bob.ID})
	if !errors.Is(err, ErrInvitationExpired) {
		t.Fatalf("accept at expiry: %v, want ErrInvitationExpired", err)
	}
	if _, err := db.GetMembership(context.Background(), tn.ID, bob.ID); !errors.Is(err, ErrNotFound) {
		t.Error("expired invitation made a member")
	}
	// Expired invitations stay listed so they can be resent.
	if list, _ := db.ListInvitations(context.Background(), tn.ID); len(list) != 1 {
		t.Errorf("expired invitation not listed")
	}
}

func TestInvitationEmailMismatch(t *testing.T) {
	db, tn, owner, _ := memberSetup(t)
	ctx := context.Background()
	invite(t, db, tn, owner, "bob@example.com", "tok")
	eve := mustUser(t, db, "eve")
	inv, err := db.AcceptInvitation(ctx, tokenHash("tok"), eve.ID, "eve@example.com", AuditInput{Actor: eve.ID})
	if !errors.Is(err, ErrEmailMismatch) || inv == nil || inv.TenantID != tn.ID {
		t.Fatalf("accept with another email: %+v, %v", inv, err)
	}
	if _, err := db.GetMembership(ctx, tn.ID, eve.ID); !errors.Is(err, ErrNotFound) {
		t.Error("mismatched email became a member")
	}
	// The refusal did not use the invitation up.
	bob := mustUser(t, db, "bob")
	if _, err := db.AcceptInvitation(ctx, tokenHash("tok"), bob.ID, "bob@example.com", AuditInput{Actor: bob.ID}); err != nil {
		t.Errorf("the invited person after a mismatch: %v", err)
	}
}

func TestReinviteRevokesOlderTokens(t *testing.T) {
	db, tn, owner, _ := memberSetup(t)
	ctx := context.Background()
	first := invite(t, db, tn, owner, "bob@example.com", "old")
	second := invite(t, db, tn, owner, "BOB@example.com", "new")
	if _, err := db.InvitationByToken(ctx, tokenHash("old")); !errors.Is(err, ErrInvitationUsed) {
		t.Errorf("old token after re-invite: %v, want ErrInvitationUsed", err)
	}
	list, _ := db.ListInvitations(ctx, tn.ID)
	if len(list) != 1 || list[0].ID != second.ID {
		t.Errorf("open invitations = %+v, want only the newest", list)
	}
	// Resend replaces the token again.
	third, err := db.ResendInvitation(ctx, tn.ID, second.ID, NewInvitation{TokenHash: tokenHash("newer"), InvitedBy: owner.ID, TTL: time.Hour}, AuditInput{Actor: owner.ID})
	if err != nil || third.Email != "bob@example.com" || third.Role != RoleAuditor {
		t.Fatalf("resend = %+v, %v", third, err)
	}
	if _, err := db.InvitationByToken(ctx, tokenHash("new")); !errors.Is(err, ErrInvitationUsed) {
		t.Errorf("token after resend: %v", err)
	}
	if _, err := db.ResendInvitation(ctx, tn.ID, first.ID, NewInvitation{TokenHash: tokenHash("x"), TTL: time.Hour}, AuditInput{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("resend a revoked invitation: %v, want ErrNotFound", err)
	}
	other := mustTenant(t, db, "Other", mustUser(t, db, "other"))
	if err := db.RevokeInvitation(ctx, other.ID, third.ID, AuditInput{Actor: owner.ID}); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoke through another tenant: %v, want ErrNotFound", err)
	}
	if err := db.RevokeInvitation(ctx, tn.ID, third.ID, AuditInput{Actor: owner.ID}); err != nil {
		t.Fatal(err)
	}
	if err := db.RevokeInvitation(ctx, tn.ID, third.ID, AuditInput{Actor: owner.ID}); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoke twice: %v", err)
	}
	var actions []string
	evs, _ := db.ListAudit(ctx, tn.ID, 4)
	for _, e := range evs {
		actions = append(actions, e.Action)
	}
	if got := strings.Join(actions, ","); got != "member.invite_revoked,member.invite_resent,member.invited,member.invited" {
		t.Errorf("audit = %s", got)
	}
}

func TestInvitationRateLimit(t *testing.T) {
	db, clock := openTestDB(t)
	owner := mustUser(t, db, "owner")
	tn := mustTenant(t, db, "Acme", owner)
	other := mustTenant(t, db, "Other", owner)
	ctx := context.Background()
	try := func(tenant *Tenant, i int) error {
		_, err := db.CreateInvitation(ctx, NewInvitation{TenantID: tenant.ID, Email: "u" + string(rune('a'+i)) + "@example.com", Role: RoleAuditor,
			TokenHash: tokenHash(tenant.ID + string(rune('a'+i))), InvitedBy: owner.ID, TTL: time.Hour, Limit: 3, Window: time.Hour}, AuditInput{Actor: owner.ID})
		return err
	}
	for i := range 3 {
		if err := try(tn, i); err != nil {
			t.Fatal(err)
		}
	}
	if err := try(tn, 3); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("fourth invitation: %v, want ErrRateLimited", err)
	}
	if err := try(other, 0); err != nil {
		t.Errorf("the limit is per tenant, but another tenant was refused: %v", err)
	}
	clock.Advance(time.Hour)
	if err := try(tn, 4); err != nil {
		t.Errorf("after the window: %v", err)
	}
}
