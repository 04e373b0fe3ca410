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

// AuditEvent is one row of the append-only, hash-chained audit log. It is
// in two chains. The global one: Seq is global (1, 2, 3, ... over all
// tenants) and Hash is an HMAC over the row and PrevHash, the previous
// row's Hash; the operator verifies it (VerifyAudit). The tenant's own:
// TenantSeq counts the tenant's events (1, 2, 3, ...; tenant "" is the
// provider-wide events) and TenantHash is an HMAC over the row, its actor
// kind and TenantPrevHash, the tenant's previous row's TenantHash; a
// tenant verifies it alone (VerifyTenantAudit), reading nothing of others.
type AuditEvent struct {
	Seq        int64
	TenantID   string // "" for provider-wide events
	ActorKind  string // ActorUser, ActorServiceToken, ActorAPIKey, ActorSystem
	Actor      string
	Action     string
	TargetType string
	TargetID   string
	Details    string // JSON object with sorted keys
	RequestID  string
	CreatedAt  time.Time
	PrevHash   []byte
	Hash       []byte
	// The tenant's chain. TenantHash is nil on rows written before
	// migration 14 until their tenant is chained (chainLegacyTx).
	TenantSeq      int64
	TenantPrevHash []byte
	TenantHash     []byte
}

// Actor kinds: who acted, as one scheme on every event (issue 17 #25).
// Actor is then the user id, the service token id, the API key id, or the
// name of the background task or command.
const (
	ActorUser         = "user"
	ActorServiceToken = "service_token"
	ActorAPIKey       = "api_key"
	ActorSystem       = "system"
)

// actorKindOf is the kind of an event whose caller named none: user ids
// and service token ids say what they are; anything else is keyport
// itself (a background task, a command, an anonymous failed sign-in).
func actorKindOf(actor string) string {
	switch {
	case strings.HasPrefix(actor, PrefixUser):
		return ActorUser
	case strings.HasPrefix(actor, "tok_"), actor == "keyport:data-api": // the data plane acts for a token
		return ActorServiceToken
	}
	return ActorSystem
}

// AuditInput is what callers supply for an audit event; the store fills Seq,
// CreatedAt, PrevHash and Hash.
type AuditInput struct {
	TenantID   string
	ActorKind  string // "" = derived from Actor (see actorKindOf)
	Actor      string
	Action     string
	TargetType string
	TargetID   string
	RequestID  string
	Details    map[string]string
}

// ErrNoAuditKey is returned when audit events are appended or verified before
// SetAuditKey: an unkeyed chain could be rewritten by anyone with write access.
var ErrNoAuditKey = errors.New("models: audit key is not set")

// auditKeySize is the HMAC-SHA256 key size we insist on.
const auditKeySize = 32

// Limits keep one event from bloating the log; they are far above real use.
const (
	maxAuditField   = 512
	maxAuditDetails = 16 << 10
)

// SetAuditKey sets the HMAC key of the audit chain (32 bytes). The store keeps
// its own copy.
func (db *DB) SetAuditKey(key []byte) {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.auditKey = bytes.Clone(key)
}

// key returns the audit key or why it cannot be used.
func (db *DB) key() ([]byte, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	switch {
	case len(db.auditKey) == 0:
		return nil, ErrNoAuditKey
	case len(db.auditKey) != auditKeySize:
		return nil, fmt.Errorf("models: audit key is %d bytes, want %d", len(db.auditKey), auditKeySize)
	}
	return db.auditKey, nil
}

// AppendAudit appends one event to the audit log and returns it as stored.
func (db *DB) AppendAudit(ctx context.Context, in AuditInput) (*AuditEvent, error) {
	var ev *AuditEvent
	var err error
	// Appends are serialized (see appendAuditTx); the retry is a last guard
	// should two ever pick the same seq: the loser hits the primary key and
	// tries again on the new head.
	for attempt := 0; attempt < 3; attempt++ {
		err = db.g.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			var err error
			ev, err = db.appendAuditTx(tx, in)
			return err
		})
		if !errors.Is(mapErr(err), ErrConflict) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("append audit event: %w", mapErr(err))
	}
	return ev, nil
}

// appendAuditTx appends an event inside the caller's transaction, so that a
// change and its audit record commit or fail together. It is unexported to keep
// gorm out of other packages' reach.
func (db *DB) appendAuditTx(tx *gorm.DB, in AuditInput) (*AuditEvent, error) {
	evs, err := db.appendAuditEventsTx(tx, []AuditInput{in})
	if err != nil {
		return nil, err
	}
	return evs[0], nil
}

