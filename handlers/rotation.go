package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"keyport/keysvc"
	"keyport/keysvc/awskms"
	"keyport/keysvc/rotation"
	"keyport/models"
	"keyport/views"
)

// rotationFlashes are the fixed texts a "done" query parameter may select.
var rotationFlashes = map[string]string{
	"policy":     "Rotation policy saved; the next rotation and its notices are planned.",
	"rotated":    "Key rotated: new encryptions use the new data-key version.",
	"kms":        "KMS key material rotated: new encryptions use a new data-key version wrapped under it.",
	"already":    "This key was already rotated from that version; nothing more was done.",
	"queued":     "The rotation is under way; reload in a moment to see the new version.",
	"postponed":  "Rotation postponed; its notices moved with it.",
	"ack":        "Notice acknowledged.",
	"defaults":   "Default rotation policy saved; it applies to keys that get a policy from now on.",
	"calendar":   "New calendar feed address made; the old one, if any, no longer works.",
	"calrevoked": "Calendar feed stopped.",
	"bound":      "Postponement bound saved.",
}

// errNoScheduler answers rotation routes in a process without a scheduler.
var errNoScheduler = &PublicError{Status: http.StatusServiceUnavailable, Heading: "Rotation unavailable",
	Message: "Rotation scheduling is not running in this keyport process."}

// scheduler returns the rotation scheduler or the error to show.
func (h *Handler) scheduler() (*rotation.Scheduler, error) {
	if h.rot == nil {
		return nil, errNoScheduler
	}
	return h.rot, nil
}

// rotationSchedule builds the rotation partial of the viewer's key k, for
// the key page (views.RotationPanel) and the rotation page.
func (h *Handler) rotationSchedule(ctx context.Context, v *Viewer, k *models.Key) (views.RotationSchedule, error) {
	s, err := h.scheduler()
	if err != nil {
		return views.RotationSchedule{}, err
	}
	p, err := s.Policy(ctx, v.Tenant.ID, k.ID)
	if err != nil {
		return views.RotationSchedule{}, err
	}
	r := views.RotationSchedule{KeyID: k.ID, KeyName: k.Name, CanManage: v.can(ActManageNotices) && v.can(ActManageKeys),
		CanRotate: s.CanRotate(k.Mode) && k.State == models.StateEnabled && !k.TenantDataKeys, CurrentVersion: k.CurrentVersion,
		NextRotationAt: p.NextRotationAt, Overdue: !p.NextRotationAt.After(h.now()), Automatic: p.Automatic, PeriodDays: p.PeriodDays,
		NoticeDays: rotation.ParseNoticeList(p.NoticeDays), WindowStartHour: p.WindowStartHour, WindowHours: p.WindowHours,
		OnDemand: p.KMSRotateOnDemand, PostponedDays: p.PostponedDays, MaxPostpone: max(s.MaxPostponeDays(ctx)-p.PostponedDays, 0)}
	ns, err := h.db.KeyNotices(ctx, v.Tenant.ID, k.ID, 50)
	if err != nil {
		return r, err
	}
	names := map[string]string{}
	for _, n := range ns {
		row := views.NoticeRow{ID: n.ID, Label: noticeLabel(n), DueAt: n.DueAt, SentAt: n.SentAt, Acknowledged: n.AcknowledgedAt != nil}
		if n.AcknowledgedBy != "" {
			row.AcknowledgedBy = h.userLabel(ctx, v.Tenant.ID, n.AcknowledgedBy, names)
		}
		if n.State == models.NoticePlanned {
			r.Planned = append([]views.NoticeRow{row}, r.Planned...) // soonest first
		} else {
			r.Sent = append(r.Sent, row)
		}
	}
	return r, nil
}

// userLabel names a member for the schedule, caching per page.
func (h *Handler) userLabel(ctx context.Context, tenantID, userID string, cache map[string]string) string {
	if l, ok := cache[userID]; ok {
		return l
	}
	l := "a former member"
	if ms, err := h.db.ListMembers(ctx, tenantID); err == nil {
		for _, m := range ms {
			cache[m.UserID] = personLabel(m.Name, m.Email)
		}
		if got, ok := cache[userID]; ok {
			l = got
		}
	}
	cache[userID] = l
	return l
}

