package models

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"time"

	"gorm.io/gorm"
)

// PrefixConnection starts every AWS connection id.
const PrefixConnection = "con_"

// Connection is a tenant's AWS connection: how keyport reaches KMS in one
// AWS account. SecretSealed is the IAM secret access key sealed under the
// provider KEK by keysvc; the store never sees it in the clear.
type Connection struct {
	ID              string
	TenantID        string
	Name            string
	AccountID       string
	DefaultRegion   string
	Kind            string // "access_key" or "assume_role"
	AccessKeyID     string
	SecretSealed    []byte
	RoleARN         string `gorm:"column:role_arn"`
	ExternalID      string
	CreatedBy       string
	CreatedAt       time.Time
	LastTestAt      *time.Time
	LastTestOK      bool `gorm:"column:last_test_ok"`
	LastTestSummary string
	Revision        int64
	// DeletedAt is set on a connection deleted while deregistered keys
	// still name it (see DeleteConnection): it is kept, without its
	// secret, so that those keys' history and reports still say which
	// account they were in; no list or lookup but GetConnectionRecord
	// returns it.
	DeletedAt *time.Time
}

// String leaves the sealed secret out of logs.
func (c Connection) String() string {
	return fmt.Sprintf("models.Connection{id: %s, tenant: %s, account: %s, kind: %s}", c.ID, c.TenantID, c.AccountID, c.Kind)
}

// LogValue redacts for slog too (its JSON handler ignores String).
func (c Connection) LogValue() slog.Value { return slog.StringValue(c.String()) }

// CreateConnection records a new connection with its audit event in one
// transaction; ID and CreatedAt are filled in. A name already used in the
// tenant (ignoring case) gives ErrNameTaken.
func (db *DB) CreateConnection(ctx context.Context, c *Connection, audit AuditInput) error {
	if c.ID == "" {
		c.ID = NewID(PrefixConnection)
	}
	name, err := validateName("name", c.Name, 100)
	if err != nil {
		return err
	}
	c.Name = name
	c.CreatedAt = db.now()
	audit.TenantID, audit.TargetType, audit.TargetID = c.TenantID, "connection", c.ID
	return db.change(ctx, "create connection", func(tx *gorm.DB) (*AuditInput, error) {
		if taken, err := nameTaken(tx, "aws_connections", c.TenantID, c.Name, ""); err != nil || taken {
			return nil, cmp.Or(err, error(ErrNameTaken))
		}
		rev, err := nextRevision(tx)
		if err != nil {
			return nil, err
		}
		c.Revision = rev
		if err := tx.Table("aws_connections").Create(c).Error; err != nil {
			return nil, duplicateName(err)
		}
		return &audit, nil
	})
}

func fixConnTimes(c *Connection) {
	c.CreatedAt, c.LastTestAt, c.DeletedAt = c.CreatedAt.UTC(), tsPtr(c.LastTestAt), tsPtr(c.DeletedAt)
}

// GetConnection returns a tenant's connection, or ErrNotFound (also for
// another tenant's).
func (db *DB) GetConnection(ctx context.Context, tenantID, id string) (*Connection, error) {
	var c Connection
	if err := db.g.WithContext(ctx).Table("aws_connections").Where("tenant_id = ? AND id = ? AND deleted_at IS NULL", tenantID, id).Take(&c).Error; err != nil {
		return nil, fmt.Errorf("get connection: %w", mapErr(err))
	}
	fixConnTimes(&c)
	return &c, nil
}

// ListConnections lists a tenant's connections by name.
func (db *DB) ListConnections(ctx context.Context, tenantID string) ([]Connection, error) {
	var cs []Connection
	if err := db.reader(ctx).Table("aws_connections").Where("tenant_id = ? AND deleted_at IS NULL", tenantID).Order("lower(name), id").Find(&cs).Error; err != nil {
		return nil, fmt.Errorf("list connections: %w", mapErr(err))
	}
	for i := range cs {
		fixConnTimes(&cs[i])
	}
	return cs, nil
}

// CountConnectionKeys counts the keys (not deleted) that use a connection.
func (db *DB) CountConnectionKeys(ctx context.Context, tenantID, id string) (int64, error) {
	var n int64
	err := db.g.WithContext(ctx).Table("keys").Where("tenant_id = ? AND connection_id = ? AND state <> ?", tenantID, id, StateDeleted).Count(&n).Error
	if err != nil {
		return 0, fmt.Errorf("count connection keys: %w", mapErr(err))
	}
	return n, nil
}

// RecordConnectionTest stores the outcome of a connection test, with its
// audit event.
func (db *DB) RecordConnectionTest(ctx context.Context, tenantID, id string, ok bool, summary string, audit AuditInput) error {
	audit.TenantID, audit.TargetType, audit.TargetID = tenantID, "connection", id
	return db.change(ctx, "record connection test", func(tx *gorm.DB) (*AuditInput, error) {
		res := tx.Table("aws_connections").Where("tenant_id = ? AND id = ?", tenantID, id).
			Updates(map[string]any{"last_test_at": db.now(), "last_test_ok": ok, "last_test_summary": summary})
		if err := oneRow(res); err != nil {
			return nil, err
		}
		return &audit, nil
	})
}

