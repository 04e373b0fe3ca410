package models

import (
	"context"
	"fmt"
	"time"
)

// ApproverCandidate is another owner or admin of a tenant and whether
// they could decide a request of requester made now (see approverEligible).
type ApproverCandidate struct {
	UserID, Email string
	Role          Role
	// Eligible: they meet the rules that can be known before a request
	// (the MFA rule is checked at the decision); Reason says why not.
	Eligible bool
	Reason   string
	// From: when a member who joined too recently can decide.
	From time.Time
}

// ApproverCandidates lists the tenant's owners and admins other than
// requester, by email, each with whether they could decide a request
// that requester makes now under rules: the same conditions as
// approverEligible, so that a request nobody can decide is refused
// before it is made.
func (db *DB) ApproverCandidates(ctx context.Context, tenantID, requester string, rules ApprovalRules) ([]ApproverCandidate, error) {
	var rows []struct {
		UserID, Email, InvitedBy string
		Role                     Role
		CreatedAt                time.Time
	}
	err := db.g.WithContext(ctx).Table("memberships AS m").Joins("JOIN users AS u ON u.id = m.user_id").
		Select("m.user_id, u.email, m.invited_by, m.role, m.created_at").
		Where("m.tenant_id = ? AND m.user_id <> ? AND m.role IN ?", tenantID, requester, []Role{RoleOwner, RoleAdmin}).
		Order("lower(u.email)").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("approver candidates: %w", mapErr(err))
	}
	now := db.now()
	out := make([]ApproverCandidate, 0, len(rows))
	for _, r := range rows {
		c := ApproverCandidate{UserID: r.UserID, Email: r.Email, Role: r.Role, Eligible: true}
		switch {
		case r.InvitedBy != "" && r.InvitedBy == requester:
			c.Eligible, c.Reason = false, "you invited them, so their approval cannot count as a second person's"
		case r.CreatedAt.After(now.Add(-rules.MinMemberAge)):
			c.Eligible, c.From = false, r.CreatedAt.Add(rules.MinMemberAge)
			c.Reason = fmt.Sprintf("joined less than %d hours ago", int(rules.MinMemberAge/time.Hour))
		}
		out = append(out, c)
	}
	return out, nil
}
