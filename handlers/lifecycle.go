package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"keyport/keysvc"
	"keyport/keysvc/managed"
	"keyport/models"
	"keyport/views"
)

// lifecycleFlashes are the fixed texts a "done" query parameter may select
// on the key page after a lifecycle action.
var lifecycleFlashes = map[string]string{
	"create":     "Key created: new material imported into a new KMS key in your account, the alias points at it, and it passed validation.",
	"renew":      "Key renewed: new material in a new KMS key, the alias moved to it. The previous KMS key stays enabled, so older data still decrypts.",
	"undo":       "Renewal undone: the alias points at the previous KMS key again (checked first), and new data is encrypted under it.",
	"rotate":     "Material rotated in place: KMS now uses the new material under the same key ARN and alias; the earlier material still decrypts.",
	"reupload":   "Material re-uploaded into its KMS key and checked.",
	"running":    "The operation is under way or waiting to retry (KMS did not answer); it resumes by itself, and this page follows its step below until it is done.",
	"failed":     "The operation failed and was rolled back: see Operations below for why. Nothing half-done was left in KMS.",
	"off":        "Key deactivated: keyport stopped using it at once on every replica, and its KMS keys are disabled.",
	"on":         "Key activated: its KMS keys are enabled and keyport uses it again.",
	"scheduled":  "Deletion scheduled: keyport no longer uses the key. You can cancel until the date shown.",
	"cancelled":  "Deletion cancelled: the key is deactivated; activate it to use it again.",
	"drift":      "Compared with KMS just now.",
	"already":    "Nothing was done twice: the key had already changed since the page you submitted from (an earlier submit of the same form did it). Its current state is below.",
	"reconciled": "Difference reconciled and compared with KMS again.",
	"requested":  "Approval requested: another admin of this tenant can approve it on this key's page within 24 hours. Every owner is emailed about the request and the decision.",
	"decided":    "Decision recorded.",
}

// heldFlashes replace lifecycleFlashes for a key whose material keyport
// keeps (it has no KMS key to speak of).
var heldFlashes = map[string]string{
	"create": "Key created: keyport sealed your key and wraps this key's data keys under it; nothing was imported into KMS.",
	"off":    "Key deactivated: keyport stopped using it at once on every replica.",
	"on":     "Key activated: keyport uses it again.",
}

// customerFlashes replace lifecycleFlashes for a registered customer-managed
// key: keyport never changes it in KMS.
var customerFlashes = map[string]string{
	"off":          "Key deactivated: keyport stopped using it at once on every replica. Your KMS key was left as it is.",
	"on":           "Key activated: keyport uses it again.",
	"deregistered": "Key deregistered: keyport stopped using it at once on every replica. The KMS key stays in your account, untouched.",
}

// opDoneFlashes names the flash of an operation kind whose success reads
// differently from its kind.
var opDoneFlashes = map[string]string{models.OpDelete: "scheduled", models.OpDeactivate: "off"}

// opRedirect sends the user to the key page with the operation's outcome.
func opRedirect(c echo.Context, res *managed.OperationResult) error {
	done := "running"
	switch {
	case res.Done():
		done = res.Op.Kind
		if f, ok := opDoneFlashes[done]; ok {
			done = f
		}
	case res.Op.State == models.OpFailed:
		done = "failed"
	}
	return c.Redirect(http.StatusSeeOther, "/keys/"+res.Op.KeyID+"?done="+done)
}

// keyOp runs a lifecycle operation named by the route on the tenant's key.
// A repeated submit of a confirmed form (see submittedTwice) and a submit
// while an operation runs show the key and its running operation instead
// of acting twice or answering 409.
func (h *Handler) keyOp(c echo.Context, f func(ctx context.Context, tenantID string, by keysvc.RequestBy, keyID string) (*managed.OperationResult, error)) error {
	v := viewerFrom(c)
	ctx := c.Request().Context()
	k, err := h.db.GetKey(ctx, v.Tenant.ID, c.Param("key_id"))
	if err != nil {
		return err
	}
	if submittedTwice(c, k) {
		return c.Redirect(http.StatusSeeOther, "/keys/"+k.ID+"?done=already")
	}
	res, err := f(ctx, v.Tenant.ID, h.by(c), k.ID)
	if errors.Is(err, managed.ErrOperationRunning) && c.FormValue("from_version") != "" {
		return c.Redirect(http.StatusSeeOther, "/keys/"+k.ID+"?done=running")
	}
	if err != nil {
		return fmt.Errorf("key operation: %w", err)
	}
	return opRedirect(c, res)
}

// RenewKey renews a keyport-managed key.
func (h *Handler) RenewKey(c echo.Context) error { return h.keyOp(c, h.mgd.Renew) }