// DeleteConnection deletes a tenant's connection, with its audit event. A
// connection that keys still use (any key not DELETED) or that a key store
// holds is refused with a *ValidationError: they would lose their way to
// KMS. Keys that are DELETED (deregistered customer keys, deleted managed
// keys) do not count; when such keys still name the connection it is kept
// as a record (DeletedAt set, secret erased, renamed to free its name)
// instead of removed, so their history and reports keep saying where they
// were; otherwise the row is deleted.
func (db *DB) DeleteConnection(ctx context.Context, tenantID, id string, audit AuditInput) error {
	audit.TenantID, audit.TargetType, audit.TargetID = tenantID, "connection", id
	return db.change(ctx, "delete connection", func(tx *gorm.DB) (*AuditInput, error) {
		var live, gone, stores int64
		if err := tx.Table("keys").Where("tenant_id = ? AND connection_id = ? AND state <> ?", tenantID, id, StateDeleted).Count(&live).Error; err != nil {
			return nil, err
		}
		if live > 0 {
			return nil, invalid("connection", fmt.Sprintf("is used by %d key(s); deregister, delete or move them first", live))
		}
		if err := tx.Table("key_stores").Where("tenant_id = ? AND connection_id = ?", tenantID, id).Count(&stores).Error; err != nil {
			return nil, err
		}
		if stores > 0 {
			return nil, invalid("connection", fmt.Sprintf("holds %d key store(s); delete them first", stores))
		}
		if err := tx.Table("keys").Where("tenant_id = ? AND connection_id = ?", tenantID, id).Count(&gone).Error; err != nil {
			return nil, err
		}
		rev, err := nextRevision(tx)
		if err != nil {
			return nil, err
		}
		if gone == 0 {
			return &audit, oneRow(tx.Exec(`DELETE FROM aws_connections WHERE tenant_id = ? AND id = ?`, tenantID, id))
		}
		var c Connection
		if err := tx.Table("aws_connections").Where("tenant_id = ? AND id = ? AND deleted_at IS NULL", tenantID, id).Take(&c).Error; err != nil {
			return nil, err
		}
		name := c.Name
		if r := []rune(name); len(r) > 60 {
			name = string(r[:60])
		}
		res := tx.Table("aws_connections").Where("tenant_id = ? AND id = ? AND deleted_at IS NULL", tenantID, id).
			Updates(map[string]any{"deleted_at": db.now(), "secret_sealed": nil, "name": name + " (deleted " + id + ")", "revision": rev})
		if err := oneRow(res); err != nil {
			return nil, err
		}
		if audit.Details == nil {
			audit.Details = map[string]string{}
		}
		audit.Details["kept_for_deregistered_keys"] = fmt.Sprint(gone)
		return &audit, nil
	})
}

// GetConnectionRecord returns a tenant's connection even when it was
// deleted and kept for the DELETED keys that name it (key pages).
func (db *DB) GetConnectionRecord(ctx context.Context, tenantID, id string) (*Connection, error) {
	var c Connection
	if err := db.reader(ctx).Table("aws_connections").Where("tenant_id = ? AND id = ?", tenantID, id).Take(&c).Error; err != nil {
		return nil, fmt.Errorf("get connection: %w", mapErr(err))
	}
	fixConnTimes(&c)
	return &c, nil
}

// UpdateConnectionCredentials replaces a connection's credentials (a new
// access key and sealed secret, or another role) after keyport tested them,
// with its audit event; the revision tells every replica to drop its cached
// clients. The name may change too ("" keeps it). tested records that
// the credentials just passed a connection test.
func (db *DB) UpdateConnectionCredentials(ctx context.Context, c *Connection, tested bool, audit AuditInput) error {
	if c.Name != "" {
		name, err := validateName("name", c.Name, 100)
		if err != nil {
			return err
		}
		c.Name = name
	}
	audit.TenantID, audit.TargetType, audit.TargetID = c.TenantID, "connection", c.ID
	return db.change(ctx, "update connection", func(tx *gorm.DB) (*AuditInput, error) {
		if c.Name != "" {
			if taken, err := nameTaken(tx, "aws_connections", c.TenantID, c.Name, c.ID); err != nil || taken {
				return nil, cmp.Or(err, error(ErrNameTaken))
			}
		}
		rev, err := nextRevision(tx)
		if err != nil {
			return nil, err
		}
		up := map[string]any{"access_key_id": c.AccessKeyID, "secret_sealed": c.SecretSealed, "role_arn": c.RoleARN, "revision": rev}
		if tested { // the new credentials passed the test they replace the old ones after
			up["last_test_at"], up["last_test_ok"], up["last_test_summary"] = db.now(), true, c.LastTestSummary
		}
		if c.Name != "" {
			up["name"] = c.Name
		}
		res := tx.Table("aws_connections").Where("tenant_id = ? AND id = ?", c.TenantID, c.ID).Updates(up)
		if err := oneRow(res); err != nil {
			return nil, duplicateName(err)
		}
		return &audit, nil
	})
}
