package managed

import (
	"context"
	"errors"
	"strconv"
	"time"

	"keyport/keysvc"
	"keyport/models"
)

// Provider settings that require a second admin's approval.
const (
	SettingApproveExport = "approval_export"
	SettingApproveDelete = "approval_delete"
	approvalTTL          = 24 * time.Hour
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

// SetApprovalSettings stores the operator's approval settings.
func (s *Service) SetApprovalSettings(ctx context.Context, by keysvc.RequestBy, export, del bool) error {
	e, d := strconv.FormatBool(export), strconv.FormatBool(del)
	_, err := s.db.SetProviderSettings(ctx, map[string]string{SettingApproveExport: e, SettingApproveDelete: d},
		by.Audit("provider.approval_settings_changed", map[string]string{"export": e, "delete": d}))
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
	a := &models.Approval{TenantID: tenantID, KeyID: keyID, Action: action, RequestedBy: by.UserID}
	return a, s.db.CreateApproval(ctx, a, approvalTTL, by.Audit("key.approval_requested", nil))
}

// DecideApproval approves or denies another admin's request.
func (s *Service) DecideApproval(ctx context.Context, tenantID string, by keysvc.RequestBy, id string, approve bool) (*models.Approval, error) {
	a, err := s.db.DecideApproval(ctx, tenantID, id, by.UserID, approve, by.Audit("key.approval_decided", nil))
	if errors.Is(err, models.ErrConflict) {
		return nil, &keysvc.ValidationError{Field: "approval", Message: "this request is not pending any more, has expired, or is your own"}
	}
	return a, err
}

// consumeApproval uses up the approval an action needs, if the provider
// requires one.
func (s *Service) consumeApproval(ctx context.Context, tenantID string, by keysvc.RequestBy, keyID, action, id string) error {
	need, err := s.ApprovalRequired(ctx, action)
	if err != nil || !need {
		return err
	}
	if id == "" {
		return ErrApprovalRequired
	}
	if err := s.db.ConsumeApproval(ctx, tenantID, id, keyID, action, by.UserID); err != nil {
		if errors.Is(err, models.ErrConflict) {
			return ErrApprovalRequired
		}
		return err
	}
	return nil
}
