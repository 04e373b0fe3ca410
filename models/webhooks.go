package models

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Webhook event types a tenant may subscribe an endpoint to (issue 15).
const (
	WebhookKeyRotated            = "key.rotated"
	WebhookKeyRenewed            = "key.renewed"
	WebhookKeyStatusChanged      = "key.status_changed"
	WebhookKeyDeactivated        = "key.deactivated"
	WebhookKeyDeletionScheduled  = "key.deletion_scheduled"
	WebhookNoticeDue             = "notice.due"
	WebhookMemberAdded           = "member.added"
	WebhookMemberRemoved         = "member.removed"
	WebhookApprovalRequested     = "approval.requested"
	WebhookTest                  = "webhook.test"
	webhookAuditTestSent         = "webhook.test_sent"
	webhookTargetEndpoint        = "webhook_endpoint"
	maxWebhookURL                = 2000
	webhookDeliveryMaxJobAttempt = 40
)

// WebhookEventTypes lists every event type, in the order pages show them.
var WebhookEventTypes = []string{
	WebhookKeyRotated, WebhookKeyRenewed, WebhookKeyStatusChanged, WebhookKeyDeactivated, WebhookKeyDeletionScheduled,
	WebhookNoticeDue, WebhookMemberAdded, WebhookMemberRemoved, WebhookApprovalRequested, WebhookTest,
}

// WebhookAuditTestSent is the audit action of "send test event": the one
// event that goes to a single endpoint (its target) whatever it subscribes.
const WebhookAuditTestSent = webhookAuditTestSent

// WebhookTargetType is the audit target type of webhook endpoints.
const WebhookTargetType = webhookTargetEndpoint

// webhookEventsOf maps audit actions to the webhook events they raise.
// One action may raise two: a deactivation is also a status change.
var webhookEventsOf = map[string][]string{
	"key.data_key_rotated":     {WebhookKeyRotated},
	"key.rotate_completed":     {WebhookKeyRotated},
	"key.kms_material_rotated": {WebhookKeyRotated},
	"key.data_key_uploaded":    {WebhookKeyRotated}, // a tenant-supplied data key became the next version
	"key.data_key_requested":   {WebhookNoticeDue},  // keyport asks the tenant for its next data key
	"key.renew_completed":      {WebhookKeyRenewed},
	"key.undo_completed":       {WebhookKeyStatusChanged},
	"key.activated":            {WebhookKeyStatusChanged},
	"key.deactivated":          {WebhookKeyDeactivated, WebhookKeyStatusChanged},
	"key.deletion_scheduled":   {WebhookKeyDeletionScheduled, WebhookKeyStatusChanged},
	"key.deletion_cancelled":   {WebhookKeyStatusChanged},
	"key.deleted":              {WebhookKeyStatusChanged},
	"key.drift_adopted":        {WebhookKeyStatusChanged},
	"member.added":             {WebhookMemberAdded},
	"member.joined":            {WebhookMemberAdded},
	"member.removed":           {WebhookMemberRemoved},
	"member.left":              {WebhookMemberRemoved},
	"key.approval_requested":   {WebhookApprovalRequested},
	webhookAuditTestSent:       {WebhookTest},
}

// WebhookEventsFor returns the webhook events an audit action raises.
func WebhookEventsFor(action string) []string { return webhookEventsOf[action] }

