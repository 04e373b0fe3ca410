package models

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestUsageSinceSumsATenantsKeys: the flush adds each key's hour to its
// tenant's, so the tenant series sums every key of the tenant per hour and
// leaves out other tenants and hours before the start; the key series holds
// one key, and only for its tenant; migration 51's backfill gives the same
// sums.
func TestUsageSinceSumsATenantsKeys(t *testing.T) {
	db, _ := openTestDB(t)
	ctx := context.Background()
	a, b := connTenant(t, db, "a.test"), connTenant(t, db, "b.test")
	key := func(tenantID, name string) string {
		t.Helper()
		c := &Connection{TenantID: tenantID, Name: "prod " + name, AccountID: "111122223333", DefaultRegion: "us-east-1", Kind: "assume_role"}
		if err := db.CreateConnection(ctx, c, AuditInput{Action: "connection.created"}); err != nil {
			t.Fatal(err)
		}
		nk := &NewKey{Key: Key{TenantID: tenantID, ConnectionID: c.ID, Name: name, Mode: ModeCMK, State: StateEnabled},
			Regions: []KeyRegion{{Region: "us-east-1", KMSKeyARN: "arn:1:" + name}}}
		if err := db.CreateKey(ctx, nk, AuditInput{Action: "key.registered"}); err != nil {
			t.Fatal(err)
		}
		return nk.Key.ID
	}
	ka, ka2, kb := key(a.ID, "orders"), key(a.ID, "billing"), key(b.ID, "theirs")
	err := db.AddKeyUsage(ctx, []KeyUsage{
		{KeyID: ka, Period: "2026-03-01T09", Encrypts: 100}, // before the start
		{KeyID: ka, Period: "2026-03-02T10", Encrypts: 3, Decrypts: 2, Datakeys: 1, KMSCalls: 1, CacheHits: 4},
		{KeyID: ka2, Period: "2026-03-02T10", Encrypts: 5, CacheHits: 5},
		{KeyID: ka2, Period: "2026-03-03T00", Decrypts: 7, KMSCalls: 2},
		{KeyID: kb, Period: "2026-03-02T10", Encrypts: 1000},
	})
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 3, 2, 10, 30, 0, 0, time.UTC) // the hour holding it counts
	got, err := db.TenantUsageSince(ctx, a.ID, from)
	if err != nil {
		t.Fatal(err)
	}
	want := []UsageBucket{
		{Period: "2026-03-02T10", Encrypts: 8, Decrypts: 2, Datakeys: 1, KMSCalls: 1, CacheHits: 9},
		{Period: "2026-03-03T00", Decrypts: 7, KMSCalls: 2},
	}
	if len(got) != len(want) {
		t.Fatalf("tenant series = %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("tenant bucket %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	one, err := db.KeyUsageSince(ctx, a.ID, ka2, from)
	if err != nil || len(one) != 2 || one[0].Encrypts != 5 || one[1].Decrypts != 7 {
		t.Errorf("key series = %+v, %v", one, err)
	}
	if other, err := db.KeyUsageSince(ctx, b.ID, ka, from); err != nil || len(other) != 0 {
		t.Errorf("tenant b read a's key: %+v, %v", other, err)
	}

	// Migration 51 fills tenant_usage from key_usage with the same sums
	// the flush wrote.
	if err := db.g.Exec("DELETE FROM tenant_usage").Error; err != nil {
		t.Fatal(err)
	}
	if err := db.g.Exec(migration51TenantUsage.stmts[1]).Error; err != nil {
		t.Fatalf("backfill: %v", err)
	}
	again, err := db.TenantUsageSince(ctx, a.ID, from)
	if err != nil || len(again) != len(want) || again[0] != want[0] || again[1] != want[1] {
		t.Errorf("after the backfill: %+v, %v", again, err)
	}
	if theirs, _ := db.TenantUsageSince(ctx, b.ID, from); len(theirs) != 1 || theirs[0].Encrypts != 1000 {
		t.Errorf("tenant b after the backfill: %+v", theirs)
	}
}

// BenchmarkAddKeyUsage is one flush of 100 keys' counts for an hour: the
// key rows and the tenant's hour, in one transaction.
func BenchmarkAddKeyUsage(b *testing.B) {
	db, _ := openTestDB(b)
	ctx := context.Background()
	tn := connTenant(b, db, "bench.test")
	c := &Connection{TenantID: tn.ID, Name: "prod", AccountID: "111122223333", DefaultRegion: "us-east-1", Kind: "assume_role"}
	if err := db.CreateConnection(ctx, c, AuditInput{Action: "connection.created"}); err != nil {
		b.Fatal(err)
	}
	var batch []KeyUsage
	for i := range 100 {
		nk := &NewKey{Key: Key{TenantID: tn.ID, ConnectionID: c.ID, Name: fmt.Sprintf("k%d", i), Mode: ModeCMK, State: StateEnabled},
			Regions: []KeyRegion{{Region: "us-east-1", KMSKeyARN: fmt.Sprintf("arn:%d", i)}}}
		if err := db.CreateKey(ctx, nk, AuditInput{Action: "key.registered"}); err != nil {
			b.Fatal(err)
		}
		batch = append(batch, KeyUsage{KeyID: nk.Key.ID, Period: "2026-03-02T10", Encrypts: 3, Decrypts: 5, CacheHits: 7, KMSCalls: 1})
	}
	b.ResetTimer()
	for range b.N {
		if err := db.AddKeyUsage(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
}
