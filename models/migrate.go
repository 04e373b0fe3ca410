package models

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
)

// migration is one step of the schema history. Once released a migration is
// never edited, only followed by new ones: the SQL here is the frozen schema,
// independent of today's Go structs (unlike AutoMigrate).
type migration struct {
	version int64
	name    string
	stmts   []string
}

// ddlTypes fills the few type placeholders that differ between the backends we
// run on, so the same migrations serve SQLite and PostgreSQL. SQLite uses
// "datetime" because the driver parses columns declared so back into time.Time.
var ddlTypes = map[string]*strings.Replacer{
	"sqlite":   strings.NewReplacer("{{time}}", "datetime", "{{bytes}}", "blob"),
	"postgres": strings.NewReplacer("{{time}}", "timestamptz", "{{bytes}}", "bytea"),
}

// migrations is the ordered schema history.
var migrations = []migration{
	{1, "create tenants, users and memberships", []string{
		`CREATE TABLE tenants (
			id varchar(64) PRIMARY KEY,
			name text NOT NULL,
			created_at {{time}} NOT NULL
		)`,
		`CREATE TABLE users (
			id varchar(64) PRIMARY KEY,
			issuer text NOT NULL,
			subject text NOT NULL,
			email text NOT NULL DEFAULT '',
			name text NOT NULL DEFAULT '',
			created_at {{time}} NOT NULL,
			last_sign_in_at {{time}} NULL,
			CONSTRAINT users_issuer_subject_key UNIQUE (issuer, subject)
		)`,
		`CREATE TABLE memberships (
			tenant_id varchar(64) NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
			user_id varchar(64) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
			role varchar(16) NOT NULL CHECK (role IN ('owner', 'admin', 'auditor')),
			invited_by varchar(64) NOT NULL DEFAULT '',
			created_at {{time}} NOT NULL,
			PRIMARY KEY (tenant_id, user_id)
		)`,
		`CREATE INDEX memberships_user_id_idx ON memberships (user_id)`,
	}},
	{2, "create sessions and login flows", []string{
		// tenant_id has no foreign key: "" means no tenant chosen yet, and the
		// membership is re-checked on every request anyway.
		`CREATE TABLE sessions (
			id varchar(64) PRIMARY KEY,
			secret_hash {{bytes}} NOT NULL,
			user_id varchar(64) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
			tenant_id varchar(64) NOT NULL DEFAULT '',
			created_at {{time}} NOT NULL,
			last_seen_at {{time}} NOT NULL,
			expires_at {{time}} NOT NULL,
			auth_time {{time}} NOT NULL,
			mfa boolean NOT NULL DEFAULT FALSE
		)`,
		`CREATE INDEX sessions_user_id_idx ON sessions (user_id)`,
		`CREATE INDEX sessions_expires_at_idx ON sessions (expires_at)`,
		`CREATE TABLE login_flows (
			id varchar(64) PRIMARY KEY,
			secret_hash {{bytes}} NOT NULL,
			state text NOT NULL,
			nonce text NOT NULL,
			return_to text NOT NULL DEFAULT '',
			created_at {{time}} NOT NULL,
			expires_at {{time}} NOT NULL
		)`,
	}},
	{3, "create audit events", []string{
		// seq is assigned by the store (max+1 inside the append transaction), not
		// by the database, so that the chain has no gaps by construction.
		`CREATE TABLE audit_events (
			seq bigint PRIMARY KEY,
			tenant_id varchar(64) NOT NULL DEFAULT '',
			actor text NOT NULL DEFAULT '',
			action text NOT NULL,
			target_type text NOT NULL DEFAULT '',
			target_id text NOT NULL DEFAULT '',
			details text NOT NULL,
			request_id text NOT NULL DEFAULT '',
			created_at {{time}} NOT NULL,
			prev_hash {{bytes}} NOT NULL,
			hash {{bytes}} NOT NULL
		)`,
		`CREATE INDEX audit_events_tenant_seq_idx ON audit_events (tenant_id, seq)`,
	}},
	{4, "create sealed secrets", []string{
		`CREATE TABLE sealed_secrets (
			name varchar(200) PRIMARY KEY,
			blob {{bytes}} NOT NULL,
			created_at {{time}} NOT NULL
		)`,
	}},
	{5, "create invitations", []string{
		// token_hash is SHA-256 of the emailed token: the table never holds a
		// usable link. email is stored lowercased so matching is exact.
		`CREATE TABLE invitations (
			id varchar(64) PRIMARY KEY,
			tenant_id varchar(64) NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
			email text NOT NULL,
			role varchar(16) NOT NULL CHECK (role IN ('owner', 'admin', 'auditor')),
			token_hash {{bytes}} NOT NULL,
			invited_by varchar(64) NOT NULL,
			created_at {{time}} NOT NULL,
			expires_at {{time}} NOT NULL,
			accepted_at {{time}} NULL,
			accepted_by varchar(64) NOT NULL DEFAULT '',
			revoked_at {{time}} NULL,
			CONSTRAINT invitations_token_hash_key UNIQUE (token_hash)
		)`,
		`CREATE INDEX invitations_tenant_created_idx ON invitations (tenant_id, created_at)`,
		`CREATE INDEX invitations_tenant_email_idx ON invitations (tenant_id, email)`,
	}},
}

