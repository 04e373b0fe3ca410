package models

import (
	"context"
	"errors"
	"sync"
	"testing"
)

// TestReportScheduleQueuedOncePerPeriod: a schedule's report of a period is
// queued once however many planners (replicas) race for it; changing the
// schedule is audited with its old and new period, and an unchanged save
// writes nothing.
func TestReportScheduleQueuedOncePerPeriod(t *testing.T) {
	db, _ := openTestDB(t)
	ctx := context.Background()
	owner := mustUser(t, db, "owner")
	tn, err := db.CreateTenantWithOwner(ctx, "Acme", owner.ID, AuditInput{Actor: owner.ID})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SetReportSchedule(ctx, tn.ID, "configuration_validation", "daily", AuditInput{Actor: owner.ID, Action: "report.schedule_changed"}); err == nil {
		t.Fatal("a daily schedule was accepted")
	}
	for _, p := range []string{ReportWeekly, ReportWeekly} { // the second save changes nothing
		if err := db.SetReportSchedule(ctx, tn.ID, "configuration_validation", p, AuditInput{Actor: owner.ID, Action: "report.schedule_changed"}); err != nil {
			t.Fatal(err)
		}
	}
	evs, _ := db.AuditEvents(ctx, TenantScope(tn.ID), AuditFilter{Action: "report.schedule_changed"})
	if len(evs) != 1 || evs[0].Details != `{"from":"off","report":"configuration_validation","to":"weekly"}` {
		t.Fatalf("schedule events: %+v", evs)
	}

	due, err := db.DueReportSchedules(ctx, "2026-W49", "2026-12", 10)
	if err != nil || len(due) != 1 || due[0].LastPeriod != "" {
		t.Fatalf("due: %v %+v", err, due)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	queued := 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := db.QueueScheduledReport(ctx, due[0], "2026-W49", NewJob{Kind: "report.email", TenantID: tn.ID, RunKey: "report:x:" + tn.ID + ":2026-W49"})
			if err != nil && !errors.Is(err, ErrConflict) {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				queued++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if queued != 1 {
		t.Errorf("queued %d times, want once", queued)
	}
	if j, err := db.JobByRunKey(ctx, "report:x:"+tn.ID+":2026-W49"); err != nil || j.Kind != "report.email" {
		t.Errorf("job: %v %+v", err, j)
	}
	if due, _ := db.DueReportSchedules(ctx, "2026-W49", "2026-12", 10); len(due) != 0 {
		t.Errorf("still due after queueing: %+v", due)
	}
	if due, _ := db.DueReportSchedules(ctx, "2026-W50", "2026-12", 10); len(due) != 1 || due[0].LastPeriod != "2026-W49" {
		t.Errorf("next week: %+v", due)
	}
	if err := db.SetReportSchedule(ctx, tn.ID, "configuration_validation", "", AuditInput{Actor: owner.ID, Action: "report.schedule_changed"}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetReportSchedule(ctx, tn.ID, "configuration_validation"); !errors.Is(err, ErrNotFound) {
		t.Errorf("schedule after off: %v", err)
	}
}
