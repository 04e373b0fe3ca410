package webhooks

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"keyport/keysvc/jobs"
	"keyport/keysvc/seal"
	"keyport/models"
)

// Sign is the Standard Webhooks signature header value of one message:
// "v1," and the base64 HMAC-SHA256 of id.timestamp.body under key.
func Sign(key []byte, id string, timestamp int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + strconv.FormatInt(timestamp, 10) + "."))
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Deliver is the webhook.deliver job: one attempt of one delivery, then,
// in one fenced transaction, its record and what follows (done, failed,
// or the job due again after the backoff).
func (s *Service) Deliver(ctx context.Context, j *models.Job, l models.Lease) error {
	var p models.WebhookPayload
	if err := json.Unmarshal([]byte(j.Payload), &p); err != nil {
		return jobs.Permanent(fmt.Errorf("webhooks: job payload: %w", err))
	}
	d, ep, err := s.db.WebhookDeliveryForJob(ctx, p.DeliveryID)
	if errors.Is(err, models.ErrNotFound) {
		return jobs.Permanent(err)
	}
	if err != nil {
		return err
	}
	switch {
	case d.State != models.WebhookPending:
		return s.db.CompleteJob(ctx, l, "already "+d.State, nil)
	case ep == nil:
		return s.db.EndWebhookDelivery(ctx, l, d.ID, "endpoint deleted")
	case !ep.Enabled:
		return s.db.EndWebhookDelivery(ctx, l, d.ID, "endpoint disabled")
	}
	at := s.now()
	status, aerr := s.attempt(ctx, ep, d, at)
	took := s.now().Sub(at)
	a := models.WebhookAttempt{DeliveryID: d.ID, TenantID: d.TenantID, Number: d.Attempts + 1, AttemptedAt: at,
		StatusCode: status, DurationMS: took.Milliseconds()}
	if aerr != nil {
		a.Error = aerr.Error()
	} else if status < 200 || status > 299 {
		a.Error = "HTTP " + strconv.Itoa(status) + " " + http.StatusText(status)
	}
	state, next := models.WebhookDelivered, (*time.Time)(nil)
	if a.Error != "" {
		state = models.WebhookFailed
		if n := s.nextAttempt(d.CreatedAt, a.Number); n != nil && j.Attempts < j.MaxAttempts {
			state, next = models.WebhookPending, n
		}
		s.log.InfoContext(ctx, "webhook attempt failed", "delivery_id", d.ID, "endpoint_id", ep.ID, "attempt", a.Number,
			"status", status, "err", a.Error, "final", next == nil)
	}
	return s.db.RecordWebhookAttempt(ctx, l, a, state, next)
}

// nextAttempt is when the attempt after attempt n is due, or nil when the
// window after the event has ended: the backoff, cut to the window's end
// so the last attempt happens at it.
func (s *Service) nextAttempt(created time.Time, n int) *time.Time {
	deadline := created.Add(s.window)
	now := s.now()
	if !now.Before(deadline) {
		return nil
	}
	next := now.Add(s.backoff[min(n-1, len(s.backoff)-1)])
	if next.After(deadline) {
		next = deadline
	}
	return &next
}

// attempt POSTs the delivery's body, signed, and returns the receiver's
// status or why there was none (never the URL, which may carry a token).
func (s *Service) attempt(ctx context.Context, ep *models.WebhookEndpoint, d *models.WebhookDelivery, at time.Time) (int, error) {
	u, err := url.Parse(ep.URL)
	if err != nil || !(u.Scheme == "https" || u.Scheme == "http" && s.dev) {
		return 0, errors.New("the endpoint URL is not an https URL")
	}
	key, err := s.sealer.Open(seal.WebhookSecretPurpose(ep.ID), ep.SecretSealed)
	if err != nil {
		return 0, errors.New("the signing secret could not be opened")
	}
	ts := at.Unix()
	body := []byte(d.Payload)
	sig := Sign(key, d.ID, ts, body)
	clear(key)
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, strings.NewReader(d.Payload))
	if err != nil {
		return 0, errors.New("the request could not be built")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "keyport-webhooks/1")
	req.Header.Set("webhook-id", d.ID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", sig)
	res, err := s.client.Do(req)
	if err != nil {
		return 0, describe(err, s.timeout)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10)) // the body is not kept
	res.Body.Close()
	return res.StatusCode, nil
}

// describe turns a client error into a short reason without the URL.
func describe(err error, timeout time.Duration) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var re *refusedError
	var ne net.Error
	switch {
	case errors.As(err, &re):
		return re
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("no answer within %s", timeout)
	}
	msg := err.Error()
	if len(msg) > 200 {
		msg = strings.ToValidUTF8(msg[:200], "")
	}
	return errors.New(msg)
}