// sortedMigrations is the history in version order. Files register their
// migrations from init functions, which run in file-name order, not version
// order (migrate_jobs.go, version 8, runs before migrate_keys.go, version 6).
func sortedMigrations() []migration {
	out := slices.Clone(migrations)
	slices.SortFunc(out, func(a, b migration) int { return cmp.Compare(a.version, b.version) })
	return out
}

// schemaMigration is a row of schema_migrations.
type schemaMigration struct {
	Version   int64
	Name      string
	AppliedAt time.Time
}

// Migrate brings the schema up to date. Each migration runs in its own
// transaction together with its schema_migrations row, so a crash leaves
// either all or none of it; versions already recorded are skipped, which makes
// Migrate idempotent and safe to run from several processes at once: on
// SQLite the write lock is taken at BEGIN, on PostgreSQL every step first
// takes an advisory lock (DDL there is transactional, but two replicas
// creating the same table at once would otherwise collide in the catalog).
func (db *DB) Migrate(ctx context.Context) error {
	repl, ok := ddlTypes[db.g.Dialector.Name()]
	if !ok {
		return fmt.Errorf("migrate schema: unsupported database %q", db.g.Dialector.Name())
	}
	g := db.g.WithContext(ctx)
	err := g.Transaction(func(tx *gorm.DB) error {
		if err := db.xactLock(tx, "migrate"); err != nil {
			return err
		}
		return tx.Exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
			version bigint PRIMARY KEY,
			name text NOT NULL,
			applied_at ` + repl.Replace("{{time}}") + ` NOT NULL
		)`).Error
	})
	if err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	if err := db.checkMigrationHistory(ctx); err != nil {
		return err
	}
	for _, m := range sortedMigrations() {
		applied := false
		err := g.Transaction(func(tx *gorm.DB) error {
			if err := db.xactLock(tx, "migrate"); err != nil {
				return err
			}
			var n int64
			if err := tx.Table("schema_migrations").Where("version = ?", m.version).Count(&n).Error; err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			for _, stmt := range m.stmts {
				if err := tx.Exec(repl.Replace(stmt)).Error; err != nil {
					return err
				}
			}
			applied = true
			return tx.Table("schema_migrations").Create(&schemaMigration{
				Version: m.version, Name: m.name, AppliedAt: db.now(),
			}).Error
		})
		if err != nil {
			return fmt.Errorf("apply migration %d (%s): %w", m.version, m.name, err)
		}
		if applied {
			db.logger.InfoContext(ctx, "applied migration", "version", m.version, "name", m.name)
		}
	}
	return nil
}

// checkMigrationHistory refuses a database that a newer binary migrated, or
// whose recorded history differs from ours: running against a schema we do
// not know could corrupt it.
func (db *DB) checkMigrationHistory(ctx context.Context) error {
	var rows []schemaMigration
	if err := db.g.WithContext(ctx).Table("schema_migrations").Order("version").Find(&rows).Error; err != nil {
		return fmt.Errorf("read schema_migrations: %w", err)
	}
	known := make(map[int64]string, len(migrations))
	for _, m := range migrations {
		known[m.version] = m.name
	}
	for _, r := range rows {
		name, ok := known[r.Version]
		if !ok {
			return fmt.Errorf("migrate schema: database has migration %d, unknown to this binary (was it migrated by a newer version?)", r.Version)
		}
		if name != r.Name {
			return fmt.Errorf("migrate schema: migration %d is recorded as %q but this binary calls it %q", r.Version, r.Name, name)
		}
	}
	return nil
}

// AppliedMigrations lists the recorded migrations in version order.
func (db *DB) AppliedMigrations(ctx context.Context) ([]int64, error) {
	var versions []int64
	err := db.g.WithContext(ctx).Table("schema_migrations").Order("version").Pluck("version", &versions).Error
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	return versions, nil
}