// WebhookEndpoint is a tenant's registered receiver. SecretSealed is the
// signing secret sealed by keysvc; the store never sees it in clear.
type WebhookEndpoint struct {
	ID           string
	TenantID     string
	URL          string
	Events       []string
	SecretSealed []byte
	Enabled      bool
	CreatedBy    string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// String leaves the sealed secret and the URL (which may carry a token)
// out of logs.
func (e WebhookEndpoint) String() string {
	return fmt.Sprintf("models.WebhookEndpoint{id: %s, tenant: %s, enabled: %t}", e.ID, e.TenantID, e.Enabled)
}

// LogValue redacts for slog too.
func (e WebhookEndpoint) LogValue() slog.Value { return slog.StringValue(e.String()) }

// Subscribes reports whether the endpoint wants event.
func (e *WebhookEndpoint) Subscribes(event string) bool { return slices.Contains(e.Events, event) }

// webhookEndpointRow is the table's shape: events space-separated.
type webhookEndpointRow struct {
	ID           string
	TenantID     string
	URL          string
	Events       string
	SecretSealed []byte
	Enabled      bool
	CreatedBy    string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

func (r webhookEndpointRow) endpoint() WebhookEndpoint {
	return WebhookEndpoint{ID: r.ID, TenantID: r.TenantID, URL: r.URL, Events: strings.Fields(r.Events), SecretSealed: r.SecretSealed,
		Enabled: r.Enabled, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
}

// validWebhookEvents checks a subscription list.
func validWebhookEvents(events []string) error {
	if len(events) == 0 {
		return invalid("events", "choose at least one event")
	}
	for _, e := range events {
		if !slices.Contains(WebhookEventTypes, e) {
			return invalid("events", "unknown event "+fmt.Sprintf("%q", e))
		}
	}
	return nil
}

func joinEvents(events []string) string {
	out := slices.Clone(events)
	slices.Sort(out)
	return strings.Join(slices.Compact(out), " ")
}

// CreateWebhookEndpoint stores a new endpoint (ID chosen by the caller,
// because its secret is sealed for it) with its audit event.
func (db *DB) CreateWebhookEndpoint(ctx context.Context, e *WebhookEndpoint, audit AuditInput) error {
	if e.ID == "" || e.TenantID == "" || len(e.SecretSealed) == 0 {
		return invalid("endpoint", "id, tenant and secret are required")
	}
	if e.URL == "" || len(e.URL) > maxWebhookURL {
		return invalid("url", "is required (at most 2000 characters)")
	}
	if err := validWebhookEvents(e.Events); err != nil {
		return err
	}
	return db.change(ctx, "create webhook endpoint", func(tx *gorm.DB) (*AuditInput, error) {
		now := db.now()
		e.CreatedAt, e.UpdatedAt = now, now
		row := webhookEndpointRow{ID: e.ID, TenantID: e.TenantID, URL: e.URL, Events: joinEvents(e.Events), SecretSealed: e.SecretSealed,
			Enabled: e.Enabled, CreatedBy: e.CreatedBy, CreatedAt: now, UpdatedAt: now}
		if err := tx.Table("webhook_endpoints").Create(&row).Error; err != nil {
			return nil, err
		}
		audit.TenantID, audit.TargetType, audit.TargetID = e.TenantID, webhookTargetEndpoint, e.ID
		return &audit, nil
	})
}

// ListWebhookEndpoints lists a tenant's endpoints, oldest first.
func (db *DB) ListWebhookEndpoints(ctx context.Context, tenantID string) ([]WebhookEndpoint, error) {
	var rows []webhookEndpointRow
	if err := db.g.WithContext(ctx).Table("webhook_endpoints").Where("tenant_id = ?", tenantID).Order("created_at, id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list webhook endpoints: %w", mapErr(err))
	}
	out := make([]WebhookEndpoint, len(rows))
	for i, r := range rows {
		out[i] = r.endpoint()
	}
	return out, nil
}

// GetWebhookEndpoint returns a tenant's endpoint, or ErrNotFound.
func (db *DB) GetWebhookEndpoint(ctx context.Context, tenantID, id string) (*WebhookEndpoint, error) {
	var r webhookEndpointRow
	if err := db.g.WithContext(ctx).Table("webhook_endpoints").Where("tenant_id = ? AND id = ?", tenantID, id).Take(&r).Error; err != nil {
		return nil, fmt.Errorf("get webhook endpoint: %w", mapErr(err))
	}
	e := r.endpoint()
	return &e, nil
}

// WebhookEndpointUpdate is a change to an endpoint; nil fields stay.
type WebhookEndpointUpdate struct {
	URL          *string
	Events       []string // nil: unchanged
	Enabled      *bool
	SecretSealed []byte // nil: unchanged (RotateSecret)
}

// UpdateWebhookEndpoint changes a tenant's endpoint with its audit event
// and returns it as stored.
func (db *DB) UpdateWebhookEndpoint(ctx context.Context, tenantID, id string, u WebhookEndpointUpdate, audit AuditInput) (*WebhookEndpoint, error) {
	set := map[string]any{}
	if u.URL != nil {
		if *u.URL == "" || len(*u.URL) > maxWebhookURL {
			return nil, invalid("url", "is required (at most 2000 characters)")
		}
		set["url"] = *u.URL
	}
	if u.Events != nil {
		if err := validWebhookEvents(u.Events); err != nil {
			return nil, err
		}
		set["events"] = joinEvents(u.Events)
	}
	if u.Enabled != nil {
		set["enabled"] = *u.Enabled
	}
	if u.SecretSealed != nil {
		set["secret_sealed"] = u.SecretSealed
	}
	err := db.change(ctx, "update webhook endpoint", func(tx *gorm.DB) (*AuditInput, error) {
		set["updated_at"] = db.now()
		res := tx.Table("webhook_endpoints").Where("tenant_id = ? AND id = ?", tenantID, id).Updates(set)
		if res.Error != nil {
			return nil, res.Error
		}
		if res.RowsAffected != 1 {
			return nil, ErrNotFound
		}
		audit.TenantID, audit.TargetType, audit.TargetID = tenantID, webhookTargetEndpoint, id
		return &audit, nil
	})
	if err != nil {
		return nil, err
	}
	return db.GetWebhookEndpoint(ctx, tenantID, id)
}

// DeleteWebhookEndpoint removes a tenant's endpoint with its deliveries and
// their attempts, and cancels the delivery jobs still waiting.
func (db *DB) DeleteWebhookEndpoint(ctx context.Context, tenantID, id string, audit AuditInput) error {
	return db.change(ctx, "delete webhook endpoint", func(tx *gorm.DB) (*AuditInput, error) {
		res := tx.Exec("DELETE FROM webhook_endpoints WHERE tenant_id = ? AND id = ?", tenantID, id)
		if res.Error != nil {
			return nil, res.Error
		}
		if res.RowsAffected != 1 {
			return nil, ErrNotFound
		}
		var ids []string
		if err := tx.Table("webhook_deliveries").Where("tenant_id = ? AND endpoint_id = ?", tenantID, id).Pluck("id", &ids).Error; err != nil {
			return nil, err
		}
		keys := make([]string, len(ids))
		for i, d := range ids {
			keys[i] = webhookRunKey(d)
		}
		for chunk := range slices.Chunk(keys, 500) {
			if err := cancelJobsTx(tx, db.now(), chunk); err != nil {
				return nil, err
			}
		}
		if err := tx.Exec("DELETE FROM webhook_attempts WHERE tenant_id = ? AND delivery_id IN (SELECT id FROM webhook_deliveries WHERE tenant_id = ? AND endpoint_id = ?)",
			tenantID, tenantID, id).Error; err != nil {
			return nil, err
		}
		if err := tx.Exec("DELETE FROM webhook_deliveries WHERE tenant_id = ? AND endpoint_id = ?", tenantID, id).Error; err != nil {
			return nil, err
		}
		audit.TenantID, audit.TargetType, audit.TargetID = tenantID, webhookTargetEndpoint, id
		return &audit, nil
	})
}
