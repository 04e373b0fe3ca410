package seal

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"keyport/models"
)

// SealedColumn is a column of KEK-sealed blobs that a KEK rotation
// re-seals, with the seal purpose of each row (it depends on the row's
// primary key) and, optionally, rows that are not sealer blobs at all.
type SealedColumn struct {
	models.SealedColumn
	// Purpose is the seal purpose of the row with primary key id.
	Purpose func(id string) string
	// Skip, when set, names rows of the column that hold something else
	// (the KMS-wrapped KEK in sealed_secrets is KMS ciphertext).
	Skip func(id string) bool
}

// sealedColumns is every column of sealed blobs in the schema, with the
// purpose each row is sealed for. RotateKEK refuses to run while the schema
// has a sealed column (named "sealed" or *_sealed) missing here, so a new
// one cannot be forgotten: add it to this list in the same change.
var sealedColumns = []SealedColumn{
	{SealedColumn: models.SealedColumn{Table: "sealed_secrets", IDColumn: "name", BlobColumn: "blob"},
		Purpose: func(name string) string { return name }, // sealed_secrets rows are sealed with their name as purpose
		Skip:    func(name string) bool { return name == KMSKEKSecret }},
	{SealedColumn: models.SealedColumn{Table: "aws_connections", IDColumn: "id", BlobColumn: "secret_sealed"},
		Purpose: SecretPurpose},
	{SealedColumn: models.SealedColumn{Table: "outbox", IDColumn: "id", BlobColumn: "body_sealed"},
		Purpose: OutboxPurpose},
	{SealedColumn: models.SealedColumn{Table: "key_materials", IDColumn: "id", BlobColumn: "sealed"},
		Purpose: MaterialPurpose},
	{SealedColumn: models.SealedColumn{Table: "import_requests", IDColumn: "id", BlobColumn: "private_sealed"},
		Purpose: ImportPurpose},
	{SealedColumn: models.SealedColumn{Table: "idempotency_records", IDColumn: "id", BlobColumn: "body_sealed"},
		Purpose: IdempotencyPurpose},
	{SealedColumn: models.SealedColumn{Table: "webhook_endpoints", IDColumn: "id", BlobColumn: "secret_sealed"},
		Purpose: WebhookSecretPurpose},
}

