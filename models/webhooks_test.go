package models

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
)

// webhookSetup is tenant A with three endpoints (subscribed to
// member.added; to key.rotated only; subscribed but disabled) and tenant
// B with one subscribed to member.added.
func webhookSetup(t *testing.T) (db *DB, a, b *Tenant, owner *User, eps map[string]string) {
	t.Helper()
	db, _ = openTestDB(t)
	owner = mustUser(t, db, "owner")
	other := mustUser(t, db, "other")
	a, b = mustTenant(t, db, "A", owner), mustTenant(t, db, "B", other)
	ctx := context.Background()
	eps = map[string]string{}
	for _, e := range []struct {
		name    string
		tenant  string
		events  []string
		enabled bool
	}{
		{"members", a.ID, []string{WebhookMemberAdded, WebhookMemberRemoved}, true},
		{"keys", a.ID, []string{WebhookKeyRotated}, true},
		{"disabled", a.ID, []string{WebhookMemberAdded}, false},
		{"other", b.ID, []string{WebhookMemberAdded}, true},
	} {
		ep := &WebhookEndpoint{ID: NewID("whe_"), TenantID: e.tenant, URL: "https://hooks.example.com/" + e.name, Events: e.events,
			SecretSealed: []byte("sealed"), Enabled: e.enabled}
		if err := db.CreateWebhookEndpoint(ctx, ep, AuditInput{Actor: owner.ID, Action: "webhook.endpoint_created"}); err != nil {
			t.Fatal(err)
		}
		eps[e.name] = ep.ID
	}
	return db, a, b, owner, eps
}

func countDeliveries(t *testing.T, db *DB, tenantID, endpointID string) []WebhookDelivery {
	t.Helper()
	ds, err := db.ListWebhookDeliveries(context.Background(), tenantID, endpointID, 100)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func TestWebhookOutboxFollowsSubscriptions(t *testing.T) {
	db, a, b, owner, eps := webhookSetup(t)
	ctx := context.Background()
	bob := mustUser(t, db, "bob")
	if err := db.AddMember(ctx, a.ID, bob.ID, RoleAuditor, owner.ID, AuditInput{Actor: owner.ID}); err != nil {
		t.Fatal(err)
	}
	ds := countDeliveries(t, db, a.ID, eps["members"])
	if len(ds) != 1 || ds[0].EventType != WebhookMemberAdded || ds[0].State != WebhookPending {
		t.Fatalf("subscribed endpoint got %+v", ds)
	}
	for _, name := range []string{"keys", "disabled"} {
		if n := len(countDeliveries(t, db, a.ID, eps[name])); n != 0 {
			t.Errorf("endpoint %s got %d deliveries", name, n)
		}
	}
	if n := len(countDeliveries(t, db, b.ID, eps["other"])); n != 0 {
		t.Errorf("another tenant's endpoint got %d deliveries", n)
	}
	// The body is the event, without secrets, and the job is queued.
	var body struct {
		Type      string
		Timestamp string
		Data      map[string]any
	}
	if err := json.Unmarshal([]byte(ds[0].Payload), &body); err != nil || body.Type != WebhookMemberAdded || body.Timestamp == "" ||
		body.Data["target_id"] != bob.ID || body.Data["tenant_id"] != a.ID {
		t.Errorf("payload %s: %v", ds[0].Payload, err)
	}
	if j, err := db.JobByRunKey(ctx, "webhook:"+ds[0].ID); err != nil || j.Kind != JobKindWebhook || j.TenantID != a.ID {
		t.Errorf("job %+v, %v", j, err)
	}

	// A change that fails writes no delivery: the outbox is in its
	// transaction.
	if err := db.AddMember(ctx, a.ID, bob.ID, RoleAdmin, owner.ID, AuditInput{Actor: owner.ID}); !errors.Is(err, ErrConflict) {
		t.Fatalf("adding twice: %v", err)
	}
	if n := len(countDeliveries(t, db, a.ID, eps["members"])); n != 1 {
		t.Errorf("a failed change left %d deliveries, want 1", n)
	}
	// A test event goes to its one endpoint, whatever it subscribes.
	if _, err := db.AppendAudit(ctx, AuditInput{TenantID: a.ID, Actor: owner.ID, Action: WebhookAuditTestSent,
		TargetType: WebhookTargetType, TargetID: eps["keys"]}); err != nil {
		t.Fatal(err)
	}
	if ds := countDeliveries(t, db, a.ID, eps["keys"]); len(ds) != 1 || ds[0].EventType != WebhookTest {
		t.Errorf("test event deliveries %+v", ds)
	}
	if n := len(countDeliveries(t, db, a.ID, eps["members"])); n != 1 {
		t.Errorf("a test event reached another endpoint")
	}
	// Another tenant can neither read nor change A's endpoints.
	if _, err := db.GetWebhookEndpoint(ctx, b.ID, eps["members"]); !errors.Is(err, ErrNotFound) {
		t.Errorf("cross-tenant get: %v", err)
	}
	off := false
	if _, err := db.UpdateWebhookEndpoint(ctx, b.ID, eps["members"], WebhookEndpointUpdate{Enabled: &off}, AuditInput{Actor: "x", Action: "x"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("cross-tenant update: %v", err)
	}
	if err := db.DeleteWebhookEndpoint(ctx, b.ID, eps["members"], AuditInput{Actor: "x", Action: "x"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("cross-tenant delete: %v", err)
	}
	// Deleting an endpoint drops its deliveries and cancels their jobs.
	if err := db.DeleteWebhookEndpoint(ctx, a.ID, eps["members"], AuditInput{Actor: owner.ID, Action: "webhook.endpoint_deleted"}); err != nil {
		t.Fatal(err)
	}
	if j, err := db.JobByRunKey(ctx, "webhook:"+ds[0].ID); err != nil || j.State != JobCancelled {
		t.Errorf("job after delete %+v, %v", j, err)
	}
}
