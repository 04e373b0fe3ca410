package manageapi

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"keyport/handlers"
	"keyport/keysvc/rotation"
	"keyport/models"
)

// RotationPolicy is a key's rotation schedule, as the rotation page shows
// and saves it.
type RotationPolicy struct {
	KeyID             string    `json:"key_id"`
	PeriodDays        int       `json:"period_days"`
	NoticeDays        []int     `json:"notice_days" doc:"days before the rotation a notice goes out, largest first"`
	Automatic         bool      `json:"automatic" doc:"false: an owner or admin confirms each rotation"`
	WindowStartHour   int       `json:"window_start_hour" doc:"the preferred window's first hour, UTC"`
	WindowHours       int       `json:"window_hours"`
	KMSRotateOnDemand bool      `json:"kms_rotate_on_demand" doc:"a registered key's KMS material is rotated with each rotation too"`
	NextRotationAt    time.Time `json:"next_rotation_at"`
	PostponedDays     int       `json:"postponed_days" doc:"postponement used in this cycle"`
	MaxPostponeDays   int       `json:"max_postpone_days" doc:"how many more days this rotation may be postponed"`
}

// RotationPolicyPut is the body of PUT /keys/{id}/rotation-policy. Saving
// plans the next rotation from the last one and ends postponements.
type RotationPolicyPut struct {
	PeriodDays        int   `json:"period_days" doc:"1 to 2560"`
	NoticeDays        []int `json:"notice_days" doc:"up to 5 lead times, each at least 1 and less than period_days"`
	Automatic         bool  `json:"automatic"`
	WindowStartHour   *int  `json:"window_start_hour,omitempty" doc:"0-23 UTC; 0 when omitted"`
	WindowHours       *int  `json:"window_hours,omitempty" doc:"1-24; 24 when omitted"`
	KMSRotateOnDemand bool  `json:"kms_rotate_on_demand,omitempty"`
}

// Postpone is the body of POST /keys/{id}/postpone.
type Postpone struct {
	Days int `json:"days" doc:"days to move the next rotation (and its notices) later, within the provider's bound"`
}

// Notice is a notice about a key to the tenant's owners and admins.
type Notice struct {
	ID             string     `json:"id"`
	KeyID          string     `json:"key_id"`
	Kind           string     `json:"kind" doc:"before_rotation, confirm_rotation, rotated, health or material_expiring"`
	State          string     `json:"state" doc:"planned (not sent yet) or sent"`
	DueAt          time.Time  `json:"due_at"`
	SentAt         *time.Time `json:"sent_at"`
	RotationAt     *time.Time `json:"rotation_at"`
	LeadDays       int        `json:"lead_days"`
	Detail         string     `json:"detail,omitempty"`
	AcknowledgedAt *time.Time `json:"acknowledged_at"`
}

func (a *API) rotationOps() []Operation {
	return []Operation{
		{Method: http.MethodGet, Path: "/keys/:id/rotation-policy", ID: "getRotationPolicy", Tag: "rotation", Act: handlers.ActViewTenant,
			Summary: "The key's rotation policy and its next rotation.", Response: RotationPolicy{}, Handler: a.getRotationPolicy},
		{Method: http.MethodPut, Path: "/keys/:id/rotation-policy", ID: "putRotationPolicy", Tag: "rotation", Act: handlers.ActManageKeys,
			Summary: "Replace the key's rotation policy; the next rotation is planned from the last one (postponements end).",
			Request: RotationPolicyPut{}, Response: RotationPolicy{}, Handler: a.putRotationPolicy},
		{Method: http.MethodPost, Path: "/keys/:id/postpone", ID: "postponeRotation", Tag: "rotation", Act: handlers.ActManageNotices,
			Summary: "Move the key's next rotation and its notices later.", Request: Postpone{}, Response: RotationPolicy{}, Handler: a.postponeRotation},
		{Method: http.MethodGet, Path: "/notices", ID: "listNotices", Tag: "rotation", Act: handlers.ActViewTenant,
			Summary:  "The tenant's open notices: planned or sent, not acknowledged yet; soonest due first.",
			Query:    append([]Param{{Name: "state", Description: "planned or sent: only notices in that state."}}, pageParams...),
			Response: List[Notice]{}, Handler: a.listNotices},
		{Method: http.MethodPost, Path: "/notices/:id/acknowledge", ID: "acknowledgeNotice", Tag: "rotation", Act: handlers.ActManageNotices,
			Summary: "Record that the notice was read (again: nothing changes).", Response: Notice{}, Handler: a.acknowledgeNotice},
	}
}