// UndoRenewal moves the alias back to the previous KMS key.
func (h *Handler) UndoRenewal(c echo.Context) error { return h.keyOp(c, h.mgd.UndoRenewal) }

// RotateMaterial rotates a key's material in place.
func (h *Handler) RotateMaterial(c echo.Context) error {
	return h.keyOp(c, h.mgd.RotateMaterialInPlace)
}

// ReuploadKey re-imports a key's material into its KMS key.
func (h *Handler) ReuploadKey(c echo.Context) error {
	return h.keyOp(c, func(ctx context.Context, t string, by keysvc.RequestBy, k string) (*managed.OperationResult, error) {
		return h.mgd.Reupload(ctx, t, by, k, c.FormValue("material_id"))
	})
}

// keyAction runs a one-step lifecycle action and shows the outcome.
func (h *Handler) keyAction(c echo.Context, done string, f func(ctx context.Context, tenantID string, by keysvc.RequestBy, keyID string) error) error {
	if err := f(c.Request().Context(), viewerFrom(c).Tenant.ID, h.by(c), c.Param("key_id")); err != nil {
		return fmt.Errorf("key action: %w", err)
	}
	return c.Redirect(http.StatusSeeOther, "/keys/"+c.Param("key_id")+"?done="+done)
}

// DeactivateKey disables a key in keyport and KMS, once its name was typed
// on the confirmation (an outage for the tenant's data). A key already
// deactivated (a repeated submit) is shown as it is.
func (h *Handler) DeactivateKey(c echo.Context) error {
	v := viewerFrom(c)
	k, err := h.db.GetKey(c.Request().Context(), v.Tenant.ID, c.Param("key_id"))
	if err != nil {
		return err
	}
	if k.State == models.StateDisabled {
		return c.Redirect(http.StatusSeeOther, "/keys/"+k.ID+"?done=already")
	}
	if !typedNameMatches(c, k.Name) {
		return h.renderKeyConfirm(c, http.StatusUnprocessableEntity, "deactivate", map[string]string{
			views.ConfirmField: "Type the key's name exactly as shown to deactivate it."})
	}
	return h.keyOp(c, h.mgd.Deactivate)
}

// ActivateKey enables a key again; a key already enabled (a repeated
// submit) is shown as it is.
func (h *Handler) ActivateKey(c echo.Context) error {
	v := viewerFrom(c)
	k, err := h.db.GetKey(c.Request().Context(), v.Tenant.ID, c.Param("key_id"))
	if err != nil {
		return err
	}
	if k.State == models.StateEnabled {
		return c.Redirect(http.StatusSeeOther, "/keys/"+k.ID+"?done=already")
	}
	return h.keyAction(c, "on", h.mgd.Activate)
}

// CancelKeyDeletion cancels a scheduled deletion.
func (h *Handler) CancelKeyDeletion(c echo.Context) error {
	return h.keyAction(c, "cancelled", func(ctx context.Context, t string, by keysvc.RequestBy, k string) error {
		_, err := h.mgd.CancelDeletion(ctx, t, by, k)
		return err
	})
}

// CheckKeyDrift compares a key with KMS now.
func (h *Handler) CheckKeyDrift(c echo.Context) error {
	return h.keyAction(c, "drift", func(ctx context.Context, t string, by keysvc.RequestBy, k string) error {
		_, err := h.mgd.CheckDrift(ctx, t, by, k)
		return err
	})
}

// ReconcileKeyDrift applies one reconciliation of a difference.
func (h *Handler) ReconcileKeyDrift(c echo.Context) error {
	return h.keyAction(c, "reconciled", func(ctx context.Context, t string, by keysvc.RequestBy, k string) error {
		return h.mgd.ReconcileDrift(ctx, t, by, k, c.FormValue("field"), c.FormValue("action"))
	})
}

// RequestApproval asks another admin to approve an export or deletion.
func (h *Handler) RequestApproval(c echo.Context) error {
	return h.keyAction(c, "requested", func(ctx context.Context, t string, by keysvc.RequestBy, k string) error {
		_, err := h.mgd.RequestApproval(ctx, t, by, k, c.FormValue("action"))
		return err
	})
}

// DecideApproval approves or denies another admin's request.
func (h *Handler) DecideApproval(c echo.Context) error {
	v := viewerFrom(c)
	if _, err := h.db.GetKey(c.Request().Context(), v.Tenant.ID, c.Param("key_id")); err != nil {
		return err
	}
	_, err := h.mgd.DecideApproval(c.Request().Context(), v.Tenant.ID, h.by(c), c.Param("key_id"), c.Param("approval_id"), c.FormValue("decision") == "approve")
	if err != nil {
		return fmt.Errorf("decide approval: %w", err)
	}
	return c.Redirect(http.StatusSeeOther, "/keys/"+c.Param("key_id")+"?done=decided")
}

