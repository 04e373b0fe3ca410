package models

import (
	"context"
	"testing"
)

// TestMaterialOperationsRecordTheirVersion: a committed operation records
// the data-key version it made (migration 53), and MaterialOperations
// lists the finished material operations in that order even when the
// clock stands still; the timeline's audit events are the key's own.
func TestMaterialOperationsRecordTheirVersion(t *testing.T) {
	db, _ := openTestDB(t) // the clock is fixed: every row has the same time
	ctx := context.Background()
	a, b := connTenant(t, db, "a.test"), connTenant(t, db, "b.test")
	c := &Connection{TenantID: a.ID, Name: "p", AccountID: "111122223333", DefaultRegion: "us-east-1", Kind: "assume_role"}
	if err := db.CreateConnection(ctx, c, AuditInput{Action: "connection.created"}); err != nil {
		t.Fatal(err)
	}
	nm := &NewManagedKey{
		Key:      Key{TenantID: a.ID, ConnectionID: c.ID, Name: "m", Mode: ModeGenerated},
		Managed:  ManagedKey{StoreID: "kst_x", AliasName: "alias/keyport/m"},
		Material: KeyMaterial{Source: "generated", Sealed: []byte("sealed"), Fingerprint: "f1"},
		Op:       KeyOperation{Kind: OpCreate, Actor: "usr_a"},
	}
	if err := db.StartManagedKey(ctx, nm, AuditInput{Actor: "usr_a", Action: "key.create_started"}); err != nil {
		t.Fatal(err)
	}
	keyID := nm.Key.ID
	commit := func(op *KeyOperation, matID, arn string, from int64) {
		t.Helper()
		_, err := db.CommitKeyVersion(ctx, VersionCommit{Op: op, Region: "us-east-1", KMSKeyARN: arn, MaterialID: matID, FromVersion: from,
			Version: DataKeyVersion{Version: from + 1, Reason: op.Kind}, Wraps: []DataKeyWrap{{Region: "us-east-1", KMSKeyARN: arn, Ciphertext: []byte("w")}},
			Audit: AuditInput{Action: "key." + op.Kind + "_completed"}})
		if err != nil {
			t.Fatalf("commit %s: %v", op.Kind, err)
		}
	}
	commit(&nm.Op, nm.Material.ID, "arn:a", 0)
	renew := &KeyOperation{TenantID: a.ID, KeyID: keyID, Kind: OpRenew}
	mat := &KeyMaterial{Source: "generated", Sealed: []byte("sealed2"), Fingerprint: "f2"}
	if err := db.StartKeyOperation(ctx, renew, mat, AuditInput{Action: "key.renew_started"}); err != nil {
		t.Fatal(err)
	}
	commit(renew, mat.ID, "arn:b", 1)
	undo := &KeyOperation{TenantID: a.ID, KeyID: keyID, Kind: OpUndo, MaterialID: nm.Material.ID}
	if err := db.StartKeyOperation(ctx, undo, nil, AuditInput{Action: "key.undo_started"}); err != nil {
		t.Fatal(err)
	}
	commit(undo, nm.Material.ID, "arn:a", 2)

	ops, err := db.MaterialOperations(ctx, a.ID, keyID)
	if err != nil {
		t.Fatal(err)
	}
	got := ""
	for _, op := range ops {
		got += op.Kind + ":" + string(rune('0'+op.Version)) + " "
	}
	if got != "create:1 renew:2 undo:3 " {
		t.Fatalf("material operations %q", got)
	}
	if ops, _ := db.MaterialOperations(ctx, b.ID, keyID); len(ops) != 0 {
		t.Errorf("tenant b read a's operations: %v", ops)
	}

	for _, in := range []AuditInput{{TenantID: a.ID, Action: "key.kms_material_rotated", TargetType: "key", TargetID: keyID},
		{TenantID: a.ID, Action: "key.validated", TargetType: "key", TargetID: keyID},
		{TenantID: b.ID, Action: "key.kms_material_rotated", TargetType: "key", TargetID: keyID}} {
		if _, err := db.AppendAudit(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := db.KeyTimelineEvents(ctx, a.ID, keyID, 100)
	if err != nil || len(evs) != 1 || evs[0].Action != "key.kms_material_rotated" || evs[0].TenantID != a.ID {
		t.Fatalf("timeline events %+v %v", evs, err)
	}
}
