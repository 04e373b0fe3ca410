package models

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"gorm.io/gorm"
)

// PrefixInvitation starts every invitation id.
const PrefixInvitation = "inv_"

// Errors of the invitation flow. Each needs a different answer to the
// person holding the link, so they are told apart.
var (
	ErrRateLimited       = errors.New("models: too many invitations in a short time")
	ErrAlreadyMember     = errors.New("models: already a member of the tenant")
	ErrInvitationUsed    = errors.New("models: invitation already accepted or revoked")
	ErrInvitationExpired = errors.New("models: invitation expired")
	ErrEmailMismatch     = errors.New("models: signed-in email differs from the invited email")
)

// Invitation asks one email address to join a tenant with a role. Only the
// SHA-256 of the emailed token is stored; the link itself is never kept.
type Invitation struct {
	ID         string
	TenantID   string
	Email      string // lowercased
	Role       Role
	TokenHash  []byte
	InvitedBy  string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	AcceptedAt *time.Time
	AcceptedBy string
	RevokedAt  *time.Time
}

func (inv *Invitation) normalize() {
	inv.CreatedAt, inv.ExpiresAt = inv.CreatedAt.UTC(), inv.ExpiresAt.UTC()
	inv.AcceptedAt, inv.RevokedAt = tsPtr(inv.AcceptedAt), tsPtr(inv.RevokedAt)
}

// InvitationInfo is an invitation with the names a page or email shows.
type InvitationInfo struct {
	Invitation
	TenantName   string
	InviterName  string
	InviterEmail string
}

// NewInvitation is what CreateInvitation needs. Limit invitations per
// Window are allowed per tenant (0 = no limit); resends count too.
type NewInvitation struct {
	TenantID  string
	Email     string
	Role      Role
	TokenHash []byte
	InvitedBy string
	TTL       time.Duration
	Limit     int
	Window    time.Duration
	// Mail is the invitation email, put in the outbox in the same
	// transaction as the invitation (nil sends none).
	Mail *NewMail
}

// NormalizeEmail checks that email is one plain address and returns it
// trimmed and lowercased, or a *ValidationError for field "email".
func NormalizeEmail(email string) (string, error) {
	email = strings.TrimSpace(email)
	a, err := mail.ParseAddress(email)
	switch {
	case email == "":
		return "", invalid("email", "is required")
	case len(email) > 254 || err != nil || a.Address != email || a.Name != "" || strings.ContainsAny(email, " \t\r\n"):
		return "", invalid("email", "must be an email address like name@example.com")
	}
	return strings.ToLower(email), nil
}

// CreateInvitation records an invitation and its audit event in one
// transaction, after revoking every older open invitation of the same
// email to the tenant (so only the newest link works). It refuses an email
// that already belongs to a member (ErrAlreadyMember) and a tenant over its
// rate limit (ErrRateLimited). Action defaults to "member.invited".
func (db *DB) CreateInvitation(ctx context.Context, in NewInvitation, audit AuditInput) (*Invitation, error) {
	var inv *Invitation
	err := db.g.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		inv, err = db.createInvitationTx(tx, in, audit)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create invitation: %w", mapErr(err))
	}
	return inv, nil
}

func (db *DB) createInvitationTx(tx *gorm.DB, in NewInvitation, audit AuditInput) (*Invitation, error) {
	email, err := NormalizeEmail(in.Email)
	if err != nil {
		return nil, err
	}
	switch {
	case !in.Role.Valid():
		return nil, invalid("role", "must be owner, admin or auditor")
	case len(in.TokenHash) != sha256.Size:
		return nil, invalid("token_hash", "must be a SHA-256 hash")
	case in.TTL <= 0:
		return nil, invalid("ttl", "must be positive")
	}
	now := db.now()
	if in.Limit > 0 {
		// Counted inside the write transaction, so concurrent invitations
		// cannot both slip under the limit.
		var n int64
		if err := tx.Table("invitations").Where("tenant_id = ? AND created_at > ?", in.TenantID, now.Add(-in.Window)).
			Count(&n).Error; err != nil {
			return nil, err
		}
		if n >= int64(in.Limit) {
			return nil, ErrRateLimited
		}
	}
	member, err := isMemberEmailTx(tx, in.TenantID, email)
	if err != nil {
		return nil, err
	}
	if member {
		return nil, ErrAlreadyMember
	}
	res := tx.Table("invitations").
		Where("tenant_id = ? AND email = ? AND accepted_at IS NULL AND revoked_at IS NULL", in.TenantID, email).
		Update("revoked_at", now)
	if res.Error != nil {
		return nil, res.Error
	}
	inv := &Invitation{ID: NewID(PrefixInvitation), TenantID: in.TenantID, Email: email, Role: in.Role, TokenHash: in.TokenHash,
		InvitedBy: in.InvitedBy, CreatedAt: now, ExpiresAt: ts(now.Add(in.TTL))}
	if err := tx.Table("invitations").Create(inv).Error; err != nil {
		return nil, err
	}
	audit.TenantID, audit.TargetType, audit.TargetID = in.TenantID, "invitation", inv.ID
	if audit.Action == "" {
		audit.Action = "member.invited"
	}
	audit.Details = withDetails(audit.Details, "email", email, "role", string(in.Role),
		"expires_at", inv.ExpiresAt.Format(time.RFC3339), "revoked_older", fmt.Sprint(res.RowsAffected))
	if _, err := db.appendAuditTx(tx, audit); err != nil {
		return nil, err
	}
	if in.Mail != nil {
		if err := db.enqueueMailTx(tx, []NewMail{*in.Mail}); err != nil {
			return nil, err
		}
	}
	return inv, nil
}

