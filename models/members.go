package models

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// ErrLastOwner is returned when a change would leave a tenant without an
// owner: nobody could then invite, change roles or delete the tenant.
var ErrLastOwner = errors.New("models: a tenant must keep at least one owner")

// ErrOwnerOutOfReach is returned by the changes that may not touch owners
// (ChangeNonOwnerRole, RemoveNonOwner): the member is an owner, or the new
// role would make them one. The management API's keys act with these:
// no API key can make or unmake an owner.
var ErrOwnerOutOfReach = errors.New("models: owners can only be changed by an owner in the portal")

// Member is one member of a tenant with what the members page shows.
type Member struct {
	UserID         string
	Email          string
	Name           string
	Role           Role
	InvitedBy      string // user id; "" for the tenant's creator
	InvitedByName  string // "" when the inviter is gone or there was none
	InvitedByEmail string
	JoinedAt       time.Time
	LastSignInAt   *time.Time
}

// rank orders roles by power, so callers can tell a demotion from a
// promotion without listing pairs.
func (r Role) rank() int {
	switch r {
	case RoleOwner:
		return 3
	case RoleAdmin:
		return 2
	case RoleAuditor:
		return 1
	}
	return 0
}

// ListMembers lists a tenant's members, owners first, then by email.
func (db *DB) ListMembers(ctx context.Context, tenantID string) ([]Member, error) {
	return db.listMembers(ctx, tenantID, nil, 0, 0)
}

// MembersPage lists at most limit of a tenant's members from offset, in
// ListMembers' order: pages and filter choices stay bounded however many
// members a tenant has.
func (db *DB) MembersPage(ctx context.Context, tenantID string, offset, limit int) ([]Member, error) {
	return db.listMembers(ctx, tenantID, nil, offset, limit)
}

// MembersAmong lists those of userIDs who are members of the tenant: one
// query for a page of audit events.
func (db *DB) MembersAmong(ctx context.Context, tenantID string, userIDs []string) ([]Member, error) {
	if len(userIDs) == 0 {
		return nil, nil
	}
	return db.listMembers(ctx, tenantID, userIDs, 0, 0)
}

// listMembers is ListMembers of only userIDs (nil: all), limit of them
// (0: all) from offset.
func (db *DB) listMembers(ctx context.Context, tenantID string, userIDs []string, offset, limit int) ([]Member, error) {
	var rows []struct {
		UserID, Email, Name, InvitedBy, InvitedByName, InvitedByEmail string
		Role                                                          Role
		JoinedAt                                                      time.Time
		LastSignInAt                                                  *time.Time
	}
	q := db.reader(ctx).Table("memberships AS m").
		Select(`m.user_id AS user_id, u.email AS email, u.name AS name, m.role AS role,
			m.invited_by AS invited_by, COALESCE(i.name, '') AS invited_by_name, COALESCE(i.email, '') AS invited_by_email,
			m.created_at AS joined_at, u.last_sign_in_at AS last_sign_in_at`).
		Joins("JOIN users AS u ON u.id = m.user_id").
		Joins("LEFT JOIN users AS i ON i.id = m.invited_by").
		Where("m.tenant_id = ?", tenantID).
		Order("CASE m.role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 ELSE 2 END, lower(u.email), m.user_id")
	if userIDs != nil {
		q = q.Where("m.user_id IN ?", userIDs)
	}
	if limit > 0 {
		q = q.Offset(offset).Limit(limit)
	}
	err := q.Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	out := make([]Member, len(rows))
	for i, r := range rows {
		out[i] = Member{UserID: r.UserID, Email: r.Email, Name: r.Name, Role: r.Role, InvitedBy: r.InvitedBy,
			InvitedByName: r.InvitedByName, InvitedByEmail: r.InvitedByEmail, JoinedAt: r.JoinedAt.UTC(), LastSignInAt: tsPtr(r.LastSignInAt)}
	}
	return out, nil
}

// AddMember gives userID role in tenantID and appends the audit event in
// the same transaction. A user who is already a member gives ErrConflict.
// Action defaults to "member.added".
func (db *DB) AddMember(ctx context.Context, tenantID, userID string, role Role, invitedBy string, audit AuditInput) error {
	if !role.Valid() {
		return invalid("role", "must be owner, admin or auditor")
	}
	audit.TenantID, audit.TargetType, audit.TargetID = tenantID, "user", userID
	if audit.Action == "" {
		audit.Action = "member.added"
	}
	return db.change(ctx, "add member", func(tx *gorm.DB) (*AuditInput, error) {
		m := Membership{TenantID: tenantID, UserID: userID, Role: role, InvitedBy: invitedBy, CreatedAt: db.now()}
		if err := tx.Table("memberships").Create(&m).Error; err != nil {
			return nil, err
		}
		return &audit, nil
	})
}

// RoleChange is the outcome of ChangeMemberRole.
type RoleChange struct {
	From, To      Role
	SessionsEnded bool // the member was demoted and their sessions in this tenant ended
}

