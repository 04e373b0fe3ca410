package models

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestSealedColumnsInSchema(t *testing.T) {
	db, _ := openTestDB(t)
	cols, err := db.SealedColumnsInSchema(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, c := range cols {
		have[c.String()] = true
	}
	for _, want := range []string{"sealed_secrets.blob", "aws_connections.secret_sealed", "outbox.body_sealed"} {
		if !have[want] {
			t.Errorf("SealedColumnsInSchema = %v, lacks %s", cols, want)
		}
	}
}

func TestReplaceSealedBlobIsCompareAndSwap(t *testing.T) {
	ctx := context.Background()
	db, _ := openTestDB(t)
	col := SealedColumn{Table: "sealed_secrets", IDColumn: "name", BlobColumn: "blob"}
	for i := range 5 {
		if _, err := db.PutSealedSecretIfAbsent(ctx, fmt.Sprintf("s%d", i), []byte{byte(i + 1)}); err != nil {
			t.Fatal(err)
		}
	}
	page, err := db.ListSealedRows(ctx, col, "", 3)
	if err != nil || len(page) != 3 || page[0].ID != "s0" {
		t.Fatalf("first page = %+v, %v", page, err)
	}
	page, err = db.ListSealedRows(ctx, col, page[2].ID, 3)
	if err != nil || len(page) != 2 || page[0].ID != "s3" {
		t.Fatalf("second page = %+v, %v", page, err)
	}
	if ok, err := db.ReplaceSealedBlob(ctx, col, "s1", []byte{9}, []byte{10}); ok || err != nil {
		t.Errorf("swap from a stale blob = %v, %v; want no change", ok, err)
	}
	if ok, err := db.ReplaceSealedBlob(ctx, col, "s1", []byte{2}, []byte{20}); !ok || err != nil {
		t.Errorf("swap = %v, %v", ok, err)
	}
	if b, _ := db.GetSealedBlob(ctx, col, "s1"); len(b) != 1 || b[0] != 20 {
		t.Errorf("after the swap: %v", b)
	}
	if _, err := db.GetSealedBlob(ctx, col, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing row: %v", err)
	}
	for _, bad := range []SealedColumn{{"sealed_secrets; DROP TABLE x", "name", "blob"}, {"sealed_secrets", "name", "Blob"}, {"", "id", "x"}} {
		if _, err := db.ListSealedRows(ctx, bad, "", 1); err == nil {
			t.Errorf("ListSealedRows(%+v) accepted a bad identifier", bad)
		}
	}
}
