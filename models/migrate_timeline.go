package models

// Versions timeline and undo (issue 14 #2, #3): an operation that made a
// data-key version records which, so a key's history is ordered by what
// it made (a clock can repeat, or stand still in tests) and each version
// names the operation, and so the material, behind it. Rows from before
// this migration keep 0 and are ordered by time.
var migration53OperationVersion = migration{
	version: 53,
	name:    "record the data-key version an operation made",
	stmts: []string{
		`ALTER TABLE key_operations ADD COLUMN version BIGINT NOT NULL DEFAULT 0`,
	},
}
