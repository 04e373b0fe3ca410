package models

import (
	"context"
	"fmt"
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

// migrations is the schema history in the order Migrate applies it. A new
// migration takes the next free version and goes at the end; versions strictly
// increase (TestMigrationsAreOrdered), gaps are allowed. Each migration lives
// beside the other schema of its area (migrate_*.go).
var migrations = []migration{
	migration1Accounts,
	migration2Sessions,
	migration3Audit,
	migration4SealedSecrets,
	migration5Invitations,
	migration6Keys,
	migration8Jobs,
	migration10AuditIndexes,
	migration12Lifecycle,
	migration13Held,
	migration14AuditTenantChains,
	migration15StepUp,
	migration22StateOperations,
	migration26NamesIgnoreCase,
	migration30VersionRetirement,
	migration31AuditVerifications,
	migration40APIKeys,
	migration41Webhooks,
	migration42OwnerBindings,
	migration44TenantDataKeys,
	migration45ImportWrappingReports,
	migration46TenantClosure,
	migration49OnboardingDismissed,
	migration50DeregisteredKeys,
	migration51TenantUsage,
	migration53OperationVersion,
	migration64KMSRotationStatus,
	migration65KeyStatusIndexes,
	migration66VersionUseIndex,
	migration68JobsClaimOrder,
	migration69RegionARNIndex,
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
	for _, m := range migrations {
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
	db.resetReaders()
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
