package managed

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"keyport/keysvc"
	"keyport/models"
)

// Provider settings that require a second admin's approval.
const (
	SettingApproveExport = "approval_export"
	SettingApproveDelete = "approval_delete"
	// SettingApproverMinAgeHours is how long (hours) an approver must have
	// been a member before the request; DefaultApproverMinAge when unset.
	SettingApproverMinAgeHours = "approval_min_member_hours"
	// SettingApproverMFA makes deciding an approval need a sign-in with a
	// second factor.
	SettingApproverMFA    = "approval_require_mfa"
	DefaultApproverMinAge = 24 * time.Hour
	approvalTTL           = 24 * time.Hour
)

// ErrApprovalRequired: the provider requires a second admin's approval
// for this action and none that is usable was given.
var ErrApprovalRequired = errors.New("keysvc: a second admin must approve this first")

// ApprovalRequired reports whether the provider requires approval for
// action (models.ApprovalExport or models.ApprovalDelete).
func (s *Service) ApprovalRequired(ctx context.Context, action string) (bool, error) {
	m, err := s.db.ProviderSettings(ctx)
	if err != nil {
		return false, err
	}
	name := map[string]string{models.ApprovalExport: SettingApproveExport, models.ApprovalDelete: SettingApproveDelete}[action]
	return m[name] == "true", nil
}

// ApprovalSettings is the operator's approval policy.
type ApprovalSettings struct {
	Export, Delete bool
	// ApproverMinAge: how long an approver must have been a member before
	// the request (whole hours, 0 to 8760).
	ApproverMinAge time.Duration
	// ApproverMFA: approvers must have signed in with a second factor.
	ApproverMFA bool
}

// maxApproverMinAge bounds the setting at a year.
const maxApproverMinAge = 365 * 24 * time.Hour

// GetApprovalSettings reads the operator's approval policy, with the
// defaults for what was never set.
func (s *Service) GetApprovalSettings(ctx context.Context) (ApprovalSettings, error) {
	m, err := s.db.ProviderSettings(ctx)
	if err != nil {
		return ApprovalSettings{}, err
	}
	out := ApprovalSettings{Export: m[SettingApproveExport] == "true", Delete: m[SettingApproveDelete] == "true",
		ApproverMinAge: DefaultApproverMinAge, ApproverMFA: m[SettingApproverMFA] == "true"}
	if h, err := strconv.Atoi(m[SettingApproverMinAgeHours]); err == nil && h >= 0 {
		out.ApproverMinAge = time.Duration(h) * time.Hour
	}
	return out, nil
}

// SetApprovalSettings stores the operator's approval settings.
func (s *Service) SetApprovalSettings(ctx context.Context, by keysvc.RequestBy, in ApprovalSettings) error {
	if in.ApproverMinAge < 0 || in.ApproverMinAge > maxApproverMinAge || in.ApproverMinAge%time.Hour != 0 {
		return &keysvc.ValidationError{Field: "approver_min_hours", Message: "give whole hours from 0 to 8760"}
	}
	e, d := strconv.FormatBool(in.Export), strconv.FormatBool(in.Delete)
	h, mfa := strconv.Itoa(int(in.ApproverMinAge/time.Hour)), strconv.FormatBool(in.ApproverMFA)
	_, err := s.db.SetProviderSettings(ctx, map[string]string{SettingApproveExport: e, SettingApproveDelete: d,
		SettingApproverMinAgeHours: h, SettingApproverMFA: mfa},
		by.Audit("provider.approval_settings_changed", map[string]string{"export": e, "delete": d, "approver_min_hours": h, "approver_mfa": mfa}))
	return err
}

// RequestApproval asks the tenant's other admins to approve an export or
// a deletion of a key; it expires after 24 hours.
func (s *Service) RequestApproval(ctx context.Context, tenantID string, by keysvc.RequestBy, keyID, action string) (*models.Approval, error) {
	if _, _, err := s.managedKey(ctx, tenantID, keyID); err != nil {
		return nil, err
	}
	if action != models.ApprovalExport && action != models.ApprovalDelete {
		return nil, &keysvc.ValidationError{Field: "action", Message: "choose export or delete"}
	}
	approvers, err := s.possibleApprovers(ctx, tenantID, by.Person())
	if err != nil {
		return nil, err
	}
	a := &models.Approval{ID: models.NewID("apr_"), TenantID: tenantID, KeyID: keyID, Action: action, RequestedBy: by.Person(),
		ExpiresAt: s.now().Add(approvalTTL)}
	mail, err := s.approvalMails(ctx, a, models.ApprovalPending, "", approvers...)
	if err != nil {
		return nil, err
	}
	return a, s.db.CreateApproval(ctx, a, approvalTTL, by.Audit("key.approval_requested", nil), mail...)
}