// ChangeMemberRole sets userID's role in tenantID. The membership is looked
// up with the tenant id, so a member of another tenant is ErrNotFound. The
// last owner cannot be demoted (ErrLastOwner). A demotion deletes the
// member's sessions in this tenant (see endTenantSessionsTx) in the same
// transaction as the change and its audit event, so there is no moment where
// the new role is stored but an old session still runs here. Setting the current role again changes nothing and
// writes no event. Action defaults to "member.role_changed".
func (db *DB) ChangeMemberRole(ctx context.Context, tenantID, userID string, role Role, audit AuditInput) (*RoleChange, error) {
	return db.changeMemberRole(ctx, tenantID, userID, role, false, audit)
}

// ChangeNonOwnerRole is ChangeMemberRole between admin and auditor only:
// ErrOwnerOutOfReach when the member is an owner or role is owner, checked
// in the transaction that changes the role.
func (db *DB) ChangeNonOwnerRole(ctx context.Context, tenantID, userID string, role Role, audit AuditInput) (*RoleChange, error) {
	return db.changeMemberRole(ctx, tenantID, userID, role, true, audit)
}

func (db *DB) changeMemberRole(ctx context.Context, tenantID, userID string, role Role, guard bool, audit AuditInput) (*RoleChange, error) {
	if !role.Valid() {
		return nil, invalid("role", "must be owner, admin or auditor")
	}
	var ch RoleChange
	err := db.change(ctx, "change member role", func(tx *gorm.DB) (*AuditInput, error) {
		m, err := membershipTx(tx, tenantID, userID)
		if err != nil {
			return nil, err
		}
		if guard && (m.Role == RoleOwner || role == RoleOwner) {
			return nil, ErrOwnerOutOfReach
		}
		ch = RoleChange{From: m.Role, To: role}
		if m.Role == role {
			return nil, nil
		}
		if m.Role == RoleOwner {
			if err := keepAnOwner(tx, tenantID); err != nil {
				return nil, err
			}
		}
		if err := tx.Table("memberships").Where("tenant_id = ? AND user_id = ?", tenantID, userID).
			Update("role", role).Error; err != nil {
			return nil, err
		}
		var revoked int64
		if role.rank() < m.Role.rank() {
			if err := endTenantSessionsTx(tx, tenantID, userID); err != nil {
				return nil, err
			}
			ch.SessionsEnded = true
			if revoked, err = revokeCreatorAPIKeysTx(tx, tenantID, userID, role, db.now()); err != nil {
				return nil, err
			}
		}
		audit.TenantID, audit.TargetType, audit.TargetID = tenantID, "user", userID
		if audit.Action == "" {
			audit.Action = "member.role_changed"
		}
		audit.Details = withDetails(audit.Details, "from", string(m.Role), "to", string(role), "sessions_ended", fmt.Sprint(ch.SessionsEnded))
		if revoked > 0 {
			audit.Details["api_keys_revoked"] = fmt.Sprint(revoked)
		}
		return &audit, nil
	})
	if err != nil {
		return nil, err
	}
	return &ch, nil
}

// RemoveMember ends userID's membership of tenantID (ErrNotFound if there is
// none in this tenant; ErrLastOwner for the last owner). With endSessions
// the user's sessions in this tenant are deleted in the same transaction
// (see endTenantSessionsTx); sessions working in their other tenants go on.
// A member leaving on their own keeps their sessions, which fall back to
// their other tenants. Action defaults to "member.removed".
func (db *DB) RemoveMember(ctx context.Context, tenantID, userID string, endSessions bool, audit AuditInput) error {
	return db.removeMember(ctx, tenantID, userID, endSessions, false, audit)
}

// RemoveNonOwner is RemoveMember (sessions ended) for admins and auditors
// only: ErrOwnerOutOfReach for an owner, checked in the transaction.
func (db *DB) RemoveNonOwner(ctx context.Context, tenantID, userID string, audit AuditInput) error {
	return db.removeMember(ctx, tenantID, userID, true, true, audit)
}

func (db *DB) removeMember(ctx context.Context, tenantID, userID string, endSessions, guard bool, audit AuditInput) error {
	return db.change(ctx, "remove member", func(tx *gorm.DB) (*AuditInput, error) {
		m, err := membershipTx(tx, tenantID, userID)
		if err != nil {
			return nil, err
		}
		if guard && m.Role == RoleOwner {
			return nil, ErrOwnerOutOfReach
		}
		if m.Role == RoleOwner {
			if err := keepAnOwner(tx, tenantID); err != nil {
				return nil, err
			}
		}
		if err := tx.Exec("DELETE FROM memberships WHERE tenant_id = ? AND user_id = ?", tenantID, userID).Error; err != nil {
			return nil, err
		}
		revoked, err := revokeCreatorAPIKeysTx(tx, tenantID, userID, "", db.now())
		if err != nil {
			return nil, err
		}
		if endSessions {
			if err := endTenantSessionsTx(tx, tenantID, userID); err != nil {
				return nil, err
			}
		}
		audit.TenantID, audit.TargetType, audit.TargetID = tenantID, "user", userID
		if audit.Action == "" {
			audit.Action = "member.removed"
		}
		audit.Details = withDetails(audit.Details, "role", string(m.Role), "sessions_ended", fmt.Sprint(endSessions))
		if revoked > 0 {
			audit.Details["api_keys_revoked"] = fmt.Sprint(revoked)
		}
		return &audit, nil
	})
}

