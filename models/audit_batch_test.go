package models

import (
	"context"
	"strings"
	"testing"
)

func TestAppendAuditBatchChainsInOrder(t *testing.T) {
	db, _ := openTestDB(t)
	ctx := context.Background()
	if _, err := db.AppendAudit(ctx, AuditInput{Actor: "a", Action: "one"}); err != nil {
		t.Fatal(err)
	}
	batch := []AuditInput{{Actor: "a", Action: "two"}, {Actor: "a", Action: "three"}, {Actor: "a", Action: "four"}}
	if err := db.AppendAuditBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AppendAudit(ctx, AuditInput{Actor: "a", Action: "five"}); err != nil {
		t.Fatal(err)
	}
	v, err := db.VerifyAudit(ctx)
	if err != nil || !v.OK || v.Checked != 5 {
		t.Fatalf("verify = %+v, %v", v, err)
	}
	evs, _ := db.ListAudit(ctx, "", 10)
	var got []string
	for i := len(evs) - 1; i >= 0; i-- {
		got = append(got, evs[i].Action)
	}
	if strings.Join(got, ",") != "one,two,three,four,five" {
		t.Errorf("order = %v", got)
	}

	// All or nothing: one bad event keeps the whole batch out.
	bad := []AuditInput{{Actor: "a", Action: "six"}, {Actor: "a", Action: ""}}
	if err := db.AppendAuditBatch(ctx, bad); err == nil {
		t.Fatal("a batch with an invalid event was accepted")
	}
	if v, _ := db.VerifyAudit(ctx); v.Checked != 5 {
		t.Errorf("rows after a refused batch = %d, want 5", v.Checked)
	}
}
