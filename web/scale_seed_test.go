package web_test

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"keyport/models/modelstest"
)

// bulkRows inserts rows into table through multi-row INSERTs inside tx: a
// statement per few hundred rows keeps a 100,000-row seed to seconds on
// PostgreSQL too, where one round trip per row would take minutes.
func bulkRows(tb testing.TB, tx *sql.Tx, table string, cols []string, rows [][]any) {
	tb.Helper()
	per := max(1, 5000/len(cols)) // stays under every driver's parameter limit
	for start := 0; start < len(rows); start += per {
		chunk := rows[start:min(len(rows), start+per)]
		var b strings.Builder
		fmt.Fprintf(&b, "INSERT INTO %s (%s) VALUES ", table, strings.Join(cols, ", "))
		args := make([]any, 0, len(chunk)*len(cols))
		for i, r := range chunk {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('(')
			for j := range r {
				if j > 0 {
					b.WriteString(", ")
				}
				fmt.Fprintf(&b, "$%d", len(args)+1)
				args = append(args, r[j])
			}
			b.WriteByte(')')
		}
		if _, err := tx.Exec(b.String(), args...); err != nil {
			tb.Fatalf("bulk insert into %s: %v", table, err)
		}
	}
}

// scaleSize says how much one tenant holds in a scale seed.
type scaleSize struct {
	Keys, Events, Members int
}

// scaleKeyID names the i-th seeded key of tenant number t.
func scaleKeyID(t, i int) string { return fmt.Sprintf("key_s%03d_%06d", t, i) }

// scaleActions are the audit actions a seeded log cycles through.
var scaleActions = []string{"key.registered", "key.checked", "key.rotated", "key.validated", "key.cache_purged",
	"member.invited", "member.role_changed", "connection.tested", "report.downloaded", "key.data_key_uploaded"}

// seedScaleTenant adds to tenant (number t, already created, with the
// connection conn) size.Members members, size.Keys keys and size.Events
// audit events, in bulk inside tx. One key in ten is a generated key in a
// key store with material that expires; every key has a rotation policy,
// two regions and one data-key version; the events name the members and
// keys as actors and targets, spread over 90 days.
func seedScaleTenant(tb testing.TB, tx *sql.Tx, t int, tenant, conn string, size scaleSize, now time.Time, seq *int64) {
	tb.Helper()
	var users, members [][]any
	memberIDs := make([]string, size.Members)
	for i := range size.Members {
		id := fmt.Sprintf("usr_s%03d_%05d", t, i)
		memberIDs[i] = id
		users = append(users, []any{id, "https://scale.test", id, fmt.Sprintf("member%05d@t%03d.scale.test", i, t), fmt.Sprintf("Member %05d", i), now, now.Add(-time.Duration(i) * time.Hour)})
		role := "auditor"
		if i%10 == 0 {
			role = "admin"
		}
		members = append(members, []any{tenant, id, role, "", now})
	}
	bulkRows(tb, tx, "users", []string{"id", "issuer", "subject", "email", "name", "created_at", "last_sign_in_at"}, users)
	bulkRows(tb, tx, "memberships", []string{"tenant_id", "user_id", "role", "invited_by", "created_at"}, members)

	store := fmt.Sprintf("kst_s%03d", t)
	bulkRows(tb, tx, "key_stores", []string{"id", "tenant_id", "connection_id", "region", "name", "created_at", "updated_at"},
		[][]any{{store, tenant, conn, "us-east-1", "scale store", now, now}})
	var keys, regions, versions, policies, managed, materials [][]any
	for i := range size.Keys {
		id := scaleKeyID(t, i)
		mode := "cmk"
		if i%10 == 9 {
			mode = "generated"
			managed = append(managed, []any{id, tenant, store, fmt.Sprintf("alias/keyport/scale-%06d", i), now})
			materials = append(materials, []any{"mat_" + id, id, tenant, 1, "generated", []byte("sealed"), "fp", "arn:aws:kms:us-east-1:111122223333:key/m" + id,
				"active", 1, now.Add(time.Duration(i-size.Keys/2) * time.Hour), now})
		}
		health := "OK"
		if i%50 == 7 {
			health = "ACCESS_DENIED"
		}
		keys = append(keys, []any{id, tenant, conn, fmt.Sprintf("key %05d", i), mode, "ENABLED", health, 1, now, now})
		for p, region := range []string{"us-east-1", "eu-west-1"} {
			regions = append(regions, []any{id, region, "arn:aws:kms:" + region + ":111122223333:key/" + id, p})
		}
		var used any
		if i%3 == 0 {
			used = now.Add(-time.Duration(i) * time.Second)
		}
		versions = append(versions, []any{id, 1, "register", now, used})
		policies = append(policies, []any{id, tenant, 365, "30,7,1", true, 2, 4, now.Add(time.Duration(i) * time.Minute), 1, now})
	}
	bulkRows(tb, tx, "keys", []string{"id", "tenant_id", "connection_id", "name", "mode", "state", "health", "current_version", "created_at", "updated_at"}, keys)
	bulkRows(tb, tx, "key_regions", []string{"key_id", "region", "kms_key_arn", "priority"}, regions)
	bulkRows(tb, tx, "data_key_versions", []string{"key_id", "version", "reason", "created_at", "last_used_at"}, versions)
	bulkRows(tb, tx, "rotation_policies", []string{"key_id", "tenant_id", "period_days", "notice_days", "automatic", "window_start_hour", "window_hours",
		"next_rotation_at", "from_version", "updated_at"}, policies)
	bulkRows(tb, tx, "managed_keys", []string{"key_id", "tenant_id", "store_id", "alias_name", "updated_at"}, managed)
	bulkRows(tb, tx, "key_materials", []string{"id", "key_id", "tenant_id", "seq", "source", "sealed", "fingerprint", "kms_key_arn", "state",
		"data_key_version", "valid_to", "created_at"}, materials)

	// The events continue the tenant's chain numbering after what the
	// sign-in wrote; their hashes are placeholders (no page verifies them).
	var tenantSeq int64
	if err := tx.QueryRow(`SELECT COALESCE(MAX(tenant_seq), 0) FROM audit_events WHERE tenant_id = $1`, tenant).Scan(&tenantSeq); err != nil {
		tb.Fatal(err)
	}
	hash := make([]byte, 32)
	var events [][]any
	for i := range size.Events {
		*seq++
		tenantSeq++
		actor, kind := "system", "system"
		if i%4 != 0 && size.Members > 0 {
			actor, kind = memberIDs[i%size.Members], "user"
		}
		target, targetType := "", ""
		if size.Keys > 0 && i%5 != 0 {
			target, targetType = scaleKeyID(t, (i*7)%size.Keys), "key"
		}
		at := now.Add(-90 * 24 * time.Hour).Add(time.Duration(i) * (90 * 24 * time.Hour) / time.Duration(size.Events+1))
		events = append(events, []any{*seq, tenant, kind, actor, scaleActions[i%len(scaleActions)], targetType, target, `{"n":"` + fmt.Sprint(i) + `"}`,
			at, hash, hash, tenantSeq, hash, hash})
	}
	bulkRows(tb, tx, "audit_events", []string{"seq", "tenant_id", "actor_kind", "actor", "action", "target_type", "target_id", "details",
		"created_at", "prev_hash", "hash", "tenant_seq", "tenant_prev_hash", "tenant_hash"}, events)
}

