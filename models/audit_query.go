package models

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"
)

// AuditScope says whose events a query may see. A tenant's page uses
// TenantScope; only the operator view uses AllTenants.
type AuditScope struct {
	tenantID   string
	allTenants bool
}

// TenantScope is one tenant's events ("" is the provider-wide events).
func TenantScope(tenantID string) AuditScope { return AuditScope{tenantID: tenantID} }

// AllTenants is every tenant's events and the provider-wide ones; onlyTenant
// narrows it to one tenant when not "".
func AllTenants(onlyTenant string) AuditScope {
	return AuditScope{tenantID: onlyTenant, allTenants: onlyTenant == ""}
}

// AuditFilter selects events. Zero fields do not filter.
type AuditFilter struct {
	From   time.Time // created_at >= From
	To     time.Time // created_at < To
	Actor  string    // exact actor (a user id, "system", ...)
	Action string    // exact action
	KeyID  string    // events about this key
	// TargetType and TargetID: events about this target (each exact,
	// either may be empty).
	TargetType, TargetID string
	// Cursors: Before pages to older events (seq < Before), After to newer
	// ones (seq > After). At most one is used; Before wins.
	Before int64
	After  int64
	Limit  int // page size, default 50, at most 1000
}

// AuditPage is one page of events, newest first, with the cursors of its
// neighbours (0 when there is no such page).
type AuditPage struct {
	Events []AuditEvent
	Older  int64 // pass as Before for the next older page
	Newer  int64 // pass as After for the next newer page
}

// maxAuditPage bounds one page; reports read several pages.
const maxAuditPage = 1000

// QueryAudit returns one page of the events in scope that match f, by keyset
// pagination on seq: the page after a cursor is found without counting or
// skipping the rows before it.
func (db *DB) QueryAudit(ctx context.Context, scope AuditScope, f AuditFilter) (AuditPage, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, maxAuditPage)
	q := db.auditWhere(ctx, scope, f)
	// One tenant's pages run on its own sequence numbers, so its cursors
	// say nothing of other tenants' activity. Within a tenant, seq and
	// tenant_seq have the same order; seq keeps the filter indexes usable.
	cursor, pos := "seq", func(e *AuditEvent) int64 { return e.Seq }
	if !scope.allTenants {
		cursor, pos = "tenant_seq", func(e *AuditEvent) int64 { return e.TenantSeq }
	}
	newerFirst := f.Before == 0 && f.After > 0
	switch {
	case f.Before > 0:
		q = q.Where(cursor+" < ?", f.Before).Order("seq DESC")
	case newerFirst:
		q = q.Where(cursor+" > ?", f.After).Order("seq ASC")
	default:
		q = q.Order("seq DESC")
	}
	var evs []AuditEvent
	if err := q.Limit(limit + 1).Find(&evs).Error; err != nil {
		return AuditPage{}, fmt.Errorf("query audit events: %w", mapErr(err))
	}
	more := len(evs) > limit
	evs = evs[:min(len(evs), limit)]
	if newerFirst {
		slices.Reverse(evs)
	}
	for i := range evs {
		evs[i].CreatedAt = evs[i].CreatedAt.UTC()
	}
	p := AuditPage{Events: evs}
	if len(evs) == 0 {
		return p, nil
	}
	// One extra row told us whether the walk's direction has more; the
	// other direction has more exactly when we arrived by a cursor.
	first, last := pos(&evs[0]), pos(&evs[len(evs)-1])
	switch {
	case newerFirst:
		p.Older = last
		if more {
			p.Newer = first
		}
	default:
		if more {
			p.Older = last
		}
		if f.Before > 0 {
			p.Newer = first
		}
	}
	return p, nil
}

// auditWhere applies scope and filter (not the cursor).
func (db *DB) auditWhere(ctx context.Context, scope AuditScope, f AuditFilter) *gorm.DB {
	q := db.reader(ctx).Table("audit_events")
	if !scope.allTenants {
		q = q.Where("tenant_id = ?", scope.tenantID)
	}
	if !f.From.IsZero() {
		q = q.Where("created_at >= ?", ts(f.From))
	}
	if !f.To.IsZero() {
		q = q.Where("created_at < ?", ts(f.To))
	}
	if f.Actor != "" {
		q = q.Where("actor = ?", f.Actor)
	}
	if f.Action != "" {
		q = q.Where("action = ?", f.Action)
	}
	if f.KeyID != "" {
		q = q.Where("target_type = 'key' AND target_id = ?", f.KeyID)
	}
	if f.TargetType != "" {
		q = q.Where("target_type = ?", f.TargetType)
	}
	if f.TargetID != "" {
		q = q.Where("target_id = ?", f.TargetID)
	}
	return q
}