// noticeLabel says what a notice is about, for the schedule.
func noticeLabel(n models.Notice) string {
	switch n.Kind {
	case models.NoticeBeforeRotation:
		return "notice " + views.DayCount(n.LeadDays) + " before the rotation"
	case models.NoticeConfirm:
		return "rotation due: confirmation requested"
	case models.NoticeRotated:
		return "key rotated"
	case models.NoticeMaterialExpiring:
		return "key material expires in " + views.DayCount(n.LeadDays)
	case models.NoticeHealth:
		if n.Detail == string(models.HealthMaterialExpired) && n.RotationAt != nil {
			return "key material expired"
		}
		return "key cannot be used: " + n.Detail
	}
	return n.Kind
}

// RotationPage is a key's rotation page: schedule, policy form, versions.
func (h *Handler) RotationPage(c echo.Context) error {
	v := viewerFrom(c)
	m := views.RotationPage{Flash: rotationFlashes[c.QueryParam("done")]}
	if n, err := strconv.ParseInt(c.QueryParam("version"), 10, 64); err == nil && n > 0 && c.QueryParam("done") == "kms" {
		m.Flash = "KMS key material rotated: data-key version " + strconv.FormatInt(n, 10) +
			" is now current, wrapped under the new material; earlier versions still decrypt."
	}
	return h.renderRotation(c, v, http.StatusOK, m, nil)
}

func (h *Handler) renderRotation(c echo.Context, v *Viewer, status int, m views.RotationPage, form *views.PolicyForm) error {
	ctx := c.Request().Context()
	k, err := h.db.GetKey(ctx, v.Tenant.ID, c.Param("key_id"))
	if err != nil {
		return err
	}
	if m.Panel, err = h.rotationSchedule(ctx, v, k); err != nil {
		return err
	}
	// Modes 2 and 3 rotate their KMS material in place from the key page.
	m.Panel.CanRotateKMS = m.Panel.CanManage && m.Panel.CanRotate && k.Mode == models.ModeCMK
	m.KMSOnDemand = k.Mode == models.ModeCMK
	if form != nil {
		m.Form = *form
	} else {
		r := m.Panel
		m.Form = views.PolicyForm{PeriodDays: strconv.Itoa(r.PeriodDays), NoticeDays: rotation.NoticeList(r.NoticeDays),
			WindowStartHour: strconv.Itoa(r.WindowStartHour), WindowHours: strconv.Itoa(r.WindowHours), Automatic: r.Automatic, OnDemand: r.OnDemand}
	}
	vs, err := h.db.DataKeyVersions(ctx, v.Tenant.ID, m.Panel.KeyID)
	if err != nil {
		return err
	}
	for _, dv := range vs {
		m.Versions = append(m.Versions, views.KeyVersionRow{Version: dv.Version, Reason: dv.Reason, CreatedAt: dv.CreatedAt,
			Current: dv.Version == m.Panel.CurrentVersion})
	}
	return render(c, status, views.RotationKeyPage(h.page(c, "Rotation of "+m.Panel.KeyName, "rotations"), m))
}

// policyForm reads the policy form.
func policyForm(c echo.Context) (views.PolicyForm, rotation.PolicyInput) {
	f := views.PolicyForm{PeriodDays: c.FormValue("period_days"), NoticeDays: c.FormValue("notice_days"),
		WindowStartHour: c.FormValue("window_start_hour"), WindowHours: c.FormValue("window_hours"),
		Automatic: c.FormValue("automatic") == "true", OnDemand: c.FormValue("kms_rotate_on_demand") == "true", Errors: map[string]string{}}
	return f, rotation.PolicyInput{PeriodDays: f.PeriodDays, NoticeDays: f.NoticeDays, Automatic: f.Automatic,
		WindowStartHour: f.WindowStartHour, WindowHours: f.WindowHours, KMSRotateOnDemand: f.OnDemand}
}