// ConfirmDeleteKey shows what deleting the key means before it happens.
func (h *Handler) ConfirmDeleteKey(c echo.Context) error {
	return h.renderDeleteKey(c, http.StatusOK, "30", nil)
}

func (h *Handler) renderDeleteKey(c echo.Context, status int, window string, errs map[string]string) error {
	v := viewerFrom(c)
	ctx := c.Request().Context()
	k, err := h.db.GetKey(ctx, v.Tenant.ID, c.Param("key_id"))
	if err != nil {
		return err
	}
	mk, err := h.db.GetManagedKey(ctx, v.Tenant.ID, k.ID)
	if err != nil {
		return managed.ErrNotManaged
	}
	n, err := h.db.CountDataKeyVersions(ctx, v.Tenant.ID, k.ID)
	if err != nil {
		return err
	}
	d := views.DeleteKeyConfirm{KeyID: k.ID, KeyName: k.Name, Alias: mk.AliasName, Versions: n, WindowDays: window, Errors: errs}
	if d.NeedApproval, err = h.mgd.ApprovalRequired(ctx, models.ApprovalDelete); err != nil {
		return err
	}
	ms, err := h.db.KeyMaterials(ctx, v.Tenant.ID, k.ID)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if m.State == models.MaterialActive || m.State == models.MaterialPrevious {
			d.KMSKeys = append(d.KMSKeys, m.KMSKeyARN)
		}
	}
	if d.Approvals, err = h.approvalRows(ctx, v, k.ID); err != nil {
		return err
	}
	return render(c, status, views.DeleteKeyPage(h.page(c, "Delete "+k.Name, "keys"), d))
}

// DeleteKey schedules a key's deletion after its confirmation.
func (h *Handler) DeleteKey(c echo.Context) error {
	v := viewerFrom(c)
	k, err := h.db.GetKey(c.Request().Context(), v.Tenant.ID, c.Param("key_id"))
	if err != nil {
		return err
	}
	if k.State == models.StatePendingDeletion {
		return c.Redirect(http.StatusSeeOther, "/keys/"+k.ID+"?done=already") // a repeated submit
	}
	days, _ := strconv.Atoi(c.FormValue("window_days"))
	res, err := h.mgd.ScheduleDeletion(c.Request().Context(), v.Tenant.ID, h.by(c), k.ID, managed.DeleteInput{
		WindowDays: days, Acknowledge: c.FormValue("acknowledge") == "true", ApprovalID: c.FormValue("approval_id")})
	var dep *managed.DependencyError
	if err != nil && scheduledMeanwhile(c, h.db, v.Tenant.ID, k.ID) {
		return c.Redirect(http.StatusSeeOther, "/keys/"+k.ID+"?done=already") // a second submit raced the first
	}
	switch errs := fieldErrors(err); {
	case errors.Is(err, managed.ErrOperationRunning):
		return c.Redirect(http.StatusSeeOther, "/keys/"+k.ID+"?done=running")
	case errors.As(err, &dep):
		return h.renderDeleteKey(c, http.StatusUnprocessableEntity, c.FormValue("window_days"), map[string]string{"acknowledge": fmt.Sprintf(
			"%d data-key version(s) depend on this key: data under them becomes unreadable. Tick the box to confirm you accept that.", dep.Versions)})
	case errs != nil:
		return h.renderDeleteKey(c, http.StatusUnprocessableEntity, c.FormValue("window_days"), errs)
	case err != nil:
		return fmt.Errorf("schedule deletion: %w", err)
	}
	return opRedirect(c, res)
}

// scheduledMeanwhile reports whether the key became PENDING_DELETION
// while this request ran: two submits of one confirmation race, and the
// one that loses sees the key as the winner left it.
func scheduledMeanwhile(c echo.Context, db *models.DB, tenantID, keyID string) bool {
	k, err := db.GetKey(c.Request().Context(), tenantID, keyID)
	return err == nil && k.State == models.StatePendingDeletion
}

// approvalRows lists a key's approvals for the viewer.
func (h *Handler) approvalRows(ctx context.Context, v *Viewer, keyID string) ([]views.ApprovalRow, error) {
	as, err := h.db.KeyApprovals(ctx, v.Tenant.ID, keyID)
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	out := make([]views.ApprovalRow, 0, len(as))
	for _, a := range as {
		state := a.State
		if state == models.ApprovalPending || state == models.ApprovalApproved {
			if !h.now().Before(a.ExpiresAt) {
				state = "expired"
			}
		}
		out = append(out, views.ApprovalRow{ID: a.ID, Action: a.Action, State: state, RequestedBy: h.userLabel(ctx, v.Tenant.ID, a.RequestedBy, names),
			Mine: a.RequestedBy == v.User.ID, ExpiresAt: a.ExpiresAt})
	}
	return out, nil
}

