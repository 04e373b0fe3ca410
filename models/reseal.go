package models

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// SealedColumn names a column holding blobs sealed under the provider KEK
// and the text primary key of its table, for a KEK rotation that walks and
// re-seals them (keysvc.RotateKEK). The store treats the blobs as opaque.
type SealedColumn struct {
	Table, IDColumn, BlobColumn string
}

// String is "table.column".
func (c SealedColumn) String() string { return c.Table + "." + c.BlobColumn }

// SealedRow is one sealed blob and the primary key of its row.
type SealedRow struct {
	ID   string
	Blob []byte
}

// identifier is what a table or column name may look like: the names are
// put into SQL text (they cannot be bound), so anything else is refused.
var identifier = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

func (c SealedColumn) check() error {
	for _, n := range []string{c.Table, c.IDColumn, c.BlobColumn} {
		if !identifier.MatchString(n) {
			return invalid("column", fmt.Sprintf("%q is not a plain lower-case SQL identifier", n))
		}
	}
	return nil
}

// ListSealedRows returns up to limit rows of col with a primary key after
// after (in key order) and a non-empty blob: keyset pagination, so a walk
// that stops part way resumes where it was from any key it last saw.
func (db *DB) ListSealedRows(ctx context.Context, col SealedColumn, after string, limit int) ([]SealedRow, error) {
	if err := col.check(); err != nil {
		return nil, err
	}
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	q := fmt.Sprintf(`SELECT %[2]s AS id, %[3]s AS blob FROM %[1]s WHERE %[2]s > ? AND %[3]s IS NOT NULL ORDER BY %[2]s LIMIT ?`,
		col.Table, col.IDColumn, col.BlobColumn)
	var rows []SealedRow
	if err := db.g.WithContext(ctx).Raw(q, after, limit).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("list sealed rows of %s: %w", col, mapErr(err))
	}
	out := rows[:0]
	for _, r := range rows {
		if len(r.Blob) > 0 {
			out = append(out, r)
		}
	}
	return out, nil
}

// GetSealedBlob returns the blob in col of the row with primary key id, or
// ErrNotFound when the row is gone.
func (db *DB) GetSealedBlob(ctx context.Context, col SealedColumn, id string) ([]byte, error) {
	if err := col.check(); err != nil {
		return nil, err
	}
	q := fmt.Sprintf(`SELECT %[2]s AS id, %[3]s AS blob FROM %[1]s WHERE %[2]s = ?`, col.Table, col.IDColumn, col.BlobColumn)
	var rows []SealedRow
	if err := db.g.WithContext(ctx).Raw(q, id).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("get sealed blob of %s: %w", col, mapErr(err))
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("get sealed blob of %s: %w", col, ErrNotFound)
	}
	return rows[0].Blob, nil
}

// ReplaceSealedBlob swaps the blob of one row from old to new, and only if
// it still holds old: a compare-and-swap, so a re-seal racing a replica that
// rewrote the row meanwhile changes nothing (it reports false) instead of
// putting back a stale secret.
func (db *DB) ReplaceSealedBlob(ctx context.Context, col SealedColumn, id string, old, new []byte) (bool, error) {
	if err := col.check(); err != nil {
		return false, err
	}
	if len(old) == 0 || len(new) == 0 || bytes.Equal(old, new) {
		return false, invalid("blob", "old and new must be different, non-empty blobs")
	}
	q := fmt.Sprintf(`UPDATE %[1]s SET %[3]s = ? WHERE %[2]s = ? AND %[3]s = ?`, col.Table, col.IDColumn, col.BlobColumn)
	res := db.g.WithContext(ctx).Exec(q, new, id, old)
	if res.Error != nil {
		return false, fmt.Errorf("replace sealed blob of %s: %w", col, mapErr(res.Error))
	}
	return res.RowsAffected == 1, nil
}

// SealedColumnsInSchema lists every column that by keyport's naming rule
// holds KEK-sealed blobs: columns named "sealed" or ending in "_sealed",
// and sealed_secrets.blob. A KEK rotation compares it with the columns it knows
// how to re-seal, so a table added later cannot be silently left behind
// under the old KEK.
func (db *DB) SealedColumnsInSchema(ctx context.Context) ([]SealedColumn, error) {
	m := db.g.WithContext(ctx).Migrator()
	tables, err := m.GetTables()
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	var out []SealedColumn
	for _, t := range tables {
		cols, err := m.ColumnTypes(t)
		if err != nil {
			return nil, fmt.Errorf("list columns of %s: %w", t, err)
		}
		for _, c := range cols {
			name := strings.ToLower(c.Name())
			if name == "sealed" || strings.HasSuffix(name, "_sealed") || (t == "sealed_secrets" && name == "blob") {
				out = append(out, SealedColumn{Table: t, BlobColumn: name})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out, nil
}
