package manageapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"keyport/handlers"
	"keyport/keysvc"
	"keyport/keysvc/managed"
	"keyport/models"
)

// Approval is a request for a second person's approval of an export or a
// deletion of a key whose material keyport holds.
type Approval struct {
	ID          string     `json:"id"`
	KeyID       string     `json:"key_id"`
	Action      string     `json:"action" doc:"export or delete"`
	State       string     `json:"state" doc:"pending, approved, denied or executed"`
	RequestedBy string     `json:"requested_by" doc:"the user id of the person who asked (for a request made with an API key, the key's creator)"`
	DecidedBy   string     `json:"decided_by"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   time.Time  `json:"expires_at"`
	DecidedAt   *time.Time `json:"decided_at"`
}

// ApprovalRequest is the body of POST /keys/{id}/approvals.
type ApprovalRequest struct {
	Action string `json:"action" doc:"export or delete"`
}

const approvalRule = " Approvals count persons: a request or decision made with an API key counts as the key's creator's, so nobody approves their own request through a key; a key created with the keyport command belongs to no member and cannot decide."

func (a *API) approvalOps() []Operation {
	return []Operation{
		{Method: http.MethodGet, Path: "/approvals", ID: "listApprovals", Tag: "approvals", Act: handlers.ActViewTenant,
			Summary: "List the open (pending, unexpired) approval requests.", Query: pageParams, Response: List[Approval]{}, Handler: a.listApprovals},
		{Method: http.MethodPost, Path: "/approvals/:id/approve", ID: "approveApproval", Tag: "approvals", Act: handlers.ActApproveKeys,
			Summary:  "Approve another person's request; the requester may then do what they asked within 24 hours of the request." + approvalRule,
			Response: Approval{}, Handler: a.decideApproval(true)},
		{Method: http.MethodPost, Path: "/approvals/:id/reject", ID: "rejectApproval", Tag: "approvals", Act: handlers.ActApproveKeys,
			Summary: "Deny another person's request." + approvalRule, Response: Approval{}, Handler: a.decideApproval(false)},
		{Method: http.MethodPost, Path: "/keys/:id/approvals", ID: "requestApproval", Tag: "approvals", Act: handlers.ActManageKeys,
			Summary: "Ask another admin to approve an export or a deletion of a key whose material keyport holds; it expires after 24 hours." + approvalRule,
			Request: ApprovalRequest{}, Response: Approval{}, Status: http.StatusCreated, Handler: a.requestApproval},
	}
}

func approvalOut(ap *models.Approval) Approval {
	out := Approval{ID: ap.ID, KeyID: ap.KeyID, Action: ap.Action, State: ap.State, RequestedBy: ap.RequestedBy, DecidedBy: ap.DecidedBy,
		CreatedAt: ap.CreatedAt.UTC(), ExpiresAt: ap.ExpiresAt.UTC()}
	if ap.DecidedAt != nil {
		t := ap.DecidedAt.UTC()
		out.DecidedAt = &t
	}
	return out
}

func (a *API) listApprovals(c echo.Context) error {
	as, err := a.db.OpenApprovals(c.Request().Context(), tenant(c))
	if err != nil {
		return err
	}
	out := make([]Approval, 0, len(as))
	for i := range as {
		out = append(out, approvalOut(&as[i]))
	}
	return page(c, out, func(x Approval) string { return x.ID })
}

func (a *API) decideApproval(approve bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		cur, err := a.db.TenantApproval(ctx, tenant(c), c.Param("id"))
		if errors.Is(err, models.ErrNotFound) {
			return notFound("approval")
		}
		if err != nil {
			return err
		}
		ap, err := a.mgd.DecideApproval(ctx, tenant(c), by(c), cur.KeyID, cur.ID, approve)
		if err != nil {
			return approvalErr(err)
		}
		return c.JSON(http.StatusOK, approvalOut(ap))
	}
}

func (a *API) requestApproval(c echo.Context) error {
	var in ApprovalRequest
	if err := bind(c, &in); err != nil {
		return err
	}
	ap, err := a.mgd.RequestApproval(c.Request().Context(), tenant(c), by(c), c.Param("id"), in.Action)
	if err != nil {
		return approvalErr(err)
	}
	return c.JSON(http.StatusCreated, approvalOut(ap))
}

// approvalErr answers the refusals of approvals: a missing or another
// tenant's key is 404, a key keyport holds no material of 409, an
// ineligible decider or a request that is not pending any more 409.
func approvalErr(err error) error {
	var ve *keysvc.ValidationError
	switch {
	case errors.Is(err, keysvc.ErrKeyNotFound), errors.Is(err, models.ErrNotFound):
		return notFound("key")
	case errors.Is(err, managed.ErrNotManaged):
		return &handlers.APIError{Status: http.StatusConflict, Code: "not_managed",
			Message: "This key's material lives only in the tenant's KMS: there is nothing to export or delete through keyport, so nothing to approve."}
	case errors.As(err, &ve) && ve.Field == "approval":
		return &handlers.APIError{Status: http.StatusConflict, Code: "approval_refused", Message: "approval: " + ve.Message}
	}
	return err
}
