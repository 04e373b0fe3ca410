package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"keyport/handlers/oidcrp"
	"keyport/models"
)

// checkSubjectChange stops a new subject whose verified email already
// belongs to a user of the same issuer from silently becoming a second user
// (with a new empty tenant, cut off from the old one). Depending on
// Config.LinkChangedSubject the old user is moved to the new subject, with
// an audit event, or the sign-in is refused with whom to contact.
func (h *Handler) checkSubjectChange(c echo.Context, ident *oidcrp.Identity) error {
	ctx := c.Request().Context()
	_, err := h.db.FindOIDCUser(ctx, ident.Issuer, ident.Subject)
	if err == nil {
		return nil
	}
	if !errors.Is(err, models.ErrNotFound) {
		return fmt.Errorf("find user: %w", err)
	}
	same, err := h.db.UsersWithEmail(ctx, ident.Issuer, ident.Email)
	if err != nil {
		return err
	}
	if len(same) == 0 {
		return nil
	}
	if !h.cfg.LinkChangedSubject || len(same) > 1 {
		return refuse("subject_changed", http.StatusForbidden, "Your account needs attention",
			"Your identity provider now identifies "+ident.Email+" with a different account id than before. So that nobody else can take over the keyport account of that address, keyport did not sign you in. "+h.contact()+
				" and ask them to link your new identity-provider account to your keyport account.")
	}
	old := same[0]
	tenantID := ""
	if ts, err := h.db.TenantsForUser(ctx, old.ID); err == nil && len(ts) > 0 {
		tenantID = ts[0].Tenant.ID
	}
	err = h.db.LinkSubject(ctx, old.ID, ident.Issuer, ident.Subject, models.AuditInput{TenantID: tenantID, Actor: old.ID,
		Action: "user.subject_linked", TargetType: "user", TargetID: old.ID, RequestID: RequestID(c),
		Details: map[string]string{"email": ident.Email, "old_subject": old.Subject, "new_subject": ident.Subject}})
	if err != nil {
		return fmt.Errorf("link changed subject: %w", err)
	}
	h.log.Info("linked a changed oidc subject", "request_id", RequestID(c), "user_id", old.ID)
	return nil
}

// contact names who can help with an account: the provider's operators
// when configured.
func (h *Handler) contact() string {
	if len(h.cfg.Operators) > 0 {
		return "Contact the keyport operator (" + strings.Join(h.cfg.Operators, ", ") + ")"
	}
	return "Contact the keyport operator of your organisation"
}
