package models

import (
	"context"
	"crypto/sha256"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// newTestSession returns a valid session for user, expiring in ttl.
func newTestSession(tb testing.TB, db *DB, user *User, ttl time.Duration) *Session {
	tb.Helper()
	h := sha256.Sum256([]byte("secret-" + user.ID))
	s := &Session{SecretHash: h[:], UserID: user.ID, ExpiresAt: db.now().Add(ttl), MFA: true}
	if err := db.CreateSession(context.Background(), s); err != nil {
		tb.Fatalf("CreateSession: %v", err)
	}
	return s
}

func TestSessionRoundTrip(t *testing.T) {
	db, clock := openTestDB(t)
	ctx := context.Background()
	u := mustUser(t, db, "alice")
	s := newTestSession(t, db, u, 12*time.Hour)
	if !strings.HasPrefix(s.ID, PrefixSession) || !s.CreatedAt.Equal(clock.Now()) || !s.AuthTime.Equal(s.CreatedAt) {
		t.Fatalf("CreateSession did not fill defaults: %+v", s)
	}
	got, err := db.GetSession(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Errorf("GetSession = %+v, want %+v", got, s)
	}
	if err := db.CreateSession(ctx, s); !errors.Is(err, ErrConflict) {
		t.Errorf("duplicate CreateSession err = %v, want ErrConflict", err)
	}
}

func TestCreateSessionValidation(t *testing.T) {
	db, _ := openTestDB(t)
	u := mustUser(t, db, "alice")
	h := sha256.Sum256([]byte("x"))
	exp := db.now().Add(time.Hour)
	for _, tc := range []struct {
		name  string
		s     Session
		field string
	}{
		{"short hash", Session{SecretHash: h[:16], UserID: u.ID, ExpiresAt: exp}, "secret_hash"},
		{"no user", Session{SecretHash: h[:], ExpiresAt: exp}, "user_id"},
		{"no expiry", Session{SecretHash: h[:], UserID: u.ID}, "expires_at"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := db.CreateSession(context.Background(), &tc.s)
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != tc.field {
				t.Errorf("err = %v, want ValidationError on %s", err, tc.field)
			}
		})
	}
	t.Run("unknown user", func(t *testing.T) {
		s := Session{SecretHash: h[:], UserID: "usr_nobody", ExpiresAt: exp}
		if err := db.CreateSession(context.Background(), &s); err == nil {
			t.Error("CreateSession for an unknown user succeeded")
		}
	})
}

func TestGetSessionExpired(t *testing.T) {
	db, clock := openTestDB(t)
	s := newTestSession(t, db, mustUser(t, db, "alice"), time.Hour)
	clock.Advance(time.Hour)
	if _, err := db.GetSession(context.Background(), s.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetSession at expiry err = %v, want ErrNotFound", err)
	}
}

func TestTouchAndSetSessionTenant(t *testing.T) {
	db, clock := openTestDB(t)
	ctx := context.Background()
	alice, bob := mustUser(t, db, "alice"), mustUser(t, db, "bob")
	own := mustTenant(t, db, "Alice Inc", alice)
	foreign := mustTenant(t, db, "Bob Inc", bob)
	s := newTestSession(t, db, alice, time.Hour)

	later := clock.Now().Add(10 * time.Minute)
	if err := db.TouchSession(ctx, s.ID, later); err != nil {
		t.Fatal(err)
	}
	if err := db.TouchSession(ctx, "ses_missing", later); !errors.Is(err, ErrNotFound) {
		t.Errorf("TouchSession(missing) err = %v, want ErrNotFound", err)
	}
	for _, tc := range []struct {
		name, sessionID, tenantID string
		wantErr                   error
		wantTenant                string
	}{
		{"own tenant", s.ID, own.ID, nil, own.ID},
		{"foreign tenant refused", s.ID, foreign.ID, ErrNotFound, own.ID},
		{"unknown tenant refused", s.ID, "tnt_missing", ErrNotFound, own.ID},
		{"missing session", "ses_missing", own.ID, ErrNotFound, own.ID},
		{"clear", s.ID, "", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := db.SetSessionTenant(ctx, tc.sessionID, tc.tenantID); !errors.Is(err, tc.wantErr) {
				t.Fatalf("SetSessionTenant err = %v, want %v", err, tc.wantErr)
			}
			got, err := db.GetSession(ctx, s.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.TenantID != tc.wantTenant || !got.LastSeenAt.Equal(later) {
				t.Errorf("session tenant=%q last_seen=%v, want %q and %v", got.TenantID, got.LastSeenAt, tc.wantTenant, later)
			}
		})
	}
}