// appendOptionalAuditTx is appendAuditTx for an event that is optional:
// nothing is written when audit is nil or has no Action.
func (db *DB) appendOptionalAuditTx(tx *gorm.DB, audit *AuditInput) error {
	if audit == nil || audit.Action == "" {
		return nil
	}
	_, err := db.appendAuditTx(tx, *audit)
	return err
}

// appendAuditEventsTx appends events in order inside the caller's
// transaction: the head is read once and the new rows are chained in memory
// and written with one statement.
func (db *DB) appendAuditEventsTx(tx *gorm.DB, ins []AuditInput) ([]*AuditEvent, error) {
	return db.appendAuditEventsLockTx(tx, ins, false)
}

// appendAuditEventsLockTx is appendAuditEventsTx; locked says the caller's
// transaction holds the audit lock already (taken in one of its own
// statements, as the batch of new data-key versions does) and that it was
// taken in an earlier statement than this one's reads of the heads, whose
// snapshot must postdate it.
func (db *DB) appendAuditEventsLockTx(tx *gorm.DB, ins []AuditInput, locked bool) ([]*AuditEvent, error) {
	key, err := db.key()
	if err != nil {
		return nil, err
	}
	evs := make([]*AuditEvent, len(ins))
	for i, in := range ins {
		if err := validateAuditInput(in); err != nil {
			return nil, err
		}
		details, err := encodeDetails(in.Details)
		if err != nil {
			return nil, err
		}
		kind := in.ActorKind
		if kind == "" {
			kind = actorKindOf(in.Actor)
		}
		evs[i] = &AuditEvent{TenantID: in.TenantID, ActorKind: kind, Actor: in.Actor, Action: in.Action,
			TargetType: in.TargetType, TargetID: in.TargetID, Details: details, RequestID: in.RequestID}
	}
	// The head is read and the next rows written under a lock held until the
	// caller's transaction ends, so concurrent appends form one chain in
	// commit order. SQLite holds its write lock from BEGIN already; on
	// PostgreSQL an advisory lock does it (a row lock on the head would not:
	// after the wait, the statement's snapshot still shows the old head).
	if !locked {
		if err := db.xactLock(tx, "audit"); err != nil {
			return nil, err
		}
	}
	// The global head and the head of every tenant of the batch, in one
	// statement: each read is a round trip that every other append of
	// every replica waits for.
	var tenants []string
	heads := map[string]*tenantHead{}
	for _, ev := range evs {
		if _, ok := heads[ev.TenantID]; !ok {
			heads[ev.TenantID] = nil
			tenants = append(tenants, ev.TenantID)
		}
	}
	global, err := readHeadsTx(tx, key, tenants, heads)
	if err != nil {
		return nil, err
	}
	seq, prev := global.seq+1, global.hash
	now := db.now()
	for _, ev := range evs {
		ev.Seq, ev.CreatedAt, ev.PrevHash = seq, now, prev
		ev.Hash = auditHash(key, ev)
		seq, prev = seq+1, ev.Hash
		th := heads[ev.TenantID]
		ev.TenantSeq, ev.TenantPrevHash = th.seq+1, th.hash
		ev.TenantHash = tenantAuditHash(key, ev)
		th.seq, th.hash = ev.TenantSeq, ev.TenantHash
	}
	if err := tx.Table("audit_events").Create(evs).Error; err != nil {
		return nil, err
	}
	// The transactional outbox of webhooks: the deliveries an event causes
	// commit with it or not at all.
	if err := db.enqueueWebhooksTx(tx, evs); err != nil {
		return nil, err
	}
	return evs, nil
}

// tenantHead is the newest row of a tenant's chain.
type tenantHead struct {
	seq  int64
	hash []byte
}

