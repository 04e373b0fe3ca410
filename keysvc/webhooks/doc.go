// Package webhooks holds tenants' signed webhooks (issue 15): endpoints
// with sealed signing secrets, delivery of the events the store's
// transactional outbox queued (Standard Webhooks signatures, retries with
// backoff for 24 hours, through the jobs framework), and the guard that
// keeps deliveries away from private, loopback, link-local and cloud
// metadata addresses, at registration and again at connect time. It knows
// nothing of HTTP requests to keyport (no echo); it may import models,
// keysvc, keysvc/seal and keysvc/jobs.
package webhooks
