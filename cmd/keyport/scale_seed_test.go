package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"keyport/models"
	"keyport/models/modelstest"
)

// rawDB opens dsn (a SQLite file or a modelstest PostgreSQL URL) with
// database/sql, for bulk seeding that the store's methods would take
// minutes for.
func rawDB(tb testing.TB, dsn string) *sql.DB {
	tb.Helper()
	driver := "sqlite3"
	if models.IsPostgresURL(dsn) {
		driver = "pgx" // registered by modelstest
	}
	raw, err := sql.Open(driver, dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { raw.Close() })
	return raw
}

// bulkInsert inserts rows into table in multi-row INSERTs inside tx.
func bulkInsert(tb testing.TB, tx *sql.Tx, table string, cols []string, rows [][]any) {
	tb.Helper()
	per := min(500, 30000/len(cols))
	for start := 0; start < len(rows); start += per {
		chunk := rows[start:min(start+per, len(rows))]
		var b strings.Builder
		fmt.Fprintf(&b, "INSERT INTO %s (%s) VALUES ", table, strings.Join(cols, ", "))
		args := make([]any, 0, len(chunk)*len(cols))
		for i, r := range chunk {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('(')
			for j, v := range r {
				if j > 0 {
					b.WriteString(", ")
				}
				args = append(args, v)
				fmt.Fprintf(&b, "$%d", len(args))
			}
			b.WriteByte(')')
		}
		if _, err := tx.Exec(b.String(), args...); err != nil {
			tb.Fatalf("seed %s: %v", table, err)
		}
	}
}

// scaleKeys describes keys to seed: n customer-managed keys of one tenant
// on one connection, each with its regions (the first is the primary) and
// data-key version 1 wrapped in each region.
type scaleKeys struct {
	prefix, tenant, conn string
	n                    int
	regions              [][2]string // region, KMS key ARN
	created              time.Time
	// due: also a default rotation policy and the scheduled rotation's
	// job from version 1, due at due (zero: neither).
	due time.Time
}

// seed writes the keys in tx.
func (s scaleKeys) seed(tb testing.TB, tx *sql.Tx) {
	tb.Helper()
	var keys, regions, versions, wraps, policies, jobs [][]any
	for i := range s.n {
		id := fmt.Sprintf("%s%05d", s.prefix, i)
		keys = append(keys, []any{id, s.tenant, s.conn, fmt.Sprintf("%s key %05d", s.prefix, i), "cmk", "ENABLED", "OK", 1, s.created, s.created})
		versions = append(versions, []any{id, 1, "register", s.created})
		for p, r := range s.regions {
			regions = append(regions, []any{id, r[0], r[1], p})
			wraps = append(wraps, []any{id, 1, r[0], r[1], []byte("seeded wrapped data key " + id)})
		}
		if s.due.IsZero() {
			continue
		}
		policies = append(policies, []any{id, s.tenant, 365, "30,7,1", true, 0, 24, s.due, 1, "OK", s.created, "system", s.created})
		payload, _ := json.Marshal(rotatePayloadJSON{KeyID: id, FromVersion: 1, Reason: "scheduled", Actor: "system"})
		jobs = append(jobs, []any{models.NewID("job_"), models.JobKindRotate, s.tenant, models.RotateRunKey(id, 1), string(payload),
			models.JobPending, s.due, 10, s.created, s.created})
	}
	bulkInsert(tb, tx, "keys", []string{"id", "tenant_id", "connection_id", "name", "mode", "state", "health", "current_version", "created_at", "updated_at"}, keys)
	bulkInsert(tb, tx, "key_regions", []string{"key_id", "region", "kms_key_arn", "priority"}, regions)
	bulkInsert(tb, tx, "data_key_versions", []string{"key_id", "version", "reason", "created_at"}, versions)
	bulkInsert(tb, tx, "data_key_wraps", []string{"key_id", "version", "region", "kms_key_arn", "ciphertext"}, wraps)
	if len(policies) > 0 {
		bulkInsert(tb, tx, "rotation_policies", []string{"key_id", "tenant_id", "period_days", "notice_days", "automatic", "window_start_hour",
			"window_hours", "next_rotation_at", "from_version", "health_notified", "last_rotated_at", "updated_by", "updated_at"}, policies)
		bulkInsert(tb, tx, "jobs", []string{"id", "kind", "tenant_id", "run_key", "payload", "state", "due_at", "max_attempts", "created_at", "updated_at"}, jobs)
	}
}

// rotatePayloadJSON is the payload of a scheduled key.rotate job, as
// rotation writes it.
type rotatePayloadJSON struct {
	KeyID       string `json:"key_id"`
	FromVersion int64  `json:"from_version"`
	Reason      string `json:"reason"`
	Actor       string `json:"actor"`
}

// analyze gives PostgreSQL statistics after a bulk load, as a live
// database would have them.
func analyze(tb testing.TB, raw *sql.DB, dsn string) {
	tb.Helper()
	if models.IsPostgresURL(dsn) {
		if _, err := raw.Exec(`ANALYZE`); err != nil {
			tb.Fatal(err)
		}
	}
}

var _ = modelstest.Postgres // the pgx driver for rawDB