func TestDeleteSessions(t *testing.T) {
	db, _ := openTestDB(t)
	ctx := context.Background()
	alice, bob := mustUser(t, db, "alice"), mustUser(t, db, "bob")
	a1, a2 := newTestSession(t, db, alice, time.Hour), newTestSession(t, db, alice, time.Hour)
	b1 := newTestSession(t, db, bob, time.Hour)

	if err := db.DeleteSession(ctx, a1.ID); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteSession(ctx, a1.ID); err != nil {
		t.Errorf("second DeleteSession err = %v, want nil", err)
	}
	if err := db.DeleteUserSessions(ctx, alice.ID); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]error{a1.ID: ErrNotFound, a2.ID: ErrNotFound, b1.ID: nil} {
		if _, err := db.GetSession(ctx, id); !errors.Is(err, want) {
			t.Errorf("GetSession(%s) err = %v, want %v", id, err, want)
		}
	}
}

func TestDeleteExpiredSessions(t *testing.T) {
	for _, tc := range []struct {
		name      string
		after     time.Duration // how long after creation the cleanup runs
		idle      time.Duration
		wantGone  int64
		wantAlive []string
	}{
		{"nothing expired", 10 * time.Minute, 0, 0, []string{"short", "long", "active"}},
		{"absolute expiry", 2 * time.Hour, 0, 1, []string{"long", "active"}},
		{"idle timeout", 45 * time.Minute, 30 * time.Minute, 2, []string{"active"}},
		{"both", 2 * time.Hour, 30 * time.Minute, 3, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, clock := openTestDB(t)
			ctx := context.Background()
			u := mustUser(t, db, "alice")
			start := clock.Now()
			sessions := map[string]*Session{
				"short":  newTestSession(t, db, u, time.Hour),
				"long":   newTestSession(t, db, u, 24*time.Hour),
				"active": newTestSession(t, db, u, 24*time.Hour),
			}
			// "active" was used 40 minutes in; the others never after creation.
			if err := db.TouchSession(ctx, sessions["active"].ID, start.Add(40*time.Minute)); err != nil {
				t.Fatal(err)
			}
			n, err := db.DeleteExpiredSessions(ctx, start.Add(tc.after), tc.idle)
			if err != nil || n != tc.wantGone {
				t.Fatalf("DeleteExpiredSessions = %d, %v; want %d", n, err, tc.wantGone)
			}
			var alive []string
			if err := db.g.Table("sessions").Order("id").Pluck("id", &alive).Error; err != nil {
				t.Fatal(err)
			}
			if len(alive) != len(tc.wantAlive) {
				t.Fatalf("%d sessions left, want %v", len(alive), tc.wantAlive)
			}
			for _, name := range tc.wantAlive {
				var n int64
				db.g.Table("sessions").Where("id = ?", sessions[name].ID).Count(&n)
				if n != 1 {
					t.Errorf("session %q was deleted", name)
				}
			}
		})
	}
}

// TestGetSessionView: the session, its user and the user's tenants in one
// read; a user without a tenant has none; an expired session is not found.
func TestGetSessionView(t *testing.T) {
	db, _ := openTestDB(t)
	ctx := context.Background()
	u, _, err := db.UpsertOIDCUser(ctx, "https://idp.test", "sv-1", "sv@example.com", "Sam View")
	if err != nil {
		t.Fatal(err)
	}
	s := &Session{SecretHash: make([]byte, 32), UserID: u.ID, ExpiresAt: db.now().Add(time.Hour)}
	if err := db.CreateSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	v, err := db.GetSessionView(ctx, s.ID)
	if err != nil || v.User.Email != "sv@example.com" || v.Session.UserID != u.ID || len(v.Tenants) != 0 {
		t.Fatalf("no tenant: %+v, %v", v, err)
	}
	for _, name := range []string{"Zeta", "alpha"} {
		if _, err := db.CreateTenantWithOwner(ctx, name, u.ID, AuditInput{Action: "tenant.created"}); err != nil {
			t.Fatal(err)
		}
	}
	v, err = db.GetSessionView(ctx, s.ID)
	if err != nil || len(v.Tenants) != 2 || v.Tenants[0].Tenant.Name != "alpha" || v.Tenants[1].Role != RoleOwner {
		t.Fatalf("two tenants: %+v, %v", v, err)
	}
	s2 := &Session{SecretHash: make([]byte, 32), UserID: u.ID, ExpiresAt: db.now().Add(-time.Minute), CreatedAt: db.now().Add(-time.Hour)}
	if err := db.CreateSession(ctx, s2); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetSessionView(ctx, s2.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("expired session: %v", err)
	}
}
