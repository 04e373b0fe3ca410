package manageapi

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"keyport/handlers"
	"keyport/keysvc/webhooks"
	"keyport/models"
)

// Webhook is a webhook endpoint as the API shows it: never its secret.
type Webhook struct {
	ID        string    `json:"id"`
	URL       string    `json:"url"`
	Events    []string  `json:"events"`
	Enabled   bool      `json:"enabled"`
	CreatedAt time.Time `json:"created_at"`
}

// WebhookCreated is the answer of POST /webhooks: the endpoint and its
// signing secret, shown this once.
type WebhookCreated struct {
	Webhook
	Secret string `json:"secret" doc:"whsec_...: verify each delivery's webhook-signature with it (Standard Webhooks); shown only in this answer"`
}

// WebhookCreate is the body of POST /webhooks.
type WebhookCreate struct {
	URL    string   `json:"url"`
	Events []string `json:"events"`
}

// WebhookPatch is the body of PATCH /webhooks/{id}; fields left out stay.
type WebhookPatch struct {
	URL     *string  `json:"url,omitempty"`
	Events  []string `json:"events,omitempty"`
	Enabled *bool    `json:"enabled,omitempty"`
}

// WebhookSecret is the answer of POST /webhooks/{id}/rotate-secret.
type WebhookSecret struct {
	Secret string `json:"secret"`
}

// WebhookDelivery is one event sent (or being sent) to an endpoint, with
// each attempt.
type WebhookDelivery struct {
	ID        string           `json:"id" doc:"the webhook-id header"`
	Event     string           `json:"event"`
	State     string           `json:"state"`
	Attempts  []WebhookAttempt `json:"attempts"`
	CreatedAt time.Time        `json:"created_at"`
}

// WebhookAttempt is one try of a delivery.
type WebhookAttempt struct {
	Number     int       `json:"number"`
	At         time.Time `json:"at"`
	StatusCode int       `json:"status_code" doc:"the receiver's HTTP status; 0 when there was none"`
	Error      string    `json:"error"`
	DurationMS int64     `json:"duration_ms"`
}

func webhookOut(e *models.WebhookEndpoint) Webhook {
	evs := e.Events
	if evs == nil {
		evs = []string{}
	}
	return Webhook{ID: e.ID, URL: e.URL, Events: evs, Enabled: e.Enabled, CreatedAt: e.CreatedAt}
}

func (a *API) webhookOps() []Operation {
	if a.hooks == nil {
		return nil
	}
	return []Operation{
		{Method: http.MethodPost, Path: "/webhooks", ID: "createWebhook", Tag: "webhooks", Act: handlers.ActManageSettings,
			Summary: "Register an HTTPS endpoint for events (key.rotated, key.renewed, key.status_changed, key.deactivated, key.deletion_scheduled, notice.due, member.added, member.removed, approval.requested, webhook.test). Private, loopback, link-local and cloud-metadata addresses are refused. The signing secret is in this answer only.",
			Request: WebhookCreate{}, Response: WebhookCreated{}, Status: http.StatusCreated, Handler: a.createWebhook},
		{Method: http.MethodGet, Path: "/webhooks", ID: "listWebhooks", Tag: "webhooks", Act: handlers.ActViewTenant,
			Summary: "List the tenant's webhook endpoints.", Query: pageParams, Response: List[Webhook]{}, Handler: a.listWebhooks},
		{Method: http.MethodGet, Path: "/webhooks/:id", ID: "getWebhook", Tag: "webhooks", Act: handlers.ActViewTenant,
			Summary: "One webhook endpoint.", Response: Webhook{}, Handler: a.getWebhook},
		{Method: http.MethodPatch, Path: "/webhooks/:id", ID: "updateWebhook", Tag: "webhooks", Act: handlers.ActManageSettings,
			Summary: "Change an endpoint's URL, events, or enable or disable it.", Request: WebhookPatch{}, Response: Webhook{}, Handler: a.updateWebhook},
		{Method: http.MethodDelete, Path: "/webhooks/:id", ID: "deleteWebhook", Tag: "webhooks", Act: handlers.ActManageSettings,
			Summary: "Delete an endpoint; its pending deliveries are dropped.", Status: http.StatusNoContent, Handler: a.deleteWebhook},
		{Method: http.MethodPost, Path: "/webhooks/:id/test", ID: "testWebhook", Tag: "webhooks", Act: handlers.ActManageSettings,
			Summary: "Send a webhook.test event to the endpoint (delivered through the outbox like any event).", Status: http.StatusAccepted, Handler: a.testWebhook},
		{Method: http.MethodPost, Path: "/webhooks/:id/rotate-secret", ID: "rotateWebhookSecret", Tag: "webhooks", Act: handlers.ActManageSettings,
			Summary: "Replace the endpoint's signing secret; the new one is in this answer only.", Response: WebhookSecret{}, Handler: a.rotateWebhookSecret},
		{Method: http.MethodGet, Path: "/webhooks/:id/deliveries", ID: "listWebhookDeliveries", Tag: "webhooks", Act: handlers.ActViewTenant,
			Summary: "The endpoint's deliveries, newest first, with each attempt's status.", Query: pageParams, Response: List[WebhookDelivery]{}, Handler: a.listWebhookDeliveries},
	}
}

