package models

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// ErrTenantNameTaken refuses a tenant created by the command line under a
// name another tenant has: `keyport tenant list` and the operator pages
// must tell them apart. Names are compared ignoring case.
var ErrTenantNameTaken = &ValidationError{Field: "name", Message: "is already the name of another tenant (names are compared ignoring case)"}

// OwnerBindingTaken refuses an owner email that is already waiting to
// become the owner of another tenant.
type OwnerBindingTaken struct{ TenantID string }

func (e *OwnerBindingTaken) Error() string {
	return "models: owner: is already the pending owner of tenant " + e.TenantID
}

// ownerBinding is a row of tenant_owner_bindings.
type ownerBinding struct {
	TenantID  string
	Email     string
	CreatedAt time.Time
}

// CreateTenantForOwner creates a tenant with no member yet, bound to
// ownerEmail: the first sign-in with that verified email becomes its owner
// (ClaimOwnerBindings). The tenant, the binding and the audit event are
// one transaction. Action defaults to "tenant.created".
func (db *DB) CreateTenantForOwner(ctx context.Context, name, ownerEmail string, audit AuditInput) (*Tenant, error) {
	name, err := validateName("name", name, maxTenantName)
	if err != nil {
		return nil, err
	}
	email, err := NormalizeEmail(ownerEmail)
	if err != nil {
		return nil, &ValidationError{Field: "owner", Message: err.(*ValidationError).Message}
	}
	if _, err := db.key(); err != nil {
		return nil, fmt.Errorf("create tenant: %w", err)
	}
	now := db.now()
	t := Tenant{ID: NewID(PrefixTenant), Name: name, CreatedAt: now}
	audit.TenantID, audit.TargetType, audit.TargetID = t.ID, "tenant", t.ID
	if audit.Action == "" {
		audit.Action = "tenant.created"
	}
	audit.Details = withDetails(audit.Details, "name", name, "owner_email", email)
	err = db.change(ctx, "create tenant", func(tx *gorm.DB) (*AuditInput, error) {
		// Two commands creating one name at once: the second waits here on
		// PostgreSQL (SQLite's write lock is taken at BEGIN).
		if err := db.xactLock(tx, "tenant-names"); err != nil {
			return nil, err
		}
		var n int64
		if err := tx.Table("tenants").Where("lower(name) = lower(?)", name).Count(&n).Error; err != nil {
			return nil, err
		}
		if n > 0 {
			return nil, ErrTenantNameTaken
		}
		var other ownerBinding
		err := tx.Table("tenant_owner_bindings").Where("email = ?", email).Take(&other).Error
		if err == nil {
			return nil, &OwnerBindingTaken{TenantID: other.TenantID}
		} else if !errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, err
		}
		if err := tx.Table("tenants").Create(&t).Error; err != nil {
			return nil, err
		}
		b := ownerBinding{TenantID: t.ID, Email: email, CreatedAt: now}
		if err := tx.Table("tenant_owner_bindings").Create(&b).Error; err != nil {
			return nil, err
		}
		return &audit, nil
	})
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// ClaimOwnerBinding makes userID the owner of the tenant bound to email,
// if there is one, and removes the binding, with the audit event
// ("tenant.owner_bound" unless audit names another action), in one
// transaction. email must be verified by the caller. It returns the
// tenant's id, or "" when no tenant waits for email.
func (db *DB) ClaimOwnerBinding(ctx context.Context, userID, email string, audit AuditInput) (string, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	if email == "" {
		return "", nil
	}
	var tenantID string
	if audit.Action == "" {
		audit.Action = "tenant.owner_bound"
	}
	err := db.change(ctx, "claim tenant owner binding", func(tx *gorm.DB) (*AuditInput, error) {
		var b ownerBinding
		err := tx.Table("tenant_owner_bindings").Where("email = ?", email).Take(&b).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		// Only the transaction that deletes the row makes the owner: two
		// first sign-ins at once cannot both claim it.
		res := tx.Exec("DELETE FROM tenant_owner_bindings WHERE tenant_id = ? AND email = ?", b.TenantID, email)
		if res.Error != nil {
			return nil, res.Error
		}
		if res.RowsAffected != 1 {
			return nil, nil
		}
		m, err := membershipTx(tx, b.TenantID, userID)
		switch {
		case errors.Is(err, ErrNotFound):
			m := Membership{TenantID: b.TenantID, UserID: userID, Role: RoleOwner, CreatedAt: db.now()}
			if err := tx.Table("memberships").Create(&m).Error; err != nil {
				return nil, err
			}
		case err != nil:
			return nil, err
		case m.Role != RoleOwner:
			if err := tx.Table("memberships").Where("tenant_id = ? AND user_id = ?", b.TenantID, userID).
				Update("role", RoleOwner).Error; err != nil {
				return nil, err
			}
		}
		tenantID = b.TenantID
		audit.TenantID, audit.TargetType, audit.TargetID = b.TenantID, "user", userID
		audit.Details = withDetails(audit.Details, "email", email, "role", string(RoleOwner))
		return &audit, nil
	})
	if err != nil {
		return "", err
	}
	return tenantID, nil
}

