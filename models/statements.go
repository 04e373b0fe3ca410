package models

import (
	"context"
	"fmt"
	"sync/atomic"

	"gorm.io/gorm"
)

// statementHooks numbers OnStatement's callbacks: gorm wants unique names.
var statementHooks atomic.Int64

// OnStatement calls fn after every SQL statement the store runs, with the
// statement's context. Tests use it to count the queries of one request
// (filtering on a value they put in its context); it is not for
// production paths, which must not slow every statement.
func (db *DB) OnStatement(fn func(ctx context.Context)) error {
	return db.OnStatementSQL(func(ctx context.Context, _ string) { fn(ctx) })
}

// OnStatementSQL is OnStatement with the statement's SQL (placeholders,
// never the values), so a test that counts statements can say which ran.
func (db *DB) OnStatementSQL(fn func(ctx context.Context, sql string)) error {
	name := fmt.Sprintf("keyport:on_statement_%d", statementHooks.Add(1))
	call := func(tx *gorm.DB) {
		if !tx.DryRun { // a sub-query built into its statement, never sent
			fn(tx.Statement.Context, tx.Statement.SQL.String())
		}
	}
	for _, g := range db.handles() {
		cb := g.Callback()
		for _, err := range []error{
			cb.Query().After("gorm:query").Register(name, call),
			cb.Row().After("gorm:row").Register(name, call),
			cb.Raw().After("gorm:raw").Register(name, call),
			cb.Create().After("gorm:create").Register(name, call),
			cb.Update().After("gorm:update").Register(name, call),
			cb.Delete().After("gorm:delete").Register(name, call),
		} {
			if err != nil {
				return fmt.Errorf("register statement hook: %w", err)
			}
		}
	}
	return nil
}

// handles are the store's gorm handles: the writer, and the read-only
// pool when it is a separate one.
func (db *DB) handles() []*gorm.DB {
	if db.rd == db.g {
		return []*gorm.DB{db.g}
	}
	return []*gorm.DB{db.g, db.rd}
}
