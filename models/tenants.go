package models

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Role is a member's role in one tenant.
type Role string

// The tenant roles. The provider-wide operator is not a tenant role.
const (
	RoleOwner   Role = "owner"
	RoleAdmin   Role = "admin"
	RoleAuditor Role = "auditor"
)

// Valid reports whether r is one of the defined roles.
func (r Role) Valid() bool {
	switch r {
	case RoleOwner, RoleAdmin, RoleAuditor:
		return true
	}
	return false
}

// Tenant is one customer organisation of the provider.
type Tenant struct {
	ID        string
	Name      string
	CreatedAt time.Time
}

// Membership gives a user a role in a tenant. InvitedBy is the inviting user's
// id ("" for the tenant's creator).
type Membership struct {
	TenantID  string
	UserID    string
	Role      Role
	InvitedBy string
	CreatedAt time.Time
}

// TenantMembership is one entry of the list of tenants a user belongs to.
type TenantMembership struct {
	Tenant Tenant
	Role   Role
}

// maxTenantName is in characters; names appear in page titles and emails.
const maxTenantName = 100

// CreateTenantWithOwner creates a tenant, makes ownerUserID its owner and
// appends the audit event, all in one transaction: there is never a tenant
// without an owner or without its audit record. The store fills audit.TenantID,
// TargetType ("tenant") and TargetID with the new tenant; Action defaults to
// "tenant.create".
func (db *DB) CreateTenantWithOwner(ctx context.Context, name, ownerUserID string, audit AuditInput) (*Tenant, error) {
	name, err := validateName("name", name, maxTenantName)
	if err != nil {
		return nil, err
	}
	if _, err := db.key(); err != nil { // fail before doing any work
		return nil, fmt.Errorf("create tenant: %w", err)
	}
	now := db.now()
	t := Tenant{ID: NewID(PrefixTenant), Name: name, CreatedAt: now}
	audit.TenantID, audit.TargetType, audit.TargetID = t.ID, "tenant", t.ID
	if audit.Action == "" {
		audit.Action = "tenant.create"
	}
	err = db.change(ctx, "create tenant", func(tx *gorm.DB) (*AuditInput, error) {
		var n int64
		if err := tx.Table("users").Where("id = ?", ownerUserID).Count(&n).Error; err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, ErrNotFound
		}
		if err := tx.Table("tenants").Create(&t).Error; err != nil {
			return nil, err
		}
		m := Membership{TenantID: t.ID, UserID: ownerUserID, Role: RoleOwner, CreatedAt: now}
		if err := tx.Table("memberships").Create(&m).Error; err != nil {
			return nil, err
		}
		return &audit, nil
	})
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// GetTenant returns the tenant with the given id, or ErrNotFound.
func (db *DB) GetTenant(ctx context.Context, id string) (*Tenant, error) {
	var t Tenant
	if err := db.g.WithContext(ctx).Table("tenants").Where("id = ?", id).Take(&t).Error; err != nil {
		return nil, fmt.Errorf("get tenant: %w", mapErr(err))
	}
	t.CreatedAt = t.CreatedAt.UTC()
	return &t, nil
}

// TenantsForUser lists the tenants userID is a member of, with the role, ordered
// by tenant name, case-insensitively.
func (db *DB) TenantsForUser(ctx context.Context, userID string) ([]TenantMembership, error) {
	var rows []struct {
		ID        string
		Name      string
		CreatedAt time.Time
		Role      Role
	}
	err := db.g.WithContext(ctx).Table("memberships AS m").
		Select("t.id AS id, t.name AS name, t.created_at AS created_at, m.role AS role").
		Joins("JOIN tenants AS t ON t.id = m.tenant_id").
		Where("m.user_id = ?", userID).
		// lower() so the order is the same, and what people expect, on every backend.
		Order("lower(t.name), t.name, t.id").
		Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("list tenants for user: %w", err)
	}
	out := make([]TenantMembership, len(rows))
	for i, r := range rows {
		out[i] = TenantMembership{Tenant: Tenant{ID: r.ID, Name: r.Name, CreatedAt: r.CreatedAt.UTC()}, Role: r.Role}
	}
	return out, nil
}

// GetMembership returns userID's membership in tenantID, or ErrNotFound.
func (db *DB) GetMembership(ctx context.Context, tenantID, userID string) (*Membership, error) {
	var m Membership
	err := db.g.WithContext(ctx).Table("memberships").
		Where("tenant_id = ? AND user_id = ?", tenantID, userID).Take(&m).Error
	if err != nil {
		return nil, fmt.Errorf("get membership: %w", mapErr(err))
	}
	m.CreatedAt = m.CreatedAt.UTC()
	return &m, nil
}

// CountMembers counts the members of a tenant.
func (db *DB) CountMembers(ctx context.Context, tenantID string) (int64, error) {
	var n int64
	err := db.reader(ctx).Table("memberships").Where("tenant_id = ?", tenantID).Count(&n).Error
	if err != nil {
		return 0, fmt.Errorf("count members: %w", mapErr(err))
	}
	return n, nil
}

// ListTenants lists every tenant by name (operators' views).
func (db *DB) ListTenants(ctx context.Context) ([]Tenant, error) {
	var ts []Tenant
	if err := db.g.WithContext(ctx).Table("tenants").Order("lower(name), id").Find(&ts).Error; err != nil {
		return nil, fmt.Errorf("list tenants: %w", mapErr(err))
	}
	for i := range ts {
		ts[i].CreatedAt = ts[i].CreatedAt.UTC()
	}
	return ts, nil
}
