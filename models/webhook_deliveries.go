package models

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Webhook delivery states.
const (
	WebhookPending   = "pending"
	WebhookDelivered = "delivered" // the receiver answered 2xx
	WebhookFailed    = "failed"    // retried for the whole window, or the endpoint went away
)

// JobKindWebhook is the job that makes one delivery's next attempt.
const JobKindWebhook = "webhook.deliver"

// WebhookPayload is the payload of a webhook delivery job.
type WebhookPayload struct {
	DeliveryID string `json:"delivery_id"`
}

// WebhookDelivery is one event on its way to one endpoint. Its id is the
// webhook-id header, the same on every attempt so receivers can drop
// repeats. Payload is the exact JSON body, fixed when the event happened.
type WebhookDelivery struct {
	ID            string
	EndpointID    string
	TenantID      string
	EventType     string
	Payload       string
	State         string
	Attempts      int
	NextAttemptAt *time.Time
	CreatedAt     time.Time
	FinishedAt    *time.Time
	// AttemptList is filled by ListWebhookDeliveries, newest last.
	AttemptList []WebhookAttempt `gorm:"-"`
}

func (d *WebhookDelivery) normalize() {
	d.CreatedAt, d.NextAttemptAt, d.FinishedAt = d.CreatedAt.UTC(), tsPtr(d.NextAttemptAt), tsPtr(d.FinishedAt)
}

// WebhookAttempt is one try of a delivery: the receiver's HTTP status, or
// why there was none.
type WebhookAttempt struct {
	DeliveryID  string
	TenantID    string
	Number      int
	AttemptedAt time.Time
	StatusCode  int
	Error       string
	DurationMS  int64
}

// webhookRunKey is the run key of a delivery's job.
func webhookRunKey(deliveryID string) string { return "webhook:" + deliveryID }

// webhookData is the "data" of a payload made from an audit event: what
// happened to what, never secrets (audit details hold none).
type webhookData struct {
	TenantID   string          `json:"tenant_id"`
	Action     string          `json:"action"`
	ActorKind  string          `json:"actor_kind"`
	Actor      string          `json:"actor"`
	TargetType string          `json:"target_type,omitempty"`
	TargetID   string          `json:"target_id,omitempty"`
	AuditSeq   int64           `json:"audit_seq,omitempty"`
	Details    json.RawMessage `json:"details"`
}

// webhookBody is the body every delivery POSTs.
type webhookBody struct {
	Type      string `json:"type"`
	Timestamp string `json:"timestamp"`
	Data      any    `json:"data"`
}