// readHeadsTx reads the global chain's head (seq 0 and a zero hash when
// the log is empty) and fills heads with the head of each of tenants,
// in one statement, under the audit lock. A tenant whose newest row is
// from before migration 14 is chained first (chainLegacyTx).
func readHeadsTx(tx *gorm.DB, key []byte, tenants []string, heads map[string]*tenantHead) (*tenantHead, error) {
	var q strings.Builder
	q.WriteString("SELECT * FROM (SELECT 1 AS g, '' AS tenant_id, seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1) h0")
	args := make([]any, 0, len(tenants))
	for i, t := range tenants {
		fmt.Fprintf(&q, " UNION ALL SELECT * FROM (SELECT 0 AS g, tenant_id, tenant_seq AS seq, tenant_hash AS hash FROM audit_events "+
			"WHERE tenant_id = ? ORDER BY tenant_seq DESC LIMIT 1) h%d", i+1)
		args = append(args, t)
	}
	var rows []struct {
		G        int
		TenantID string
		Seq      int64
		Hash     []byte
	}
	if err := tx.Raw(q.String(), args...).Scan(&rows).Error; err != nil {
		return nil, err
	}
	global := &tenantHead{hash: make([]byte, auditKeySize)}
	for _, r := range rows {
		switch {
		case r.G == 1:
			global.seq, global.hash = r.Seq, r.Hash
		case r.Hash == nil:
			th, err := chainLegacyTx(tx, key, r.TenantID)
			if err != nil {
				return nil, err
			}
			heads[r.TenantID] = th
		default:
			heads[r.TenantID] = &tenantHead{seq: r.Seq, hash: r.Hash}
		}
	}
	for _, t := range tenants {
		if heads[t] == nil { // the tenant's first event
			heads[t] = &tenantHead{hash: make([]byte, auditKeySize)}
		}
	}
	return global, nil
}

// chainLegacyTx links a tenant's rows written before migration 14 into the
// tenant's chain, in their order, and returns the new head. Those rows
// stay covered by the global chain as they were; the tenant chain adds
// the per-tenant link, so the content it covers is whatever the global
// chain vouches for (the operator's VerifyAudit checks both).
func chainLegacyTx(tx *gorm.DB, key []byte, tenantID string) (*tenantHead, error) {
	head := &tenantHead{hash: make([]byte, auditKeySize)}
	for {
		var page []AuditEvent
		err := tx.Table("audit_events").Where("tenant_id = ? AND tenant_seq > ?", tenantID, head.seq).
			Order("tenant_seq").Limit(verifyPageSize).Find(&page).Error
		if err != nil {
			return nil, err
		}
		for i := range page {
			e := &page[i]
			if e.TenantHash != nil { // chained already: continue from it
				head.seq, head.hash = e.TenantSeq, e.TenantHash
				continue
			}
			e.TenantPrevHash = head.hash
			e.TenantHash = tenantAuditHash(key, e)
			err := tx.Table("audit_events").Where("seq = ? AND tenant_hash IS NULL", e.Seq).
				Updates(map[string]any{"tenant_prev_hash": e.TenantPrevHash, "tenant_hash": e.TenantHash}).Error
			if err != nil {
				return nil, err
			}
			head.seq, head.hash = e.TenantSeq, e.TenantHash
		}
		if len(page) < verifyPageSize {
			return head, nil
		}
	}
}

// validateAuditInput checks required fields and sizes.
func validateAuditInput(in AuditInput) error {
	if in.Action == "" {
		return invalid("action", "is required")
	}
	for field, v := range map[string]string{
		"tenant_id": in.TenantID, "actor_kind": in.ActorKind, "actor": in.Actor, "action": in.Action,
		"target_type": in.TargetType, "target_id": in.TargetID, "request_id": in.RequestID,
	} {
		if len(v) > maxAuditField {
			return invalid(field, "is too long")
		}
	}
	return nil
}

// encodeDetails renders details as a JSON object. encoding/json sorts map keys,
// so equal maps always give equal text; HTML escaping is off because the text
// is data, escaped wherever it is displayed.
func encodeDetails(details map[string]string) (string, error) {
	if details == nil {
		details = map[string]string{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(details); err != nil {
		return "", fmt.Errorf("encode audit details: %w", err)
	}
	if buf.Len() > maxAuditDetails {
		return "", invalid("details", "are too large")
	}
	return string(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))), nil
}

// ListAudit returns the newest events of one tenant, newest first; tenantID ""
// lists provider-wide events. limit is capped to 1000 (default 100).
func (db *DB) ListAudit(ctx context.Context, tenantID string, limit int) ([]AuditEvent, error) {
	if limit <= 0 {
		limit = 100
	}
	p, err := db.QueryAudit(ctx, TenantScope(tenantID), AuditFilter{Limit: limit})
	return p.Events, err
}
