package compliance

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"time"

	"keyport/models"
)

// Activity is the audit events of a period, with the chain's last
// verification and the keys' hourly usage counts.
type Activity struct {
	Meta         Meta
	From         time.Time
	To           time.Time
	Verification ChainVerification
	Events       []ActivityEvent
	Usage        []UsageRow
}

// ChainVerification is the outcome of verifying an audit chain: a
// tenant's own (sequence numbers are the tenant's), or the whole log.
// In a report it is the last recorded verification: VerifiedAt nil when
// the chain was never verified.
type ChainVerification struct {
	OK             bool
	Checked        int64
	FirstBrokenSeq int64
	Reason         string
	Head           string // hex hash of the last row that verified
	VerifiedAt     *time.Time
	VerifiedBy     string
}

// ActivityEvent is one audit event in the activity report.
type ActivityEvent struct {
	Seq        int64
	At         time.Time
	TenantID   string
	ActorKind  string
	Actor      string
	Action     string
	TargetType string
	TargetID   string
	Details    map[string]string
	RequestID  string
	Hash       string
}

// UsageRow is one key's use in one hour. Cached decrypts never reach AWS
// CloudTrail, so these counts are their record.
type UsageRow struct {
	Period    string // 2006-01-02T15, UTC
	TenantID  string
	KeyID     string
	KeyName   string
	Encrypts  int64
	Decrypts  int64
	DataKeys  int64
	KMSCalls  int64
	CacheHits int64
}

// Activity is the events of [from, to) with the result and time of the
// chain's last verification (the report does not verify: meta carries
// the chain's head now) and the keys' hourly usage counts. A period with
// too many events fails with models.ErrTooManyEvents.
func (r *Reports) Activity(ctx context.Context, s Scope, meta Meta, from, to time.Time) (*Activity, error) {
	last, err := s.lastVerification(ctx, r.Store)
	if err != nil {
		return nil, err
	}
	var v ChainVerification
	if last != nil {
		v = Verification(last.AuditVerification)
		at := last.At
		v.VerifiedAt, v.VerifiedBy = &at, last.By
	}
	evs, err := r.Store.AuditEvents(ctx, s.audit(), models.AuditFilter{From: from, To: to})
	if err != nil {
		return nil, err
	}
	usage, err := r.Store.KeyUsageBetween(ctx, s.audit(), from, to)
	if err != nil {
		return nil, err
	}
	a := &Activity{Meta: meta, From: from, To: to, Verification: v,
		Events: make([]ActivityEvent, 0, len(evs)), Usage: make([]UsageRow, 0, len(usage))}
	for _, e := range evs {
		seq, hash := e.Seq, e.Hash
		if !s.All { // a tenant sees its own chain's numbers and hashes only
			seq, hash = e.TenantSeq, e.TenantHash
		}
		a.Events = append(a.Events, ActivityEvent{Seq: seq, At: e.CreatedAt, TenantID: e.TenantID, ActorKind: e.ActorKind, Actor: e.Actor,
			Action: e.Action, TargetType: e.TargetType, TargetID: e.TargetID, Details: Details(e.Details), RequestID: e.RequestID,
			Hash: hex.EncodeToString(hash)})
	}
	for _, u := range usage {
		a.Usage = append(a.Usage, UsageRow{Period: u.Period, TenantID: u.TenantID, KeyID: u.KeyID, KeyName: u.KeyName,
			Encrypts: u.Encrypts, Decrypts: u.Decrypts, DataKeys: u.Datakeys, KMSCalls: u.KMSCalls, CacheHits: u.CacheHits})
	}
	return a, nil
}

// Details decodes an audit event's details, which the store writes as a
// JSON object of strings; anything else is kept whole under "raw".
func Details(s string) map[string]string {
	m := map[string]string{}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return map[string]string{"raw": s}
	}
	return m
}

// Verification is the outcome of verifying the audit chain, as reports
// and the audit page show it.
func Verification(v models.AuditVerification) ChainVerification {
	return ChainVerification{OK: v.OK, Checked: v.Checked, FirstBrokenSeq: v.FirstBrokenSeq, Reason: v.Reason, Head: hex.EncodeToString(v.Head)}
}