// TenantOwners is a tenant with whom to ask about it: the emails of its
// owners and, until its first sign-in, the owner it is bound to.
type TenantOwners struct {
	Tenant
	Owners       []string // owners' emails, by email
	PendingOwner string   // the bound owner email that has not signed in yet
}

// OwnerLabel is the owner column of a listing: the owners' emails
// (comma-separated), else the bound email that has not signed in yet,
// else "-".
func (t TenantOwners) OwnerLabel() string {
	switch {
	case len(t.Owners) > 0:
		return strings.Join(t.Owners, ",")
	case t.PendingOwner != "":
		return t.PendingOwner
	}
	return "-"
}

// ListTenantsWithOwners lists every tenant by name with its owners
// (operators and `keyport tenant list`).
func (db *DB) ListTenantsWithOwners(ctx context.Context) ([]TenantOwners, error) {
	ts, err := db.ListTenants(ctx)
	if err != nil {
		return nil, err
	}
	return db.withOwners(ctx, ts, nil)
}

// TenantsForDomain lists the tenants that exist for an email domain: those
// with an owner, or a pending owner, whose email is at domain. A first
// sign-in at that domain is pointed at them instead of making a tenant.
func (db *DB) TenantsForDomain(ctx context.Context, domain string) ([]TenantOwners, error) {
	domain = strings.ToLower(strings.TrimSpace(domain))
	if domain == "" {
		return nil, nil
	}
	pattern := "%@" + likeEscaper.Replace(domain)
	g := db.g.WithContext(ctx)
	var ids []string
	if err := g.Table("memberships AS m").Joins("JOIN users AS u ON u.id = m.user_id").
		Where(`m.role = ? AND lower(u.email) LIKE ? ESCAPE '\'`, RoleOwner, pattern).
		Distinct().Pluck("m.tenant_id", &ids).Error; err != nil {
		return nil, fmt.Errorf("tenants for domain: %w", err)
	}
	var pending []string
	if err := g.Table("tenant_owner_bindings").Where(`email LIKE ? ESCAPE '\'`, pattern).
		Pluck("tenant_id", &pending).Error; err != nil {
		return nil, fmt.Errorf("tenants for domain: %w", err)
	}
	ids = append(ids, pending...)
	if len(ids) == 0 {
		return nil, nil
	}
	var ts []Tenant
	if err := g.Table("tenants").Where("id IN ?", ids).Order("lower(name), id").Find(&ts).Error; err != nil {
		return nil, fmt.Errorf("tenants for domain: %w", err)
	}
	return db.withOwners(ctx, ts, ids)
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// withOwners adds the owners of ts (all tenants' when ids is nil).
func (db *DB) withOwners(ctx context.Context, ts []Tenant, ids []string) ([]TenantOwners, error) {
	g := db.g.WithContext(ctx)
	var owners []struct{ TenantID, Email string }
	q := g.Table("memberships AS m").Select("m.tenant_id AS tenant_id, u.email AS email").
		Joins("JOIN users AS u ON u.id = m.user_id").Where("m.role = ? AND u.email <> ''", RoleOwner)
	var bs []ownerBinding
	qb := g.Table("tenant_owner_bindings")
	if ids != nil {
		q, qb = q.Where("m.tenant_id IN ?", ids), qb.Where("tenant_id IN ?", ids)
	}
	if err := q.Order("lower(u.email)").Scan(&owners).Error; err != nil {
		return nil, fmt.Errorf("tenant owners: %w", err)
	}
	if err := qb.Find(&bs).Error; err != nil {
		return nil, fmt.Errorf("tenant owner bindings: %w", err)
	}
	byTenant := map[string][]string{}
	for _, o := range owners {
		byTenant[o.TenantID] = append(byTenant[o.TenantID], o.Email)
	}
	pending := map[string]string{}
	for _, b := range bs {
		pending[b.TenantID] = b.Email
	}
	out := make([]TenantOwners, len(ts))
	for i, t := range ts {
		t.CreatedAt = t.CreatedAt.UTC()
		out[i] = TenantOwners{Tenant: t, Owners: byTenant[t.ID], PendingOwner: pending[t.ID]}
	}
	return out, nil
}

// CountUsers counts the users who signed in through issuer.
func (db *DB) CountUsers(ctx context.Context, issuer string) (int64, error) {
	var n int64
	if err := db.g.WithContext(ctx).Table("users").Where("issuer = ?", issuer).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}