func (a *API) createWebhook(c echo.Context) error {
	var in WebhookCreate
	if err := bind(c, &in); err != nil {
		return err
	}
	e, secret, err := a.hooks.CreateEndpoint(c.Request().Context(), tenant(c), by(c), in.URL, in.Events)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, WebhookCreated{Webhook: webhookOut(e), Secret: secret})
}

func (a *API) listWebhooks(c echo.Context) error {
	es, err := a.hooks.List(c.Request().Context(), tenant(c))
	if err != nil {
		return err
	}
	out := make([]Webhook, 0, len(es))
	for i := range es {
		out = append(out, webhookOut(&es[i]))
	}
	return page(c, out, func(w Webhook) string { return w.ID })
}

func (a *API) getWebhook(c echo.Context) error {
	e, err := a.hooks.Get(c.Request().Context(), tenant(c), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, webhookOut(e))
}

func (a *API) updateWebhook(c echo.Context) error {
	var in WebhookPatch
	if err := bind(c, &in); err != nil {
		return err
	}
	e, err := a.hooks.Update(c.Request().Context(), tenant(c), by(c), c.Param("id"), webhooks.Update{URL: in.URL, Events: in.Events, Enabled: in.Enabled})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, webhookOut(e))
}

func (a *API) deleteWebhook(c echo.Context) error {
	if err := a.hooks.Delete(c.Request().Context(), tenant(c), by(c), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (a *API) testWebhook(c echo.Context) error {
	if err := a.hooks.SendTest(c.Request().Context(), tenant(c), by(c), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusAccepted)
}

func (a *API) rotateWebhookSecret(c echo.Context) error {
	secret, err := a.hooks.RotateSecret(c.Request().Context(), tenant(c), by(c), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, WebhookSecret{Secret: secret})
}

func (a *API) listWebhookDeliveries(c echo.Context) error {
	n, err := limit(c)
	if err != nil {
		return err
	}
	ds, next, err := a.hooks.ListDeliveriesPage(c.Request().Context(), tenant(c), c.Param("id"), c.QueryParam("cursor"), n)
	if err != nil {
		return err
	}
	out := List[WebhookDelivery]{Items: make([]WebhookDelivery, 0, len(ds)), NextCursor: next}
	for _, d := range ds {
		wd := WebhookDelivery{ID: d.ID, Event: d.EventType, State: d.State, CreatedAt: d.CreatedAt, Attempts: []WebhookAttempt{}}
		for _, at := range d.AttemptList {
			wd.Attempts = append(wd.Attempts, WebhookAttempt{Number: at.Number, At: at.AttemptedAt, StatusCode: at.StatusCode, Error: at.Error, DurationMS: at.DurationMS})
		}
		out.Items = append(out.Items, wd)
	}
	return c.JSON(http.StatusOK, out)
}