// SealedColumns returns the sealed columns, sorted by table and column.
func SealedColumns() []SealedColumn {
	out := append([]SealedColumn(nil), sealedColumns...)
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// ResealStore is the part of the store a KEK rotation walks.
type ResealStore interface {
	ListSealedRows(ctx context.Context, col models.SealedColumn, after string, limit int) ([]models.SealedRow, error)
	GetSealedBlob(ctx context.Context, col models.SealedColumn, id string) ([]byte, error)
	ReplaceSealedBlob(ctx context.Context, col models.SealedColumn, id string, old, new []byte) (bool, error)
	SealedColumnsInSchema(ctx context.Context) ([]models.SealedColumn, error)
}

// ColumnRotation counts what a KEK rotation did to one column.
type ColumnRotation struct {
	Column   string // table.column
	Scanned  int    // rows with a blob
	Resealed int    // re-sealed under the current KEK by this run
	Current  int    // already under the current KEK (an earlier or interrupted run, or a fresh write)
	Skipped  int    // rows that are not sealer blobs (Skip)
	Failed   int    // rows that did not open: corrupt, or under a KEK this process does not hold
}

// KEKRotation is the outcome of RotateKEK.
type KEKRotation struct {
	KEKID   string // the current KEK's id
	Columns []ColumnRotation
	// Failures name the rows that did not open (table, key and KEK id,
	// never a secret), at most the first 20.
	Failures []string
}

// Total sums the columns.
func (r *KEKRotation) Total() ColumnRotation {
	var t ColumnRotation
	for _, c := range r.Columns {
		t.Scanned += c.Scanned
		t.Resealed += c.Resealed
		t.Current += c.Current
		t.Skipped += c.Skipped
		t.Failed += c.Failed
	}
	return t
}

// Done reports whether every sealed blob is now under the current KEK, so
// the previous KEK can be removed.
func (r *KEKRotation) Done() bool { return r.Total().Failed == 0 }

// ErrUnregisteredSealedColumn is returned by RotateKEK when the schema has a
// sealed column no SealedColumn describes.
var ErrUnregisteredSealedColumn = errors.New("seal: a sealed column is not registered for kek rotation")

// RotateKEK re-seals every registered sealed column under the sealer's
// current KEK, row by row. Rows already under the current KEK are left
// alone, so the rotation is idempotent and an interrupted run resumes by
// running again; each row is swapped only if it still holds what was read,
// so replicas writing meanwhile (sealing under the current KEK, opening
// under either) are never overwritten. The sealer must hold the previous
// KEK (AddPrevious) for the rows still under it. progress, when set, is
// called after every page with the column's counts so far.
func RotateKEK(ctx context.Context, store ResealStore, s *Sealer, progress func(ColumnRotation)) (*KEKRotation, error) {
	cols := SealedColumns()
	if err := checkSchemaCovered(ctx, store, cols); err != nil {
		return nil, err
	}
	rep := &KEKRotation{KEKID: s.KeyID()}
	for _, col := range cols {
		cr, err := rotateColumn(ctx, store, s, col, rep, progress)
		rep.Columns = append(rep.Columns, cr)
		if err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// checkSchemaCovered fails when a sealed column in the schema has no
// registration: rotating all but one column and then removing the old KEK
// would lose that column's secrets.
func checkSchemaCovered(ctx context.Context, store ResealStore, cols []SealedColumn) error {
	inSchema, err := store.SealedColumnsInSchema(ctx)
	if err != nil {
		return fmt.Errorf("list sealed columns: %w", err)
	}
	known := map[string]bool{}
	for _, c := range cols {
		known[c.String()] = true
	}
	var missing []string
	for _, c := range inSchema {
		if !known[c.String()] {
			missing = append(missing, c.String())
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s (add it to seal.sealedColumns)", ErrUnregisteredSealedColumn, strings.Join(missing, ", "))
	}
	return nil
}

// resealPage is how many rows one query reads.
const resealPage = 200

func rotateColumn(ctx context.Context, store ResealStore, s *Sealer, col SealedColumn, rep *KEKRotation,
	progress func(ColumnRotation)) (ColumnRotation, error) {
	cr := ColumnRotation{Column: col.String()}
	after := ""
	for {
		rows, err := store.ListSealedRows(ctx, col.SealedColumn, after, resealPage)
		if err != nil {
			return cr, err
		}
		if len(rows) == 0 {
			return cr, nil
		}
		for _, row := range rows {
			after = row.ID
			cr.Scanned++
			if col.Skip != nil && col.Skip(row.ID) {
				cr.Skipped++
				continue
			}
			current, err := resealRow(ctx, store, s, col, row)
			switch {
			case err == nil && current:
				cr.Current++
			case err == nil:
				cr.Resealed++
			case errors.Is(err, ErrSealedCorrupt):
				cr.Failed++
				if len(rep.Failures) < 20 {
					rep.Failures = append(rep.Failures, col.String()+" "+strconv.Quote(row.ID)+": "+err.Error())
				}
			default:
				return cr, fmt.Errorf("re-seal %s %q: %w", col, row.ID, err)
			}
		}
		if progress != nil {
			progress(cr)
		}
	}
}

// resealRow brings one row under the current KEK and reports whether it
// already was. When a replica rewrites the row between read and swap, the
// row is read again: the new blob is usually current already.
func resealRow(ctx context.Context, store ResealStore, s *Sealer, col SealedColumn, row models.SealedRow) (bool, error) {
	blob := row.Blob
	for attempt := 0; attempt < 5; attempt++ {
		if s.IsCurrent(blob) {
			return true, nil
		}
		fresh, err := s.Reseal(col.Purpose(row.ID), blob)
		if err != nil {
			return false, err
		}
		swapped, err := store.ReplaceSealedBlob(ctx, col.SealedColumn, row.ID, blob, fresh)
		if err != nil || swapped {
			return false, err
		}
		blob, err = store.GetSealedBlob(ctx, col.SealedColumn, row.ID)
		if errors.Is(err, models.ErrNotFound) || err == nil && len(blob) == 0 {
			return true, nil // deleted meanwhile: nothing left under the old KEK
		}
		if err != nil {
			return false, err
		}
	}
	return false, fmt.Errorf("seal: row %q of %s keeps changing during re-seal", row.ID, col)
}
