package models

import (
	"context"
	"crypto/sha256"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Session is a signed-in browser. The cookie carries ID and a secret; the
// table keeps only SecretHash (SHA-256 of the secret), so a leaked database
// does not hand out live sessions.
type Session struct {
	ID         string
	SecretHash []byte
	UserID     string
	TenantID   string // current tenant; "" until the user picks one
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time // absolute expiry
	AuthTime   time.Time // when the IdP authenticated the user
	MFA        bool      // whether the IdP asserted multi-factor authentication
}

// normalize puts times in UTC whatever the driver returned.
func (s *Session) normalize() {
	s.CreatedAt, s.LastSeenAt = s.CreatedAt.UTC(), s.LastSeenAt.UTC()
	s.ExpiresAt, s.AuthTime = s.ExpiresAt.UTC(), s.AuthTime.UTC()
}

// CreateSession stores s. An empty ID is filled with a new "ses_" id and a zero
// CreatedAt, LastSeenAt or AuthTime with the current time, all written back to
// s. ExpiresAt and a SHA-256 SecretHash are required; a duplicate ID gives
// ErrConflict.
func (db *DB) CreateSession(ctx context.Context, s *Session) error {
	switch {
	case len(s.SecretHash) != sha256.Size:
		return invalid("secret_hash", "must be a SHA-256 hash")
	case s.UserID == "":
		return invalid("user_id", "is required")
	case s.ExpiresAt.IsZero():
		return invalid("expires_at", "is required")
	}
	now := db.now()
	if s.ID == "" {
		s.ID = NewID(PrefixSession)
	}
	if s.CreatedAt.IsZero() {
		s.CreatedAt = now
	}
	if s.LastSeenAt.IsZero() {
		s.LastSeenAt = s.CreatedAt
	}
	if s.AuthTime.IsZero() {
		s.AuthTime = s.CreatedAt
	}
	s.CreatedAt, s.LastSeenAt, s.ExpiresAt, s.AuthTime = ts(s.CreatedAt), ts(s.LastSeenAt), ts(s.ExpiresAt), ts(s.AuthTime)
	if err := db.g.WithContext(ctx).Table("sessions").Create(s).Error; err != nil {
		return fmt.Errorf("create session: %w", mapErr(err))
	}
	return nil
}

// GetSession returns the session with the given id. A session past its
// ExpiresAt (by the store's clock) is reported as ErrNotFound, so no caller can
// forget that check; the idle timeout is the caller's policy (LastSeenAt).
// Callers must still compare the cookie secret's hash with SecretHash in
// constant time.
func (db *DB) GetSession(ctx context.Context, id string) (*Session, error) {
	var s Session
	err := db.g.WithContext(ctx).Table("sessions").
		Where("id = ? AND expires_at > ?", id, db.now()).Take(&s).Error
	if err != nil {
		return nil, fmt.Errorf("get session: %w", mapErr(err))
	}
	s.normalize()
	return &s, nil
}

// TouchSession sets the session's LastSeenAt; ErrNotFound if it does not exist.
func (db *DB) TouchSession(ctx context.Context, id string, at time.Time) error {
	res := db.g.WithContext(ctx).Table("sessions").Where("id = ?", id).Update("last_seen_at", ts(at))
	return rowsOrNotFound(res, "touch session")
}

// SetSessionTenant switches the session's current tenant ("" clears it). As a
// second line of defence it refuses a tenant the session's user is not a member
// of, with ErrNotFound, the same answer as for a missing session, so the
// response does not reveal whether the tenant exists.
func (db *DB) SetSessionTenant(ctx context.Context, id, tenantID string) error {
	q := db.g.WithContext(ctx).Table("sessions").Where("id = ?", id)
	if tenantID != "" {
		q = q.Where("EXISTS (SELECT 1 FROM memberships m WHERE m.tenant_id = ? AND m.user_id = sessions.user_id)", tenantID)
	}
	return rowsOrNotFound(q.Update("tenant_id", tenantID), "set session tenant")
}

// DeleteSession deletes one session. Deleting a missing session is not an
// error: logging out twice is fine.
func (db *DB) DeleteSession(ctx context.Context, id string) error {
	if err := db.g.WithContext(ctx).Exec("DELETE FROM sessions WHERE id = ?", id).Error; err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteUserSessions signs a user out everywhere.
func (db *DB) DeleteUserSessions(ctx context.Context, userID string) error {
	if err := db.g.WithContext(ctx).Exec("DELETE FROM sessions WHERE user_id = ?", userID).Error; err != nil {
		return fmt.Errorf("delete user sessions: %w", err)
	}
	return nil
}

// DeleteExpiredSessions deletes sessions past ExpiresAt at now and, when idle
// is positive, sessions not seen for idle or longer. It returns how many went.
func (db *DB) DeleteExpiredSessions(ctx context.Context, now time.Time, idle time.Duration) (int64, error) {
	now = ts(now)
	q := db.g.WithContext(ctx)
	var res *gorm.DB
	if idle > 0 {
		res = q.Exec("DELETE FROM sessions WHERE expires_at <= ? OR last_seen_at <= ?", now, now.Add(-idle))
	} else {
		res = q.Exec("DELETE FROM sessions WHERE expires_at <= ?", now)
	}
	if res.Error != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// rowsOrNotFound is oneRow for a statement outside a transaction: its
// error mapped and prefixed with op.
func rowsOrNotFound(res *gorm.DB, op string) error {
	if err := oneRow(res); err != nil {
		return fmt.Errorf("%s: %w", op, mapErr(err))
	}
	return nil
}

// SessionView is what a browser request needs of its session: the session,
// its user and the user's tenants with their roles (ordered as
// TenantsForUser orders them).
type SessionView struct {
	Session Session
	User    User
	Tenants []TenantMembership
}

// GetSessionView is GetSession, GetUser and TenantsForUser in one
// statement: every browser request reads it, so a removed member or an
// ended session is refused on the very next request, on every replica,
// for one round trip. A session past its ExpiresAt is ErrNotFound.
func (db *DB) GetSessionView(ctx context.Context, id string) (*SessionView, error) {
	var rows []struct {
		Session
		UEmail, UName, UIssuer, USubject string
		UCreatedAt                       time.Time
		ULastSignInAt                    *time.Time
		TID, TName                       *string
		TCreatedAt                       *time.Time
		Role                             *Role
	}
	err := db.reader(ctx).Table("sessions AS s").
		Select(`s.*, u.email AS u_email, u.name AS u_name, u.issuer AS u_issuer, u.subject AS u_subject, u.created_at AS u_created_at,
			u.last_sign_in_at AS u_last_sign_in_at, t.id AS t_id, t.name AS t_name, t.created_at AS t_created_at, m.role AS role`).
		Joins("JOIN users AS u ON u.id = s.user_id").
		Joins("LEFT JOIN memberships AS m ON m.user_id = s.user_id").
		Joins("LEFT JOIN tenants AS t ON t.id = m.tenant_id").
		Where("s.id = ? AND s.expires_at > ?", id, db.now()).
		// As TenantsForUser: lower() so the order is the same on every backend.
		Order("lower(t.name), t.name, t.id").
		Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("get session view: %w", mapErr(err))
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("get session view: %w", ErrNotFound)
	}
	r := rows[0]
	v := &SessionView{Session: r.Session, User: User{ID: r.UserID, Issuer: r.UIssuer, Subject: r.USubject, Email: r.UEmail, Name: r.UName,
		CreatedAt: r.UCreatedAt, LastSignInAt: r.ULastSignInAt}}
	v.Session.normalize()
	v.User.normalize()
	for _, r := range rows {
		if r.TID == nil || r.Role == nil {
			continue // no membership
		}
		tm := TenantMembership{Tenant: Tenant{ID: *r.TID, Name: *r.TName}, Role: *r.Role}
		if r.TCreatedAt != nil {
			tm.Tenant.CreatedAt = r.TCreatedAt.UTC()
		}
		v.Tenants = append(v.Tenants, tm)
	}
	return v, nil
}
