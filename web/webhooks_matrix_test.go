package web_test

import (
	"context"
	"fmt"
	"net/url"
	"testing"

	"keyport/keysvc/webhooks"
	"keyport/models"
)

// webhookMarker is in tenant A's endpoint URL: no other tenant may see it.
const webhookMarker = "hooks.example.com/alpha-matrix"

// webhookParam is tenant A's webhook endpoint for :webhook_id, enabled;
// made again when a permitted cell deleted it.
func (w *matrixWorld) webhookParam(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	eps, err := w.s.Hooks.List(ctx, w.tenantA)
	if err != nil {
		t.Fatal(err)
	}
	if len(eps) == 0 {
		ep, _, err := w.s.Hooks.CreateEndpoint(ctx, w.tenantA, w.byOwner(), "https://"+webhookMarker,
			[]string{models.WebhookKeyRotated, models.WebhookMemberAdded})
		if err != nil {
			t.Fatal(err)
		}
		if !contains(w.secretMarkers, webhookMarker) {
			w.secretMarkers = append(w.secretMarkers, webhookMarker)
		}
		return ep.ID
	}
	if !eps[0].Enabled {
		on := true
		if _, err := w.s.Hooks.Update(ctx, w.tenantA, w.byOwner(), eps[0].ID, webhooks.Update{Enabled: &on}); err != nil {
			t.Fatal(err)
		}
	}
	return eps[0].ID
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// webhookForm is a complete endpoint form (a public name: the stack
// resolves *.example.com to a documentation address).
func webhookForm(t *testing.T, w *matrixWorld, p persona, params map[string]string, form url.Values) {
	w.seq++
	form.Set("url", fmt.Sprintf("https://hooks.example.com/matrix-%d", w.seq))
	form["events"] = []string{models.WebhookKeyRotated, models.WebhookTest}
}

func init() {
	fixtures["POST /webhooks"] = webhookForm
	fixtures["POST /webhooks/:webhook_id"] = webhookForm
	fixtures["POST /webhooks/:webhook_id/enabled"] = func(t *testing.T, w *matrixWorld, p persona, params map[string]string, form url.Values) {
		form.Set("enabled", "true")
	}
}
