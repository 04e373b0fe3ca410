// Package compliance builds keyport's compliance reports as plain data: the
// key inventory, the activity of a period with the audit chain's last
// verification, and
// the configuration validation with a verdict per property, per key and
// overall. It also says which keys need an operator's attention. It knows
// nothing of HTTP, pages or file formats: handlers render what it returns.
//
// It may import models and the root keysvc (for checks, healths and provider
// settings), never handlers, web, views or echo. The store and the provider
// settings come in through the small interfaces Store and Settings.
package compliance

import (
	"context"
	"encoding/hex"
	"time"

	"keyport/keysvc"
	"keyport/models"
)

// RotationPeriod is the rotation period reports hold a key to when it has
// no rotation policy of its own: the default period of DESIGN.md.
const RotationPeriod = 365 * 24 * time.Hour

// rotationPeriod is the period a key is held to: its own policy's, else
// the default.
func rotationPeriod(kr models.KeyReport) time.Duration {
	if kr.RotationPeriodDays > 0 {
		return time.Duration(kr.RotationPeriodDays) * 24 * time.Hour
	}
	return RotationPeriod
}

// nextRotation is when the key's next rotation is due: its policy's
// schedule, else the period after the newest data key; nil without either.
func nextRotation(kr models.KeyReport) *time.Time {
	if kr.NextRotationAt != nil {
		t := *kr.NextRotationAt
		return &t
	}
	if len(kr.Versions) == 0 {
		return nil
	}
	t := kr.Versions[0].CreatedAt.Add(rotationPeriod(kr))
	return &t
}

// Other policy figures of the validation report.
const (
	expiryWarning   = 30 * 24 * time.Hour
	staleValidation = 7 * 24 * time.Hour
)

// Store is the part of the store reports read; *models.DB has it.
type Store interface {
	LatestAuditHead(ctx context.Context) (models.AuditHead, error)
	LatestTenantAuditHead(ctx context.Context, tenantID string) (models.AuditHead, error)
	KeyReports(ctx context.Context, tenantID string) ([]models.KeyReport, error)
	KeyReportsAllTenants(ctx context.Context) ([]models.KeyReport, error)
	AuditEvents(ctx context.Context, scope models.AuditScope, f models.AuditFilter) ([]models.AuditEvent, error)
	LastAuditVerification(ctx context.Context, tenantID string, all bool) (*models.AuditVerificationRecord, error)
	KeyUsageBetween(ctx context.Context, scope models.AuditScope, from, to time.Time) ([]models.KeyUsageRow, error)
}

// Settings gives the provider's settings; *keysvc.Service has it.
type Settings interface {
	ProviderSettings(ctx context.Context) (keysvc.ProviderSettings, error)
}

// Reports builds reports from a store and the provider's settings.
type Reports struct {
	Store    Store
	Settings Settings
	Now      func() time.Time
}

// Scope is whose data a report covers: one tenant, or every tenant for an
// operator. Callers build it from the session only.
type Scope struct {
	TenantID   string // "" with All
	TenantName string
	All        bool
}

func (s Scope) audit() models.AuditScope {
	if s.All {
		return models.AllTenants("")
	}
	return models.TenantScope(s.TenantID)
}

// lastVerification is the last recorded verification of the scope's
// chain (a tenant's own, or everything for the operator); nil when none.
// Reports never verify: that walks the whole chain, so it is a POST of
// the audit page, rate-limited, whose result is recorded.
func (s Scope) lastVerification(ctx context.Context, db Store) (*models.AuditVerificationRecord, error) {
	return db.LastAuditVerification(ctx, s.TenantID, s.All)
}

// head is the scope's chain head: a tenant's own, or the global one.
func (s Scope) head(ctx context.Context, db Store) (models.AuditHead, error) {
	if s.All {
		return db.LatestAuditHead(ctx)
	}
	return db.LatestTenantAuditHead(ctx, s.TenantID)
}

func (s Scope) keyReports(ctx context.Context, db Store) ([]models.KeyReport, error) {
	if s.All {
		return db.KeyReportsAllTenants(ctx)
	}
	return db.KeyReports(ctx, s.TenantID)
}

// Meta heads every report.
type Meta struct {
	Report      string // key_inventory, activity, configuration_validation
	Title       string
	Scope       string // the tenant's name, or "all tenants"
	TenantID    string
	GeneratedAt time.Time
	GeneratedBy string
	ChainHead   ChainHead
}

// ChainHead anchors a report to the audit chain: the newest row's seq and
// hash when the report was made; a tenant's report shows its own chain's.
type ChainHead struct {
	Seq  int64
	Hash string
	At   time.Time
}

// Meta heads a report with the chain's current head.
func (r *Reports) Meta(ctx context.Context, s Scope, report, title, by string) (Meta, error) {
	head, err := s.head(ctx, r.Store)
	if err != nil {
		return Meta{}, err
	}
	m := Meta{Report: report, Title: title, Scope: s.TenantName, TenantID: s.TenantID,
		GeneratedAt: r.Now().UTC().Truncate(time.Second), GeneratedBy: by,
		ChainHead: ChainHead{Seq: head.Seq, Hash: hex.EncodeToString(head.Hash), At: head.At}}
	if s.All {
		m.Scope = "all tenants"
	}
	return m, nil
}
