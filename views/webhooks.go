package views

import "time"

// WebhooksPage is a tenant's list of webhook endpoints with the form to
// register one.
type WebhooksPage struct {
	CanManage  bool
	Form       WebhookForm
	Created    *WebhookSecret // the new endpoint's secret, on the creating response only
	Endpoints  []WebhookRow
	EventTypes []WebhookEventType
}

// WebhookForm is the endpoint form with its field errors.
type WebhookForm struct {
	URL    string
	Events []string
	Errors map[string]string
}

// Has reports whether the form has event e checked.
func (f WebhookForm) Has(e string) bool {
	for _, x := range f.Events {
		if x == e {
			return true
		}
	}
	return false
}

// WebhookSecret is a signing secret shown once, with its endpoint.
type WebhookSecret struct {
	EndpointID string
	URL        string
	Secret     string
}

// WebhookEventType is an event an endpoint may subscribe to.
type WebhookEventType struct {
	Name        string
	Description string
}

// WebhookRow is one endpoint (never its secret).
type WebhookRow struct {
	ID        string
	URL       string
	Events    []string
	Enabled   bool
	CreatedAt time.Time
}

// WebhookDetail is one endpoint's page: its settings, its deliveries
// with every attempt, and (after a rotation) the new secret once.
type WebhookDetail struct {
	Endpoint   WebhookRow
	CanManage  bool
	Secret     string
	Form       WebhookForm
	EventTypes []WebhookEventType
	Deliveries []WebhookDeliveryRow
}

// WebhookDeliveryRow is one delivery of an event to the endpoint.
type WebhookDeliveryRow struct {
	ID            string
	EventType     string
	State         string
	CreatedAt     time.Time
	NextAttemptAt *time.Time
	Attempts      []WebhookAttemptRow
}

// WebhookAttemptRow is one attempt: the receiver's status or the reason
// there was none.
type WebhookAttemptRow struct {
	Number     int
	At         time.Time
	Status     int
	Error      string
	DurationMS int64
}

// webhookStateClass is the class of a delivery state.
func webhookStateClass(state string) string {
	switch state {
	case "delivered":
		return "ok"
	case "failed":
		return "bad"
	}
	return "muted"
}