// enqueueWebhooksTx is the transactional outbox of webhooks: for each
// audit event that raises webhook events, one delivery (and its job) per
// enabled endpoint of the tenant subscribed to it. Events that raise none
// cost nothing; the others one indexed query per tenant.
func (db *DB) enqueueWebhooksTx(tx *gorm.DB, evs []*AuditEvent) error {
	var cache map[string][]WebhookEndpoint
	for _, ev := range evs {
		types := webhookEventsOf[ev.Action]
		if ev.TenantID == "" || len(types) == 0 {
			continue
		}
		if ev.Action == "key.drift_adopted" && !strings.Contains(ev.Details, `"state":`) {
			continue // an adopted expiry date is no status change
		}
		if cache == nil {
			cache = map[string][]WebhookEndpoint{}
		}
		eps, ok := cache[ev.TenantID]
		if !ok {
			var err error
			if eps, err = enabledEndpointsTx(tx, ev.TenantID); err != nil {
				return err
			}
			cache[ev.TenantID] = eps
		}
		if len(eps) == 0 {
			continue
		}
		data := webhookData{TenantID: ev.TenantID, Action: ev.Action, ActorKind: ev.ActorKind, Actor: ev.Actor,
			TargetType: ev.TargetType, TargetID: ev.TargetID, AuditSeq: ev.Seq, Details: json.RawMessage(ev.Details)}
		if len(data.Details) == 0 {
			data.Details = json.RawMessage("{}")
		}
		for _, typ := range types {
			for i := range eps {
				ep := &eps[i]
				if typ == WebhookTest {
					if ev.TargetType != webhookTargetEndpoint || ev.TargetID != ep.ID {
						continue // a test goes to its one endpoint only
					}
				} else if !ep.Subscribes(typ) {
					continue
				}
				if err := db.insertDeliveryTx(tx, ep, typ, ev.CreatedAt, data); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// enqueueWebhookEventTx raises one webhook event that has no audit event
// of its own (a rotation notice falling due) inside the caller's
// transaction.
func (db *DB) enqueueWebhookEventTx(tx *gorm.DB, tenantID, typ string, at time.Time, data any) error {
	eps, err := enabledEndpointsTx(tx, tenantID)
	if err != nil {
		return err
	}
	for i := range eps {
		if eps[i].Subscribes(typ) {
			if err := db.insertDeliveryTx(tx, &eps[i], typ, at, data); err != nil {
				return err
			}
		}
	}
	return nil
}

func enabledEndpointsTx(tx *gorm.DB, tenantID string) ([]WebhookEndpoint, error) {
	var rows []webhookEndpointRow
	if err := tx.Table("webhook_endpoints").Select("id, tenant_id, events, enabled").
		Where("tenant_id = ? AND enabled = ?", tenantID, true).Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]WebhookEndpoint, len(rows))
	for i, r := range rows {
		out[i] = r.endpoint()
	}
	return out, nil
}

// insertDeliveryTx writes one delivery and its job, due now.
func (db *DB) insertDeliveryTx(tx *gorm.DB, ep *WebhookEndpoint, typ string, at time.Time, data any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(webhookBody{Type: typ, Timestamp: at.UTC().Format(time.RFC3339), Data: data}); err != nil {
		return fmt.Errorf("encode webhook payload: %w", err)
	}
	now := db.now()
	d := WebhookDelivery{ID: NewID("msg_"), EndpointID: ep.ID, TenantID: ep.TenantID, EventType: typ,
		Payload: string(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))), State: WebhookPending, NextAttemptAt: &now, CreatedAt: now}
	if err := tx.Table("webhook_deliveries").Create(&d).Error; err != nil {
		return err
	}
	payload, _ := json.Marshal(WebhookPayload{DeliveryID: d.ID}) // a struct of strings always marshals
	_, _, err := db.enqueueJobTx(tx, NewJob{Kind: JobKindWebhook, TenantID: d.TenantID, RunKey: webhookRunKey(d.ID),
		Payload: string(payload), MaxAttempts: webhookDeliveryMaxJobAttempt})
	return err
}

// WebhookDeliveryForJob returns a delivery of any tenant with its endpoint
// (nil when the endpoint is gone): the delivery job has only the id.
func (db *DB) WebhookDeliveryForJob(ctx context.Context, id string) (*WebhookDelivery, *WebhookEndpoint, error) {
	var d WebhookDelivery
	g := db.g.WithContext(ctx)
	if err := g.Table("webhook_deliveries").Where("id = ?", id).Take(&d).Error; err != nil {
		return nil, nil, fmt.Errorf("get webhook delivery: %w", mapErr(err))
	}
	d.normalize()
	var r webhookEndpointRow
	err := g.Table("webhook_endpoints").Where("tenant_id = ? AND id = ?", d.TenantID, d.EndpointID).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return &d, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("get webhook endpoint: %w", mapErr(err))
	}
	ep := r.endpoint()
	return &d, &ep, nil
}