func noticeOut(n *models.Notice) Notice {
	return Notice{ID: n.ID, KeyID: n.KeyID, Kind: n.Kind, State: n.State, DueAt: n.DueAt, SentAt: n.SentAt, RotationAt: n.RotationAt,
		LeadDays: n.LeadDays, Detail: n.Detail, AcknowledgedAt: n.AcknowledgedAt}
}

// scheduler is the rotation scheduler, or the answer when this process
// runs none.
func (a *API) scheduler() (*rotation.Scheduler, error) {
	if a.rot == nil {
		return nil, errNoLifecycle
	}
	return a.rot, nil
}

// policyOut answers a key's policy.
func (a *API) policyOut(c echo.Context, p *models.RotationPolicy) error {
	left := max(a.rot.MaxPostponeDays(c.Request().Context())-p.PostponedDays, 0)
	return c.JSON(http.StatusOK, RotationPolicy{KeyID: p.KeyID, PeriodDays: p.PeriodDays, NoticeDays: rotation.ParseNoticeList(p.NoticeDays),
		Automatic: p.Automatic, WindowStartHour: p.WindowStartHour, WindowHours: p.WindowHours, KMSRotateOnDemand: p.KMSRotateOnDemand,
		NextRotationAt: p.NextRotationAt, PostponedDays: p.PostponedDays, MaxPostponeDays: left})
}

func (a *API) getRotationPolicy(c echo.Context) error {
	s, err := a.scheduler()
	if err != nil {
		return err
	}
	p, err := s.Policy(c.Request().Context(), tenant(c), c.Param("id"))
	if err != nil {
		return keyErr(err)
	}
	return a.policyOut(c, p)
}

func (a *API) putRotationPolicy(c echo.Context) error {
	var in RotationPolicyPut
	if err := bind(c, &in); err != nil {
		return err
	}
	s, err := a.scheduler()
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if _, err := a.db.GetKey(ctx, tenant(c), c.Param("id")); err != nil {
		return keyErr(err)
	}
	pi := rotation.PolicyInput{PeriodDays: strconv.Itoa(in.PeriodDays), Automatic: in.Automatic, KMSRotateOnDemand: in.KMSRotateOnDemand}
	days := make([]string, 0, len(in.NoticeDays))
	for _, d := range in.NoticeDays {
		days = append(days, strconv.Itoa(d))
	}
	pi.NoticeDays = strings.Join(days, ",")
	if in.WindowStartHour != nil {
		pi.WindowStartHour = strconv.Itoa(*in.WindowStartHour)
	}
	if in.WindowHours != nil {
		pi.WindowHours = strconv.Itoa(*in.WindowHours)
	}
	p, err := s.SetPolicy(ctx, tenant(c), c.Param("id"), by(c), pi)
	if err != nil {
		return keyErr(err)
	}
	return a.policyOut(c, p)
}

func (a *API) postponeRotation(c echo.Context) error {
	var in Postpone
	if err := bind(c, &in); err != nil {
		return err
	}
	s, err := a.scheduler()
	if err != nil {
		return err
	}
	p, err := s.Postpone(c.Request().Context(), tenant(c), c.Param("id"), by(c), in.Days)
	if err != nil {
		return keyErr(err)
	}
	return a.policyOut(c, p)
}

func (a *API) listNotices(c echo.Context) error {
	state := c.QueryParam("state")
	if state != "" && state != models.NoticePlanned && state != models.NoticeSent {
		return badRequest("state", "must be planned or sent")
	}
	ns, err := a.db.OpenNotices(c.Request().Context(), tenant(c))
	if err != nil {
		return err
	}
	out := make([]Notice, 0, len(ns))
	for i := range ns {
		if state == "" || ns[i].State == state {
			out = append(out, noticeOut(&ns[i]))
		}
	}
	// Paged by due date, then id: the order the tenant acts in.
	return page(c, out, func(n Notice) string { return n.DueAt.UTC().Format("20060102T150405.000000000") + "/" + n.ID })
}

func (a *API) acknowledgeNotice(c echo.Context) error {
	s, err := a.scheduler()
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	n, err := a.db.GetNotice(ctx, tenant(c), c.Param("id"))
	if errors.Is(err, models.ErrNotFound) || (err == nil && n.State == models.NoticeCancelled) {
		return notFound("notice")
	}
	if err != nil {
		return err
	}
	if err := s.Acknowledge(ctx, tenant(c), n.ID, by(c)); err != nil {
		return err
	}
	if n, err = a.db.GetNotice(ctx, tenant(c), n.ID); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, noticeOut(n))
}