// seedScale fills the stack's database for the scale measurements: the
// signed-in tenant (with its connection conn) gets big, and others-1 more
// tenants get small.size each, all in one transaction; then ANALYZE (and
// on PostgreSQL VACUUM), as a live database has statistics and vacuumed rows.
func seedScale(tb testing.TB, s *stack, tenant, conn string, big, small scaleSize, others int) {
	tb.Helper()
	now := s.Clock.Now()
	raw := s.rawSQL(tb)
	tx, err := raw.Begin()
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback()
	var seq int64
	if err := tx.QueryRow(`SELECT COALESCE(MAX(seq), 0) FROM audit_events`).Scan(&seq); err != nil {
		tb.Fatal(err)
	}
	start := time.Now()
	for t := 1; t < others; t++ {
		id, cid := fmt.Sprintf("tnt_s%03d", t), fmt.Sprintf("con_s%03d", t)
		if _, err := tx.Exec(`INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)`, id, fmt.Sprintf("scale tenant %03d", t), now); err != nil {
			tb.Fatal(err)
		}
		if _, err := tx.Exec(`INSERT INTO aws_connections (id, tenant_id, name, account_id, default_region, kind, role_arn, external_id, created_at)
			VALUES ($1, $2, 'prod', '111122223333', 'us-east-1', 'assume_role', 'arn:aws:iam::111122223333:role/keyport', $3, $4)`, cid, id, "ext-"+id, now); err != nil {
			tb.Fatal(err)
		}
		seedScaleTenant(tb, tx, t, id, cid, small, now, &seq)
	}
	smallTook := time.Since(start)
	seedScaleTenant(tb, tx, 0, tenant, conn, big, now, &seq)
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("seed: %d small tenants in %s, the big one in %s", others-1, smallTook.Round(time.Millisecond), (time.Since(start) - smallTook).Round(time.Millisecond))
	// On PostgreSQL, VACUUM as well: a live database's old rows were
	// vacuumed long ago (hint bits set, visibility map current), while
	// 100,000 fresh inserts left the first readers to set hint bits and
	// autovacuum to start in the middle of the measurement.
	stmt := `VACUUM ANALYZE`
	if !modelstest.Postgres() {
		stmt = `PRAGMA optimize`
	}
	if _, err := raw.Exec(stmt); err != nil {
		tb.Fatal(err)
	}
}
