package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"keyport/handlers/oidcrp"
	"keyport/models"
	"keyport/views"
)

// authTimeUnknown is the session's AuthTime when the provider sent no
// auth_time: the Unix epoch, long enough ago never to count as a recent
// sign-in (the sessions table requires a time).
var authTimeUnknown = time.Unix(0, 0).UTC()

// stepUpSkew is how far the provider's clock may lag keyport's: a step-up's
// authentication may be stamped at most this long before the step-up
// started. (A person cannot complete a sign-in in less, so nothing older
// than the step-up itself gets through.)
const stepUpSkew = 30 * time.Second

// checkStepUp decides a step-up sign-in (signInAgain): the same user as the
// one who asked, authenticated at the provider after the step-up started.
// A provider that answers from its session, or sends no auth_time, gets a
// page that says so, never another redirect (which looped before).
func (h *Handler) checkStepUp(ctx context.Context, flow *models.LoginFlow, ident *oidcrp.Identity) error {
	u, err := h.db.FindOIDCUser(ctx, ident.Issuer, ident.Subject)
	if err != nil && !errors.Is(err, models.ErrNotFound) {
		return fmt.Errorf("find step-up user: %w", err)
	}
	if u == nil || u.ID != flow.StepUpUserID {
		return stepUpRefused("step_up_other_user", "Signed in as someone else",
			"keyport asked you to sign in again, and your identity provider answered for a different account. Nothing changed: you are still signed in to keyport as before. To export, sign in again as yourself.")
	}
	if ident.AuthTime.IsZero() {
		return stepUpRefused("step_up_no_auth_time", "Fresh sign-in cannot be confirmed",
			"Exporting key material needs a sign-in from the last few minutes, and your identity provider does not say when you signed in (its ID token carries no auth_time claim), so keyport cannot confirm one. Nothing was exported. Please tell the keyport operator: the identity provider must send auth_time (see docs/sign-in.md).")
	}
	if ident.AuthTime.Before(flow.CreatedAt.Add(-stepUpSkew)) {
		return stepUpRefused("step_up_not_fresh", "Fresh sign-in required",
			"Exporting key material needs you to sign in again, but your identity provider answered with your earlier sign-in of "+
				ident.AuthTime.UTC().Format("2006-01-02 15:04 UTC")+" instead of asking for your credentials. Nothing was exported. Try again; if it keeps happening, please tell the keyport operator that the identity provider ignores max_age=0 and prompt=login (see docs/sign-in.md).")
	}
	return nil
}

func stepUpRefused(reason, heading, message string) *signInRefused {
	return &signInRefused{reason: reason, problem: &PublicError{Status: http.StatusForbidden, Heading: heading, Message: message,
		Action: &views.Link{Label: "Back to the dashboard", Href: "/dashboard"}}}
}
