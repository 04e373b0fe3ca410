package handlers

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"keyport/keysvc/webhooks"
	"keyport/models"
	"keyport/views"
)

// webhookForm is the create and edit form of an endpoint.
type webhookForm struct {
	URL    string   `form:"url"`
	Events []string `form:"events"`
}

// webhookEventDescriptions say in a few words when each event is sent.
var webhookEventDescriptions = map[string]string{
	models.WebhookKeyRotated:           "a key got a new version or new material",
	models.WebhookKeyRenewed:           "a key was renewed (new KMS key, alias moved)",
	models.WebhookKeyStatusChanged:     "a key was activated, deactivated, scheduled for deletion, restored or deleted",
	models.WebhookKeyDeactivated:       "a key was deactivated",
	models.WebhookKeyDeletionScheduled: "a key was scheduled for deletion",
	models.WebhookNoticeDue:            "a rotation or expiry notice fell due",
	models.WebhookMemberAdded:          "a member joined the tenant",
	models.WebhookMemberRemoved:        "a member left or was removed",
	models.WebhookApprovalRequested:    "an export or deletion needs another admin's approval",
	models.WebhookTest:                 "sent by \"Send test event\" only",
}

func webhookEventTypes() []views.WebhookEventType {
	out := make([]views.WebhookEventType, 0, len(models.WebhookEventTypes))
	for _, e := range webhooks.Events() {
		out = append(out, views.WebhookEventType{Name: e, Description: webhookEventDescriptions[e]})
	}
	return out
}

func webhookRow(e *models.WebhookEndpoint) views.WebhookRow {
	return views.WebhookRow{ID: e.ID, URL: e.URL, Events: e.Events, Enabled: e.Enabled, CreatedAt: e.CreatedAt}
}

// HasWebhooks reports whether the handlers have a webhook service (the
// webhook pages are served only then).
func (h *Handler) HasWebhooks() bool { return h.hooks != nil }

// Webhooks lists the tenant's webhook endpoints.
func (h *Handler) Webhooks(c echo.Context) error {
	return h.renderWebhooks(c, http.StatusOK, views.WebhookForm{}, nil)
}

func (h *Handler) renderWebhooks(c echo.Context, status int, form views.WebhookForm, created *views.WebhookSecret) error {
	v := viewerFrom(c)
	eps, err := h.hooks.List(c.Request().Context(), v.Tenant.ID)
	if err != nil {
		return fmt.Errorf("list webhooks: %w", err)
	}
	w := views.WebhooksPage{CanManage: v.can(ActManageSettings), Form: form, Created: created, EventTypes: webhookEventTypes()}
	for i := range eps {
		w.Endpoints = append(w.Endpoints, webhookRow(&eps[i]))
	}
	p := h.page(c, "Webhooks", "webhooks")
	if c.Request().Method == http.MethodGet && c.QueryParam("done") == "deleted" {
		p.Flash = "Webhook endpoint deleted."
	}
	return render(c, status, views.WebhooksListPage(p, w))
}

// CreateWebhook registers an endpoint and shows its secret once, on this
// response only (never in a flash cookie or a URL).
func (h *Handler) CreateWebhook(c echo.Context) error {
	var f webhookForm
	if err := c.Bind(&f); err != nil {
		return badForm(err)
	}
	form := views.WebhookForm{URL: f.URL, Events: f.Events}
	e, secret, err := h.hooks.CreateEndpoint(c.Request().Context(), viewerFrom(c).Tenant.ID, h.by(c), f.URL, f.Events)
	if fe := fieldErrors(err); fe != nil {
		form.Errors = fe
		return h.renderWebhooks(c, http.StatusUnprocessableEntity, form, nil)
	}
	if err != nil {
		return fmt.Errorf("create webhook: %w", err)
	}
	return h.renderWebhooks(c, http.StatusOK, views.WebhookForm{}, &views.WebhookSecret{EndpointID: e.ID, URL: e.URL, Secret: secret})
}

// Webhook shows one endpoint with its deliveries.
func (h *Handler) Webhook(c echo.Context) error {
	return h.renderWebhook(c, http.StatusOK, nil, "")
}