// OperatorLifecycle lists drifted keys across tenants and the approval
// settings.
func (h *Handler) OperatorLifecycle(c echo.Context) error {
	ctx := c.Request().Context()
	ds, err := h.db.KeyDrifts(ctx, "", "")
	if err != nil {
		return err
	}
	m := views.OperatorLifecycle{}
	for _, d := range ds {
		m.Drift = append(m.Drift, views.OperatorDriftRow{TenantID: d.TenantID, KeyID: d.KeyID, Field: d.Field, Recorded: d.Recorded, Actual: d.Actual, DetectedAt: d.DetectedAt})
	}
	set, err := h.mgd.GetApprovalSettings(ctx)
	if err != nil {
		return err
	}
	m.ApproveExport, m.ApproveDelete, m.ApproverMFA = set.Export, set.Delete, set.ApproverMFA
	m.ApproverMinHours = int(set.ApproverMinAge / time.Hour)
	return render(c, http.StatusOK, views.OperatorLifecyclePage(h.page(c, "Key drift and approvals", "operator-lifecycle"), m))
}

// SaveApprovalSettings stores whether exports and deletions need a second
// admin's approval, and who may give it.
func (h *Handler) SaveApprovalSettings(c echo.Context) error {
	in := managed.ApprovalSettings{Export: c.FormValue("approve_export") == "true", Delete: c.FormValue("approve_delete") == "true",
		ApproverMinAge: managed.DefaultApproverMinAge, ApproverMFA: c.FormValue("approver_mfa") == "true"}
	if text := strings.TrimSpace(c.FormValue("approver_min_hours")); text != "" { // empty: the default
		hours, err := strconv.Atoi(text)
		if err != nil {
			return &keysvc.ValidationError{Field: "approver_min_hours", Message: "give whole hours from 0 to 8760"}
		}
		in.ApproverMinAge = time.Duration(hours) * time.Hour
	}
	if err := h.mgd.SetApprovalSettings(c.Request().Context(), h.by(c), in); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/operator/lifecycle")
}

// keyLifecycle builds the key page's lifecycle section; nil for a key
// whose material keyport does not hold.
func (h *Handler) keyLifecycle(ctx context.Context, v *Viewer, k *models.Key) (*views.KeyLifecycle, error) {
	mk, err := h.db.GetManagedKey(ctx, v.Tenant.ID, k.ID)
	if errors.Is(err, models.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	l := &views.KeyLifecycle{Mode: string(k.Mode), State: string(k.State), StoreID: mk.StoreID, Alias: mk.AliasName, ValidDays: mk.ValidDays,
		AutoReupload: mk.AutoReupload, Held: mk.Held, CanManage: v.can(ActManageKeys), CanExport: v.can(ActExportKeys)}
	if k.State == models.StatePendingDeletion || k.State == models.StateDeleted {
		l.DeletionAt = mk.DeletionAt
	}
	if st, err := h.db.GetKeyStore(ctx, v.Tenant.ID, mk.StoreID); err == nil {
		l.StoreName = st.Name
	}
	ms, err := h.db.KeyMaterials(ctx, v.Tenant.ID, k.ID)
	if err != nil {
		return nil, err
	}
	var active *models.KeyMaterial
	for i, m := range ms {
		l.Materials = append(l.Materials, views.MaterialRow{ID: m.ID, Source: m.Source, Fingerprint: m.Fingerprint, KMSKeyARN: m.KMSKeyARN,
			State: m.State, Seq: m.Seq, ValidTo: m.ValidTo})
		if m.State == models.MaterialActive {
			active = &ms[i]
		}
	}
	if active != nil && !mk.Held {
		if l.CanUndo, err = h.mgd.CanUndo(ctx, v.Tenant.ID, k.ID); err != nil {
			return nil, err
		}
	}
	ops, err := h.db.KeyOperations(ctx, v.Tenant.ID, k.ID, 10)
	if err != nil {
		return nil, err
	}
	for _, o := range ops {
		l.Operations = append(l.Operations, views.OperationRow{ID: o.ID, Kind: o.Kind, Step: o.Step, State: o.State, Detail: o.Detail, At: o.CreatedAt})
	}
	ds, err := h.db.KeyDrifts(ctx, v.Tenant.ID, k.ID)
	if err != nil {
		return nil, err
	}
	for _, d := range ds {
		adopt, restore := views.DriftActions(d.Field)
		l.Drift = append(l.Drift, views.DriftRow{Field: d.Field, Recorded: d.Recorded, Actual: d.Actual, Adopt: adopt, Restore: restore})
	}
	if l.Approvals, err = h.approvalRows(ctx, v, k.ID); err != nil {
		return nil, err
	}
	return l, nil
}
