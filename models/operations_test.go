package models

import (
	"context"
	"errors"
	"testing"
)

// TestOperationsAndBudgetsAreTenantScoped: a key operation and a data-key
// version's message budget are reached only through their own tenant.
func TestOperationsAndBudgetsAreTenantScoped(t *testing.T) {
	db, _ := openTestDB(t)
	ctx := context.Background()
	a, b := connTenant(t, db, "a.test"), connTenant(t, db, "b.test")
	c := &Connection{TenantID: a.ID, Name: "p", AccountID: "111122223333", DefaultRegion: "us-east-1", Kind: "assume_role"}
	if err := db.CreateConnection(ctx, c, AuditInput{Action: "connection.created"}); err != nil {
		t.Fatal(err)
	}

	nm := &NewManagedKey{
		Key:      Key{TenantID: a.ID, ConnectionID: c.ID, Name: "m", Mode: ModeGenerated},
		Managed:  ManagedKey{StoreID: "kst_x", AliasName: "alias/keyport/m"},
		Material: KeyMaterial{Source: "generated", Sealed: []byte("sealed"), Fingerprint: "f"},
		Op:       KeyOperation{Kind: OpCreate, Actor: "usr_a"},
	}
	if err := db.StartManagedKey(ctx, nm, AuditInput{Actor: "usr_a", Action: "key.created"}); err != nil {
		t.Fatal(err)
	}
	op := nm.Op
	if _, err := db.GetKeyOperation(ctx, b.ID, op.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("tenant b read a's operation: %v", err)
	}
	if got, err := db.GetKeyOperation(ctx, a.ID, op.ID); err != nil || got.KeyID != nm.Key.ID {
		t.Errorf("GetKeyOperation = %+v, %v", got, err)
	}
	if err := db.OperationStep(ctx, b.ID, op.ID, "import", "arn:b"); !errors.Is(err, ErrConflict) {
		t.Errorf("tenant b stepped a's operation: %v", err)
	}
	if err := db.OperationStep(ctx, a.ID, op.ID, "import", "arn:a"); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.GetKeyOperation(ctx, a.ID, op.ID); got.Step != "import" || got.KMSKeyARN != "arn:a" {
		t.Errorf("after step: %+v", got)
	}

	nk := &NewKey{Key: Key{TenantID: a.ID, ConnectionID: c.ID, Name: "k", Mode: ModeCMK, State: StateEnabled},
		Regions: []KeyRegion{{Region: "us-east-1", KMSKeyARN: "arn:x"}},
		Version: &DataKeyVersion{Version: 1, Reason: "register"},
		Wraps:   []DataKeyWrap{{Region: "us-east-1", KMSKeyARN: "arn:x", Ciphertext: []byte("w")}}}
	if err := db.CreateKey(ctx, nk, AuditInput{Action: "key.registered"}); err != nil {
		t.Fatal(err)
	}
	if err := db.ReserveMessages(ctx, b.ID, nk.Key.ID, 1, 10, 100); !errors.Is(err, ErrConflict) {
		t.Errorf("tenant b reserved a's budget: %v", err)
	}
	if err := db.ReserveMessages(ctx, a.ID, nk.Key.ID, 1, 10, 100); err != nil {
		t.Fatal(err)
	}
	vs, _ := db.DataKeyVersions(ctx, a.ID, nk.Key.ID)
	if len(vs) != 1 || vs[0].MessagesReserved != 10 {
		t.Errorf("versions after reserve = %+v", vs)
	}
}
