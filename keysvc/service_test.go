package keysvc

import (
	"context"
	"crypto/rand"
	"testing"

	"keyport/models"
	"keyport/models/modelstest"
)

// testStore opens a migrated SQLite store with an audit key, and a tenant
// with an owner.
func testStore(tb testing.TB) (*models.DB, *models.Tenant, *models.User) {
	tb.Helper()
	ctx := context.Background()
	db, err := models.Open(ctx, modelstest.DSN(tb), nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	key := make([]byte, 32)
	rand.Read(key)
	db.SetAuditKey(key)
	u, _, err := db.UpsertOIDCUser(ctx, "https://idp.test", "sub-1", "owner@tenant.test", "Owner")
	if err != nil {
		tb.Fatal(err)
	}
	t, err := db.CreateTenantWithOwner(ctx, "tenant.test", u.ID, models.AuditInput{Actor: u.ID, Action: "tenant.created"})
	if err != nil {
		tb.Fatal(err)
	}
	return db, t, u
}
