package models

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestKeyListOrdersAndPages: the keys list's next-rotation and status
// orders (keys without a date last both ways, the same on SQLite and
// PostgreSQL), its tenant scope, its count, and a page past the end
// clamped to the last page.
func TestKeyListOrdersAndPages(t *testing.T) {
	db, clock := openTestDB(t)
	ctx := context.Background()
	a, b := connTenant(t, db, "a.test"), connTenant(t, db, "b.test")
	conn := func(tenantID string) string {
		c := &Connection{TenantID: tenantID, Name: "prod", AccountID: "111122223333", DefaultRegion: "us-east-1", Kind: "assume_role"}
		if err := db.CreateConnection(ctx, c, AuditInput{Action: "connection.created"}); err != nil {
			t.Fatal(err)
		}
		return c.ID
	}
	ca, cb := conn(a.ID), conn(b.ID)
	add := func(tenantID, connID, name string, state KeyState, health Health) string {
		nk := &NewKey{Key: Key{TenantID: tenantID, ConnectionID: connID, Name: name, Mode: ModeCMK, State: state, Health: health},
			Regions: []KeyRegion{{Region: "us-east-1", KMSKeyARN: "arn:" + name}}}
		if err := db.CreateKey(ctx, nk, AuditInput{Action: "key.registered"}); err != nil {
			t.Fatal(err)
		}
		return nk.Key.ID
	}
	ids := map[string]string{}
	for _, k := range []struct {
		name   string
		state  KeyState
		health Health
	}{{"soon", StateEnabled, HealthOK}, {"later", StateEnabled, HealthOK}, {"never", StateEnabled, HealthOK},
		{"revoked", StateEnabled, HealthAccessDenied}, {"off", StateDisabled, HealthOK}} {
		ids[k.name] = add(a.ID, ca, k.name, k.state, k.health)
	}
	add(b.ID, cb, "theirs", StateEnabled, HealthOK)
	now := clock.Now()
	for name, in := range map[string]time.Duration{"soon": 24 * time.Hour, "later": 240 * time.Hour} {
		err := db.g.Exec(`INSERT INTO rotation_policies (key_id, tenant_id, period_days, notice_days, automatic, window_start_hour, window_hours,
			next_rotation_at, from_version, updated_at) VALUES (?, ?, 90, '7', TRUE, 0, 24, ?, 1, ?)`, ids[name], a.ID, now.Add(in), now).Error
		if err != nil {
			t.Fatal(err)
		}
	}
	names := func(q KeyListQuery) []string {
		t.Helper()
		p, err := db.KeyList(ctx, a.ID, q)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range p.Rows {
			out = append(out, r.Name)
		}
		return out
	}
	for _, tc := range []struct {
		q    KeyListQuery
		want string
	}{
		{KeyListQuery{}, "[later never off revoked soon]"},
		{KeyListQuery{Desc: true}, "[soon revoked off never later]"},
		{KeyListQuery{Sort: KeySortNextRotation}, "[soon later never off revoked]"},
		{KeyListQuery{Sort: KeySortNextRotation, Desc: true}, "[later soon never off revoked]"},
		{KeyListQuery{Sort: KeySortStatus}, "[revoked off later never soon]"},
		{KeyListQuery{Search: "OKE"}, "[revoked]"},
		{KeyListQuery{Search: "arn:soo"}, "[soon]"},
		{KeyListQuery{Search: "theirs"}, "[]"},
	} {
		if got := fmt.Sprint(names(tc.q)); got != tc.want {
			t.Errorf("KeyList(%+v) = %s, want %s", tc.q, got, tc.want)
		}
	}
	p, err := db.KeyList(ctx, a.ID, KeyListQuery{Page: 7})
	if err != nil || p.Page != 1 || p.Pages != 1 || p.Total != 5 || len(p.Rows) != 5 {
		t.Errorf("a page past the end: page %d of %d, total %d, %d rows, %v", p.Page, p.Pages, p.Total, len(p.Rows), err)
	}
	if p.Rows[0].NextRotationAt == nil || !p.Rows[0].NextRotationAt.Equal(now.Add(240*time.Hour)) || p.Rows[1].NextRotationAt != nil {
		t.Errorf("next rotation of later/never: %v, %v", p.Rows[0].NextRotationAt, p.Rows[1].NextRotationAt)
	}
	counts, named, err := db.ConnectionKeys(ctx, a.ID, 2)
	if err != nil || counts[ca] != 5 || len(named[ca]) != 2 || named[ca][0].Name != "later" || counts[cb] != 0 {
		t.Errorf("ConnectionKeys = %v, %v, %v", counts, named, err)
	}
}