// maxAuditExport bounds the events one report may hold: a report must be
// complete, so a period with more events is refused rather than cut.
const maxAuditExport = 100_000

// ErrTooManyEvents is returned by AuditEvents when the period holds more
// events than one report may.
var ErrTooManyEvents = errors.New("models: too many audit events for one report")

// AuditEvents returns every event in scope that matches f (cursors and limit
// ignored), oldest first, for reports; ErrTooManyEvents past 100,000.
func (db *DB) AuditEvents(ctx context.Context, scope AuditScope, f AuditFilter) ([]AuditEvent, error) {
	var out []AuditEvent
	var after int64
	for {
		var evs []AuditEvent
		err := db.auditWhere(ctx, scope, f).Where("seq > ?", after).Order("seq ASC").Limit(maxAuditPage).Find(&evs).Error
		if err != nil {
			return nil, fmt.Errorf("read audit events: %w", mapErr(err))
		}
		for i := range evs {
			evs[i].CreatedAt = evs[i].CreatedAt.UTC()
		}
		out = append(out, evs...)
		if len(out) > maxAuditExport {
			return nil, ErrTooManyEvents
		}
		if len(evs) < maxAuditPage {
			return out, nil
		}
		after = evs[len(evs)-1].Seq
	}
}

// LatestTenantAuditHead returns the newest row of one tenant's chain
// (tenant "" is the provider-wide events): its tenant seq and tenant hash.
func (db *DB) LatestTenantAuditHead(ctx context.Context, tenantID string) (AuditHead, error) {
	var h struct {
		TenantSeq  int64
		TenantHash []byte
		CreatedAt  time.Time
	}
	err := db.g.WithContext(ctx).Table("audit_events").Select("tenant_seq, tenant_hash, created_at").
		Where("tenant_id = ?", tenantID).Order("tenant_seq DESC").Limit(1).Take(&h).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return AuditHead{}, nil
	case err != nil:
		return AuditHead{}, fmt.Errorf("read audit head: %w", mapErr(err))
	}
	return AuditHead{Seq: h.TenantSeq, Hash: h.TenantHash, At: h.CreatedAt.UTC()}, nil
}

// AuditHead is the newest row of the whole chain: a report that prints it
// anchors the chain, so rows later removed from the end can be noticed.
type AuditHead struct {
	Seq  int64
	Hash []byte
	At   time.Time
}

// LatestAuditHead returns the chain's newest row (zero for an empty log).
func (db *DB) LatestAuditHead(ctx context.Context) (AuditHead, error) {
	var h struct {
		Seq       int64
		Hash      []byte
		CreatedAt time.Time
	}
	err := db.g.WithContext(ctx).Table("audit_events").Select("seq, hash, created_at").Order("seq DESC").Limit(1).Take(&h).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return AuditHead{}, nil
	case err != nil:
		return AuditHead{}, fmt.Errorf("read audit head: %w", mapErr(err))
	}
	return AuditHead{Seq: h.Seq, Hash: h.Hash, At: h.CreatedAt.UTC()}, nil
}

// AuditActions lists the distinct actions of a scope's events, for the
// filter's choices.
func (db *DB) AuditActions(ctx context.Context, scope AuditScope) ([]string, error) {
	// A loose index scan: each step asks the (tenant_id, action, seq) or
	// (action, seq) index for the next action after the previous one, so
	// the cost grows with the number of distinct actions (a few dozen),
	// not with the events (a DISTINCT reads every row of the tenant).
	where, args := "", []any{}
	if !scope.allTenants {
		where, args = "tenant_id = ? AND ", []any{scope.tenantID, scope.tenantID}
	}
	q := `WITH RECURSIVE a(action) AS (
			SELECT MIN(action) FROM audit_events WHERE ` + where + `action IS NOT NULL
			UNION ALL
			SELECT (SELECT MIN(action) FROM audit_events WHERE ` + where + `action > a.action) FROM a WHERE a.action IS NOT NULL)
		SELECT action FROM a WHERE action IS NOT NULL ORDER BY action`
	var out []string
	if err := db.reader(ctx).Raw(q, args...).Scan(&out).Error; err != nil {
		return nil, fmt.Errorf("list audit actions: %w", mapErr(err))
	}
	return out, nil
}