// ResendInvitation replaces the open invitation id of tenantID (expired or
// not) with a new one for the same email and role under a new token: the
// old link stops working and the expiry starts again. in supplies the
// token, TTL and rate limit; its email and role are taken from the old
// invitation. Action defaults to "member.invite_resent".
func (db *DB) ResendInvitation(ctx context.Context, tenantID, id string, in NewInvitation, audit AuditInput) (*Invitation, error) {
	var inv *Invitation
	err := db.g.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var old Invitation
		err := tx.Table("invitations").
			Where("id = ? AND tenant_id = ? AND accepted_at IS NULL AND revoked_at IS NULL", id, tenantID).Take(&old).Error
		if err != nil {
			return err
		}
		in.TenantID, in.Email, in.Role = tenantID, old.Email, old.Role
		if audit.Action == "" {
			audit.Action = "member.invite_resent"
		}
		audit.Details = withDetails(audit.Details, "replaces", old.ID)
		inv, err = db.createInvitationTx(tx, in, audit)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("resend invitation: %w", mapErr(err))
	}
	return inv, nil
}

// RevokeInvitation revokes an open invitation of tenantID; an unknown id,
// another tenant's, or one already accepted or revoked is ErrNotFound.
// Action defaults to "member.invite_revoked".
func (db *DB) RevokeInvitation(ctx context.Context, tenantID, id string, audit AuditInput) error {
	return db.change(ctx, "revoke invitation", func(tx *gorm.DB) (*AuditInput, error) {
		var inv Invitation
		q := tx.Table("invitations").Where("id = ? AND tenant_id = ? AND accepted_at IS NULL AND revoked_at IS NULL", id, tenantID)
		if err := q.Take(&inv).Error; err != nil {
			return nil, err
		}
		res := tx.Table("invitations").Where("tenant_id = ? AND id = ? AND revoked_at IS NULL AND accepted_at IS NULL", tenantID, id).Update("revoked_at", db.now())
		if err := oneRow(res); err != nil {
			return nil, err
		}
		audit.TenantID, audit.TargetType, audit.TargetID = tenantID, "invitation", id
		if audit.Action == "" {
			audit.Action = "member.invite_revoked"
		}
		audit.Details = withDetails(audit.Details, "email", inv.Email, "role", string(inv.Role))
		return &audit, nil
	})
}

// ListInvitations lists a tenant's open invitations (neither accepted nor
// revoked; expired ones included, so they can be resent), newest first.
func (db *DB) ListInvitations(ctx context.Context, tenantID string) ([]InvitationInfo, error) {
	out, err := db.invitationInfos(db.reader(ctx).
		Where("v.tenant_id = ? AND v.accepted_at IS NULL AND v.revoked_at IS NULL", tenantID).
		Order("v.created_at DESC, v.id"))
	if err != nil {
		return nil, fmt.Errorf("list invitations: %w", err)
	}
	return out, nil
}