// endTenantSessionsTx deletes userID's sessions that are not bound to a
// tenant the user is still a member of: those bound to tenantID, to no
// tenant (they show the user's first tenant, possibly this one) or to a
// tenant already left. Sessions working in the user's other tenants stay:
// removal from one tenant must not sign the user out of every tenant
// (issue 17 #9). For a removal, call it after deleting the membership.
func endTenantSessionsTx(tx *gorm.DB, tenantID, userID string) error {
	return tx.Exec(`DELETE FROM sessions WHERE user_id = ? AND (tenant_id = ? OR tenant_id NOT IN
		(SELECT m.tenant_id FROM memberships m WHERE m.user_id = ?))`, userID, tenantID, userID).Error
}

// IsMemberEmail reports whether a member of tenantID has this email
// (case-insensitive), so the same person is not invited twice.
func (db *DB) IsMemberEmail(ctx context.Context, tenantID, email string) (bool, error) {
	return isMemberEmailTx(db.g.WithContext(ctx), tenantID, email)
}

func isMemberEmailTx(tx *gorm.DB, tenantID, email string) (bool, error) {
	var n int64
	err := tx.Table("memberships AS m").Joins("JOIN users AS u ON u.id = m.user_id").
		Where("m.tenant_id = ? AND lower(u.email) = ?", tenantID, strings.ToLower(strings.TrimSpace(email))).Count(&n).Error
	if err != nil {
		return false, fmt.Errorf("find member by email: %w", err)
	}
	return n > 0, nil
}

// membershipTx loads one membership inside a transaction, tenant-scoped.
func membershipTx(tx *gorm.DB, tenantID, userID string) (*Membership, error) {
	var m Membership
	if err := tx.Table("memberships").Where("tenant_id = ? AND user_id = ?", tenantID, userID).Take(&m).Error; err != nil {
		return nil, mapErr(err)
	}
	return &m, nil
}

// keepAnOwner refuses a change to an owner's membership when that owner is
// the only one. The owner rows are locked until the transaction ends, so two
// owners cannot demote or remove each other at once: on SQLite the write lock
// taken at BEGIN does it (gorm drops FOR UPDATE there); on PostgreSQL the
// second transaction waits on FOR UPDATE, then no longer sees the first
// owner as an owner and is refused.
func keepAnOwner(tx *gorm.DB, tenantID string) error {
	var owners []string
	err := tx.Table("memberships").Clauses(clause.Locking{Strength: "UPDATE"}).
		Where("tenant_id = ? AND role = ?", tenantID, RoleOwner).Order("user_id").Pluck("user_id", &owners).Error
	if err != nil {
		return err
	}
	if len(owners) <= 1 {
		return ErrLastOwner
	}
	return nil
}

// withDetails returns a copy of details with the key/value pairs added.
func withDetails(details map[string]string, kv ...string) map[string]string {
	out := make(map[string]string, len(details)+len(kv)/2)
	for k, v := range details {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// OnboardingDismissed reports whether userID dismissed the dashboard's
// getting-started steps in tenantID.
func (db *DB) OnboardingDismissed(ctx context.Context, tenantID, userID string) (bool, error) {
	var n int64
	err := db.reader(ctx).Table("memberships").
		Where("tenant_id = ? AND user_id = ? AND onboarding_dismissed_at IS NOT NULL", tenantID, userID).Count(&n).Error
	if err != nil {
		return false, fmt.Errorf("onboarding dismissed: %w", mapErr(err))
	}
	return n > 0, nil
}

// DismissOnboarding hides the getting-started steps from userID in
// tenantID, with the audit event. Dismissing twice changes nothing.
func (db *DB) DismissOnboarding(ctx context.Context, tenantID, userID string, audit AuditInput) error {
	return db.change(ctx, "dismiss onboarding", func(tx *gorm.DB) (*AuditInput, error) {
		res := tx.Table("memberships").Where("tenant_id = ? AND user_id = ? AND onboarding_dismissed_at IS NULL", tenantID, userID).
			Update("onboarding_dismissed_at", db.now())
		if res.Error != nil {
			return nil, res.Error
		}
		if res.RowsAffected == 0 {
			if _, err := membershipTx(tx, tenantID, userID); err != nil {
				return nil, err
			}
			return nil, nil // already dismissed
		}
		audit.TenantID, audit.TargetType, audit.TargetID, audit.Action = tenantID, "user", userID, "onboarding.dismissed"
		return &audit, nil
	})
}