// SaveRotationPolicy replaces a key's rotation policy.
func (h *Handler) SaveRotationPolicy(c echo.Context) error {
	v := viewerFrom(c)
	s, err := h.scheduler()
	if err != nil {
		return err
	}
	f, in := policyForm(c)
	_, err = s.SetPolicy(c.Request().Context(), v.Tenant.ID, c.Param("key_id"), h.by(c), in)
	var ve *keysvc.ValidationError
	if errors.As(err, &ve) {
		f.Errors[ve.Field] = ve.Message
		return h.renderRotation(c, v, http.StatusUnprocessableEntity, views.RotationPage{}, &f)
	}
	if err != nil {
		return fmt.Errorf("save rotation policy: %w", err)
	}
	return c.Redirect(http.StatusSeeOther, "/keys/"+c.Param("key_id")+"/rotation?done=policy")
}

// RotateNow rotates a key now. The form carries the version the page
// showed, so a double click (or a click racing the schedule) is one
// rotation.
func (h *Handler) RotateNow(c echo.Context) error {
	v := viewerFrom(c)
	s, err := h.scheduler()
	if err != nil {
		return err
	}
	from, _ := strconv.ParseInt(c.FormValue("from_version"), 10, 64)
	res, err := s.RequestRotation(c.Request().Context(), v.Tenant.ID, c.Param("key_id"), h.by(c), max(from, 0))
	if rf := (*rotation.RotationFailedError)(nil); errors.As(err, &rf) {
		return h.renderRotation(c, v, http.StatusUnprocessableEntity, views.RotationPage{Error: rotationFailure(rf)}, nil)
	}
	if err != nil {
		return rotationRefused(err, c.Param("key_id"))
	}
	return c.Redirect(http.StatusSeeOther, "/keys/"+c.Param("key_id")+"/rotation?done="+rotationOutcome(res, "rotated"))
}

// rotationFailure is what the rotation page says of a rotation that failed.
func rotationFailure(rf *rotation.RotationFailedError) string {
	if rf.Final {
		return "The rotation failed, and keyport made no new data-key version: " + rf.Reason
	}
	return "The rotation failed, and keyport made no new data-key version yet; it will try again by itself. Last error: " + rf.Reason
}

// rotationOutcome is the rotation page's "done" code for a rotation
// request: rotated when the rotation ran now, "already" when it had run
// before, "queued" while it is still running or waiting to retry.
func rotationOutcome(res *rotation.RotationResult, rotated string) string {
	switch {
	case res.Already:
		return "already"
	case res.State == models.JobDone:
		return rotated
	}
	return "queued"
}

// RotateKMSMaterial has KMS rotate a customer-managed key's material on
// demand and starts a new data-key version under it. Like RotateNow, the
// form carries the version the page showed, so a double click is one
// rotation. A refusal by KMS is shown on the rotation page in keyport's
// words (rotation.KMSMaterialError); no new data-key version was made then.
func (h *Handler) RotateKMSMaterial(c echo.Context) error {
	v := viewerFrom(c)
	s, err := h.scheduler()
	if err != nil {
		return err
	}
	from, _ := strconv.ParseInt(c.FormValue("from_version"), 10, 64)
	res, err := s.RequestKMSRotation(c.Request().Context(), v.Tenant.ID, c.Param("key_id"), h.by(c), max(from, 0))
	var ke *rotation.KMSMaterialError
	if errors.As(err, &ke) {
		m := views.RotationPage{Error: "KMS did not rotate the key material, and keyport made no new data-key version. " + ke.Message}
		return h.renderRotation(c, v, http.StatusUnprocessableEntity, m, nil)
	}
	if rf := (*rotation.RotationFailedError)(nil); errors.As(err, &rf) {
		return h.renderRotation(c, v, http.StatusUnprocessableEntity, views.RotationPage{Error: rotationFailure(rf)}, nil)
	}
	if err != nil {
		return rotationRefused(err, c.Param("key_id"))
	}
	done := rotationOutcome(res, "kms&version="+strconv.FormatInt(res.Version, 10))
	return c.Redirect(http.StatusSeeOther, "/keys/"+c.Param("key_id")+"/rotation?done="+done)
}