// RecordWebhookAttempt records one attempt of a delivery and, fenced on
// the job's lease, what follows: with next nil the delivery ends (state
// delivered or failed) and its job completes; otherwise the delivery
// stays pending and its job is due again at next. All in one transaction.
func (db *DB) RecordWebhookAttempt(ctx context.Context, l Lease, a WebhookAttempt, state string, next *time.Time) error {
	err := db.g.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		now := db.now()
		a.AttemptedAt = ts(a.AttemptedAt)
		a.Error = truncate(a.Error, 500)
		if err := tx.Table("webhook_attempts").Create(&a).Error; err != nil {
			return err
		}
		set := map[string]any{"attempts": a.Number, "state": state}
		if next != nil {
			set["next_attempt_at"] = ts(*next)
		} else {
			set["next_attempt_at"], set["finished_at"] = nil, now
		}
		if err := tx.Table("webhook_deliveries").Where("id = ? AND state = ?", a.DeliveryID, WebhookPending).Updates(set).Error; err != nil {
			return err
		}
		if next == nil {
			return db.completeJobTx(tx, l, state)
		}
		return fenced(tx, l, map[string]any{"state": JobPending, "due_at": ts(*next), "lease_owner": "", "lease_expires_at": nil,
			"updated_at": now, "last_error": truncate(a.Error, 500)})
	})
	if err != nil {
		return fmt.Errorf("record webhook attempt: %w", mapErr(err))
	}
	return nil
}

// EndWebhookDelivery fails a pending delivery that cannot be attempted
// (its endpoint was disabled or deleted) and completes its job.
func (db *DB) EndWebhookDelivery(ctx context.Context, l Lease, id, why string) error {
	err := db.g.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Table("webhook_deliveries").Where("id = ? AND state = ?", id, WebhookPending).
			Updates(map[string]any{"state": WebhookFailed, "next_attempt_at": nil, "finished_at": db.now()}).Error; err != nil {
			return err
		}
		return db.completeJobTx(tx, l, why)
	})
	if err != nil {
		return fmt.Errorf("end webhook delivery: %w", mapErr(err))
	}
	return nil
}

// ListWebhookDeliveries lists an endpoint's newest deliveries, newest
// first, each with its attempts.
func (db *DB) ListWebhookDeliveries(ctx context.Context, tenantID, endpointID string, limit int) ([]WebhookDelivery, error) {
	return db.ListWebhookDeliveriesBefore(ctx, tenantID, endpointID, "", limit)
}

// ListWebhookDeliveriesBefore is ListWebhookDeliveries from the delivery
// after before (a delivery id of the same endpoint; "" starts at the
// newest), for paging. An unknown before gives an empty page.
func (db *DB) ListWebhookDeliveriesBefore(ctx context.Context, tenantID, endpointID, before string, limit int) ([]WebhookDelivery, error) {
	g := db.g.WithContext(ctx)
	q := g.Table("webhook_deliveries").Where("tenant_id = ? AND endpoint_id = ?", tenantID, endpointID)
	if before != "" {
		var at WebhookDelivery
		err := g.Table("webhook_deliveries").Select("created_at").Where("tenant_id = ? AND endpoint_id = ? AND id = ?", tenantID, endpointID, before).Take(&at).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return []WebhookDelivery{}, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list webhook deliveries: %w", mapErr(err))
		}
		q = q.Where("created_at < ? OR (created_at = ? AND id < ?)", at.CreatedAt, at.CreatedAt, before)
	}
	var ds []WebhookDelivery
	if err := q.Order("created_at DESC, id DESC").Limit(min(max(limit, 1), 500)).Find(&ds).Error; err != nil {
		return nil, fmt.Errorf("list webhook deliveries: %w", mapErr(err))
	}
	if len(ds) == 0 {
		return ds, nil
	}
	ids := make([]string, len(ds))
	byID := map[string]*WebhookDelivery{}
	for i := range ds {
		ds[i].normalize()
		ids[i] = ds[i].ID
		byID[ds[i].ID] = &ds[i]
	}
	var as []WebhookAttempt
	if err := g.Table("webhook_attempts").Where("tenant_id = ? AND delivery_id IN ?", tenantID, ids).
		Order("delivery_id, number").Find(&as).Error; err != nil {
		return nil, fmt.Errorf("list webhook attempts: %w", mapErr(err))
	}
	for _, a := range as {
		a.AttemptedAt = a.AttemptedAt.UTC()
		if d := byID[a.DeliveryID]; d != nil {
			d.AttemptList = append(d.AttemptList, a)
		}
	}
	return ds, nil
}