// GetInvitation returns one invitation of tenantID, whatever its state.
func (db *DB) GetInvitation(ctx context.Context, tenantID, id string) (*InvitationInfo, error) {
	out, err := db.invitationInfos(db.g.WithContext(ctx).Where("v.tenant_id = ? AND v.id = ?", tenantID, id))
	if err != nil {
		return nil, fmt.Errorf("get invitation: %w", err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("get invitation: %w", ErrNotFound)
	}
	return &out[0], nil
}

// InvitationByToken finds the invitation whose token hashes to tokenHash and
// says whether it can still be accepted: ErrNotFound for an unknown token,
// ErrInvitationUsed once accepted or revoked, ErrInvitationExpired after its
// expiry. The invitation is returned with the last two errors too.
func (db *DB) InvitationByToken(ctx context.Context, tokenHash []byte) (*InvitationInfo, error) {
	out, err := db.invitationInfos(db.g.WithContext(ctx).Where("v.token_hash = ?", tokenHash))
	if err != nil {
		return nil, fmt.Errorf("find invitation: %w", err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("find invitation: %w", ErrNotFound)
	}
	inv := &out[0]
	return inv, inv.usable(db.now())
}

// usable reports why an invitation can no longer be accepted, if it cannot.
func (inv *Invitation) usable(now time.Time) error {
	switch {
	case inv.AcceptedAt != nil || inv.RevokedAt != nil:
		return ErrInvitationUsed
	case !now.Before(inv.ExpiresAt):
		return ErrInvitationExpired
	}
	return nil
}

func (db *DB) invitationInfos(q *gorm.DB) ([]InvitationInfo, error) {
	var rows []struct {
		Invitation
		TenantName, InviterName, InviterEmail string
	}
	err := q.Table("invitations AS v").
		Select(`v.*, t.name AS tenant_name, COALESCE(u.name, '') AS inviter_name, COALESCE(u.email, '') AS inviter_email`).
		Joins("JOIN tenants AS t ON t.id = v.tenant_id").
		Joins("LEFT JOIN users AS u ON u.id = v.invited_by").
		Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	out := make([]InvitationInfo, len(rows))
	for i, r := range rows {
		r.Invitation.normalize()
		out[i] = InvitationInfo{Invitation: r.Invitation, TenantName: r.TenantName, InviterName: r.InviterName, InviterEmail: r.InviterEmail}
	}
	return out, nil
}

// AcceptInvitation lets userID, signed in with the IdP-verified email,
// accept the invitation whose token hashes to tokenHash. The email must
// equal the invited one, ignoring case (ErrEmailMismatch, and the
// invitation stays open for the right person). The invitation is taken
// with a conditional update, so of two concurrent accepts exactly one
// wins; the membership and the audit event commit with it. A user who is
// already a member keeps their role. The returned invitation is set for
// ErrEmailMismatch too, so the refusal can be audited in its tenant.
// Action defaults to "member.joined".
func (db *DB) AcceptInvitation(ctx context.Context, tokenHash []byte, userID, email string, audit AuditInput) (*Invitation, error) {
	var inv Invitation
	err := db.change(ctx, "accept invitation", func(tx *gorm.DB) (*AuditInput, error) {
		if err := tx.Table("invitations").Where("token_hash = ?", tokenHash).Take(&inv).Error; err != nil {
			return nil, err
		}
		inv.normalize()
		now := db.now()
		if err := inv.usable(now); err != nil {
			return nil, err
		}
		if !strings.EqualFold(strings.TrimSpace(email), inv.Email) {
			return nil, ErrEmailMismatch
		}
		res := tx.Table("invitations").
			Where("id = ? AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > ?", inv.ID, now).
			Updates(map[string]any{"accepted_at": now, "accepted_by": userID})
		if res.Error != nil {
			return nil, res.Error
		}
		if res.RowsAffected != 1 {
			return nil, ErrInvitationUsed
		}
		inv.AcceptedAt, inv.AcceptedBy = &now, userID
		if _, err := membershipTx(tx, inv.TenantID, userID); errors.Is(err, ErrNotFound) {
			m := Membership{TenantID: inv.TenantID, UserID: userID, Role: inv.Role, InvitedBy: inv.InvitedBy, CreatedAt: now}
			if err := tx.Table("memberships").Create(&m).Error; err != nil {
				return nil, err
			}
			audit.Details = withDetails(audit.Details, "already_member", "false")
		} else if err != nil {
			return nil, err
		} else {
			audit.Details = withDetails(audit.Details, "already_member", "true")
		}
		audit.TenantID, audit.TargetType, audit.TargetID = inv.TenantID, "user", userID
		if audit.Action == "" {
			audit.Action = "member.joined"
		}
		audit.Details = withDetails(audit.Details, "invitation", inv.ID, "email", inv.Email, "role", string(inv.Role), "invited_by", inv.InvitedBy)
		return &audit, nil
	})
	if err != nil {
		if errors.Is(err, ErrEmailMismatch) || errors.Is(err, ErrInvitationUsed) || errors.Is(err, ErrInvitationExpired) {
			return &inv, err
		}
		return nil, err
	}
	return &inv, nil
}