func (h *Handler) renderWebhook(c echo.Context, status int, form *views.WebhookForm, secret string) error {
	v := viewerFrom(c)
	ctx := c.Request().Context()
	e, err := h.hooks.Get(ctx, v.Tenant.ID, c.Param("webhook_id"))
	if err != nil {
		return fmt.Errorf("get webhook: %w", err)
	}
	ds, err := h.hooks.ListDeliveries(ctx, v.Tenant.ID, e.ID, 50)
	if err != nil {
		return fmt.Errorf("list webhook deliveries: %w", err)
	}
	d := views.WebhookDetail{Endpoint: webhookRow(e), CanManage: v.can(ActManageSettings), Secret: secret, EventTypes: webhookEventTypes(),
		Form: views.WebhookForm{URL: e.URL, Events: e.Events}}
	if form != nil {
		d.Form = *form
	}
	for _, x := range ds {
		r := views.WebhookDeliveryRow{ID: x.ID, EventType: x.EventType, State: x.State, CreatedAt: x.CreatedAt, NextAttemptAt: x.NextAttemptAt}
		for _, a := range x.AttemptList {
			r.Attempts = append(r.Attempts, views.WebhookAttemptRow{Number: a.Number, At: a.AttemptedAt, Status: a.StatusCode, Error: a.Error, DurationMS: a.DurationMS})
		}
		d.Deliveries = append(d.Deliveries, r)
	}
	p := h.page(c, "Webhook", "webhooks")
	if c.Request().Method == http.MethodGet {
		p.Flash = map[string]string{
			"test":     "Test event queued: it appears below once delivered (usually within a few seconds).",
			"updated":  "Endpoint saved.",
			"enabled":  "Endpoint enabled.",
			"disabled": "Endpoint disabled: no events are sent to it, and deliveries waiting for it are dropped.",
		}[c.QueryParam("done")]
	}
	return render(c, status, views.WebhookPage(p, d))
}

// UpdateWebhook changes an endpoint's URL and events.
func (h *Handler) UpdateWebhook(c echo.Context) error {
	var f webhookForm
	if err := c.Bind(&f); err != nil {
		return badForm(err)
	}
	events := f.Events
	if events == nil {
		events = []string{} // nothing checked: refused, not "unchanged"
	}
	_, err := h.hooks.Update(c.Request().Context(), viewerFrom(c).Tenant.ID, h.by(c), c.Param("webhook_id"),
		webhooks.Update{URL: &f.URL, Events: events})
	if fe := fieldErrors(err); fe != nil {
		return h.renderWebhook(c, http.StatusUnprocessableEntity, &views.WebhookForm{URL: f.URL, Events: f.Events, Errors: fe}, "")
	}
	if err != nil {
		return fmt.Errorf("update webhook: %w", err)
	}
	return c.Redirect(http.StatusSeeOther, "/webhooks/"+c.Param("webhook_id")+"?done=updated")
}

// SetWebhookEnabled enables or disables an endpoint.
func (h *Handler) SetWebhookEnabled(c echo.Context) error {
	var on bool
	switch c.FormValue("enabled") {
	case "true":
		on = true
	case "false":
	default:
		return &PublicError{Status: http.StatusBadRequest, Heading: "Bad request", Message: "Choose to enable or disable the endpoint."}
	}
	if _, err := h.hooks.Update(c.Request().Context(), viewerFrom(c).Tenant.ID, h.by(c), c.Param("webhook_id"), webhooks.Update{Enabled: &on}); err != nil {
		return fmt.Errorf("set webhook enabled: %w", err)
	}
	done := "disabled"
	if on {
		done = "enabled"
	}
	return c.Redirect(http.StatusSeeOther, "/webhooks/"+c.Param("webhook_id")+"?done="+done)
}

// SendWebhookTest queues a webhook.test event to the endpoint.
func (h *Handler) SendWebhookTest(c echo.Context) error {
	err := h.hooks.SendTest(c.Request().Context(), viewerFrom(c).Tenant.ID, h.by(c), c.Param("webhook_id"))
	if errors.Is(err, webhooks.ErrEndpointDisabled) {
		return &PublicError{Status: http.StatusConflict, Heading: "Endpoint disabled", Message: "Enable the endpoint to send it a test event.",
			Action: &views.Link{Label: "Back to the endpoint", Href: "/webhooks/" + c.Param("webhook_id")}, Err: err}
	}
	if err != nil {
		return fmt.Errorf("send webhook test: %w", err)
	}
	return c.Redirect(http.StatusSeeOther, "/webhooks/"+c.Param("webhook_id")+"?done=test")
}

// RotateWebhookSecret replaces the signing secret and shows the new one
// once, on this response only.
func (h *Handler) RotateWebhookSecret(c echo.Context) error {
	secret, err := h.hooks.RotateSecret(c.Request().Context(), viewerFrom(c).Tenant.ID, h.by(c), c.Param("webhook_id"))
	if err != nil {
		return fmt.Errorf("rotate webhook secret: %w", err)
	}
	return h.renderWebhook(c, http.StatusOK, nil, secret)
}

// ConfirmDeleteWebhook asks before deleting an endpoint.
func (h *Handler) ConfirmDeleteWebhook(c echo.Context) error {
	e, err := h.hooks.Get(c.Request().Context(), viewerFrom(c).Tenant.ID, c.Param("webhook_id"))
	if err != nil {
		return fmt.Errorf("get webhook: %w", err)
	}
	return render(c, http.StatusOK, views.DeleteWebhookPage(h.page(c, "Delete webhook", "webhooks"), webhookRow(e)))
}

// DeleteWebhook deletes an endpoint and its deliveries.
func (h *Handler) DeleteWebhook(c echo.Context) error {
	if err := h.hooks.Delete(c.Request().Context(), viewerFrom(c).Tenant.ID, h.by(c), c.Param("webhook_id")); err != nil {
		return fmt.Errorf("delete webhook: %w", err)
	}
	return c.Redirect(http.StatusSeeOther, "/webhooks?done=deleted")
}
