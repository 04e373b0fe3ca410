package web_test

import (
	"context"
	"strings"
	"testing"

	"keyport/keysvc"
	"keyport/keysvc/keysvctest"
)

// TestKeyMaterialFailsClosedWithoutAudit: an operation that releases or
// changes key material does not complete when its audit event cannot be
// written.
func TestKeyMaterialFailsClosedWithoutAudit(t *testing.T) {
	ctx := context.Background()

	t.Run("rotation", func(t *testing.T) {
		env := keysvctest.New(t, keysvc.Config{})
		k := env.Key(t, "rotating")
		env.DB.SetAuditKey(nil) // the audit log cannot be written
		if _, err := env.Service.RotateDataKey(ctx, env.Tenant.ID, k.ID, env.Owner.ID, "manual"); err == nil || !strings.Contains(err.Error(), "audit") {
			t.Fatalf("rotation without audit: err = %v, want an audit failure", err)
		}
		vs, err := env.DB.DataKeyVersions(ctx, env.Tenant.ID, k.ID)
		if err != nil {
			t.Fatal(err)
		}
		after, _ := env.DB.GetKey(ctx, env.Tenant.ID, k.ID)
		if len(vs) != 1 || after.CurrentVersion != 1 {
			t.Errorf("rotation without audit left %d versions, current %d; want only version 1", len(vs), after.CurrentVersion)
		}
	})

	t.Run("data key fetch", func(t *testing.T) {
		env := keysvctest.New(t, keysvc.Config{})
		k := env.Key(t, "fetched")
		enc, err := env.Service.Encrypt(ctx, env.Tenant.ID, k.ID, []byte("record"), nil)
		if err != nil {
			t.Fatal(err)
		}
		cold := env.NewService(keysvc.Config{}) // a replica that must fetch the data key from KMS
		env.DB.SetAuditKey(nil)
		if _, err := cold.Decrypt(ctx, env.Tenant.ID, enc.Ciphertext, nil); err == nil || !strings.Contains(err.Error(), "audit") {
			t.Fatalf("fetch without audit: err = %v, want an audit failure", err)
		}
		if _, err := cold.Encrypt(ctx, env.Tenant.ID, k.ID, []byte("record"), nil); err == nil {
			t.Error("encrypt with an unaudited data key succeeded")
		}
	})

	// Export's case needs keyport-held material, built by the lifecycle
	// fixture inside keysvc: TestExportFailsClosedWithoutAudit there.
}
