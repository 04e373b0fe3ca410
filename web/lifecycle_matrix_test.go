package web_test

import (
	"context"
	"testing"
	"time"

	"keyport/models"
)

// lifecycleParams gives the authorization matrix a key store, an import
// request and an approval of tenant A for :store_id, :request_id and
// :approval_id, made again when an allowed request used them up.
func (w *matrixWorld) lifecycleParams(t *testing.T, connID, keyID string) map[string]string {
	t.Helper()
	ctx := context.Background()
	sts, err := w.s.DB.ListKeyStores(ctx, w.tenantA)
	if err != nil {
		t.Fatal(err)
	}
	if len(sts) == 0 {
		st := &models.KeyStore{TenantID: w.tenantA, ConnectionID: connID, Region: awsRegion, Name: "Alpha Matrix Store"}
		if err := w.s.DB.CreateKeyStore(ctx, st, models.AuditInput{Actor: "matrix", Action: "key_store.created"}); err != nil {
			t.Fatal(err)
		}
		sts = append(sts, *st)
	}
	rs, err := w.s.DB.ListImportRequests(ctx, w.tenantA)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) == 0 {
		r := &models.ImportRequest{ID: models.NewID("imp_"), TenantID: w.tenantA, StoreID: sts[0].ID, KeyName: "Alpha Matrix Import",
			TokenHash: []byte(models.NewID("tok_")), PublicKeyPEM: "-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n"}
		if err := w.s.DB.CreateImportRequest(ctx, r, time.Hour, models.AuditInput{Actor: "matrix", Action: "import_request.created"}); err != nil {
			t.Fatal(err)
		}
		rs = append(rs, *r)
	}
	// A fresh pending approval by the owner each time: deciding uses it up.
	a := &models.Approval{TenantID: w.tenantA, KeyID: keyID, Action: models.ApprovalExport, RequestedBy: w.users[owner]}
	if err := w.s.DB.CreateApproval(ctx, a, time.Hour, models.AuditInput{Actor: "matrix", Action: "key.approval_requested"}); err != nil {
		t.Fatal(err)
	}
	return map[string]string{":store_id": sts[0].ID, ":request_id": rs[0].ID, ":approval_id": a.ID}
}