// rotationRefused shows a request the scheduler refused (a validation
// error) with a way back to the schedule; HandleError answers the rest.
func rotationRefused(err error, keyID string) error {
	var ve *keysvc.ValidationError
	if errors.As(err, &ve) {
		return &PublicError{Status: http.StatusUnprocessableEntity, Heading: "Cannot do that", Message: ve.Message, Err: err,
			Action: &views.Link{Label: "Back to the rotation schedule", Href: "/keys/" + keyID + "/rotation"}}
	}
	return fmt.Errorf("rotation: %w", err)
}

// PostponeRotation moves a key's next rotation (and its notices) later.
func (h *Handler) PostponeRotation(c echo.Context) error {
	v := viewerFrom(c)
	s, err := h.scheduler()
	if err != nil {
		return err
	}
	days, err := strconv.Atoi(c.FormValue("days"))
	if err != nil {
		days = 0 // the scheduler refuses it with the allowed range
	}
	if _, err := s.Postpone(c.Request().Context(), v.Tenant.ID, c.Param("key_id"), h.by(c), days); err != nil {
		return rotationRefused(err, c.Param("key_id"))
	}
	return c.Redirect(http.StatusSeeOther, "/keys/"+c.Param("key_id")+"/rotation?done=postponed")
}

// AcknowledgeNotice records that the viewer read a notice of the key.
func (h *Handler) AcknowledgeNotice(c echo.Context) error {
	v := viewerFrom(c)
	s, err := h.scheduler()
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	n, err := h.db.GetNotice(ctx, v.Tenant.ID, c.Param("notice_id"))
	if err != nil || n.KeyID != c.Param("key_id") {
		return fmt.Errorf("acknowledge notice: %w", models.ErrNotFound)
	}
	if err := s.Acknowledge(ctx, v.Tenant.ID, n.ID, h.by(c)); err != nil {
		return fmt.Errorf("acknowledge notice: %w", err)
	}
	return c.Redirect(http.StatusSeeOther, "/keys/"+n.KeyID+"/rotation?done=ack")
}

// rotateRequest is the body of POST /api/v1/keys/:key_id/rotate.
type rotateRequest struct {
	Tenant      string `json:"tenant,omitempty"`
	FromVersion int64  `json:"from_version,omitempty"` // the version the caller saw; 0: the current one
}

// rotateResponse is its answer.
type rotateResponse struct {
	KeyID   string `json:"key_id"`
	Version int64  `json:"key_version"`
	State   string `json:"state"` // "rotated", "already_rotated" or "in_progress"
}

// APIRotateKey is POST /api/v1/keys/:key_id/rotate for the provider's
// services: a forced rotation, collapsed with any other request to rotate
// away from the same version. It runs behind API.Authenticate.
func (h *Handler) APIRotateKey(c echo.Context) error {
	var req rotateRequest
	if c.Request().ContentLength != 0 { // an empty body means "the current version"
		if err := DecodeJSON(c, &req); err != nil {
			return WriteAPIError(c, h.log, err)
		}
	}
	tenantID, err := TenantFor(c, req.Tenant)
	if err != nil {
		return WriteAPIError(c, h.log, err)
	}
	s, err := h.scheduler()
	if err != nil {
		return WriteAPIError(c, h.log, awskms.ErrUnavailable)
	}
	res, err := s.RequestRotation(c.Request().Context(), tenantID, c.Param("key_id"),
		keysvc.RequestBy{UserID: "service_token:" + ServiceTokenID(c), RequestID: RequestID(c)}, max(req.FromVersion, 0))
	if err != nil {
		return WriteAPIError(c, h.log, err)
	}
	out := rotateResponse{KeyID: c.Param("key_id"), Version: res.Version, State: "in_progress"}
	switch {
	case res.Already:
		out.State = "already_rotated"
	case res.State == models.JobDone:
		out.State = "rotated"
	}
	status := http.StatusOK
	if out.State == "in_progress" {
		status = http.StatusAccepted
	}
	return c.JSON(status, out)
}