// DecideApproval approves or denies another admin's request for the key
// keyID: an approval of another key is not found here. The decider must
// meet the provider's approver rules (see models.ApprovalRules).
func (s *Service) DecideApproval(ctx context.Context, tenantID string, by keysvc.RequestBy, keyID, id string, approve bool) (*models.Approval, error) {
	set, err := s.GetApprovalSettings(ctx)
	if err != nil {
		return nil, err
	}
	rules := models.ApprovalRules{MinMemberAge: set.ApproverMinAge, RequireMFA: set.ApproverMFA}
	var mail []models.NewMail
	if cur, err := s.db.GetApproval(ctx, tenantID, keyID, id); err == nil {
		event := models.ApprovalDenied
		if approve {
			event = models.ApprovalApproved
		}
		// The requester hears of the decision too (besides the owners).
		if mail, err = s.approvalMails(ctx, cur, event, by.Person(), s.userEmail(ctx, cur.RequestedBy)); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, models.ErrNotFound) {
		return nil, err
	} // not found: DecideApproval refuses it below
	a, err := s.db.DecideApproval(ctx, tenantID, keyID, id, models.Approver{UserID: by.Person(), MFA: by.MFA}, approve, rules,
		by.Audit("key.approval_decided", nil), mail...)
	if errors.Is(err, models.ErrConflict) {
		return nil, &keysvc.ValidationError{Field: "approval", Message: "this request is not pending any more, has expired, or is your own"}
	}
	return a, err
}

// checkApproval reports whether the action needs an approval and, if so,
// that id is usable, without spending it (see spendApproval and models.ApprovalUse).
func (s *Service) checkApproval(ctx context.Context, tenantID string, by keysvc.RequestBy, keyID, action, id string) (bool, error) {
	need, err := s.ApprovalRequired(ctx, action)
	if err != nil || !need {
		return false, err
	}
	if id == "" {
		return true, ErrApprovalRequired
	}
	ok, err := s.db.UsableApproval(ctx, tenantID, id, keyID, action, by.Person())
	if err == nil && !ok {
		err = ErrApprovalRequired
	}
	return true, err
}

// spendApproval marks approval id executed, with audit in the same
// transaction when it is not nil; ErrApprovalRequired when it is not
// usable (any more).
func (s *Service) spendApproval(ctx context.Context, tenantID string, by keysvc.RequestBy, keyID, action, id string, audit *models.AuditInput) error {
	if id == "" {
		return ErrApprovalRequired
	}
	if err := s.db.ConsumeApproval(ctx, tenantID, id, keyID, action, by.Person(), audit); err != nil {
		if errors.Is(err, models.ErrConflict) {
			return ErrApprovalRequired
		}
		return err
	}
	return nil
}

// possibleApprovers returns the emails of the tenant's members who could
// decide a request requester makes now. None is a *keysvc.ValidationError
// that says who could approve and why nobody can: a request that nobody
// can decide would only wait 24 hours and expire.
func (s *Service) possibleApprovers(ctx context.Context, tenantID, requester string) ([]string, error) {
	set, err := s.GetApprovalSettings(ctx)
	if err != nil {
		return nil, err
	}
	cands, err := s.db.ApproverCandidates(ctx, tenantID, requester, models.ApprovalRules{MinMemberAge: set.ApproverMinAge})
	if err != nil {
		return nil, err
	}
	var out, why []string
	for _, c := range cands {
		if c.Eligible {
			out = append(out, c.Email)
			continue
		}
		w := c.Email + " (" + string(c.Role) + "): " + c.Reason
		if !c.From.IsZero() {
			w += ", can decide from " + c.From.UTC().Format("2006-01-02 15:04") + " UTC"
		}
		why = append(why, w)
	}
	if len(out) > 0 {
		return out, nil
	}
	rule := "another owner or admin of this tenant"
	if set.ApproverMinAge > 0 {
		rule += " who has been a member for at least " + hoursText(set.ApproverMinAge)
	}
	msg := "Nobody can approve this request: it must be decided by " + rule + " and whom you did not invite."
	if len(why) > 0 {
		msg += " Not yet able to: " + strings.Join(why, "; ") + "."
	}
	msg += " Invite another admin first (Members), or ask an owner to."
	return nil, &keysvc.ValidationError{Field: "approval", Message: msg}
}

// hoursText writes a whole number of hours in words.
func hoursText(d time.Duration) string {
	h := int(d / time.Hour)
	if h == 1 {
		return "1 hour"
	}
	return strconv.Itoa(h) + " hours"
}
