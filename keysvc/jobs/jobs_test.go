package jobs_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"keyport/keysvc/jobs"
	"keyport/models"
	"keyport/models/modelstest"
)

var quiet = slog.New(slog.DiscardHandler)

const (
	helperDBEnv  = "KEYPORT_TEST_WORKER_DB"
	helperKeyEnv = "KEYPORT_TEST_WORKER_AUDIT_KEY"
	effectKind   = "test.effect"
)

// TestHelperWorker is not a test: it is the worker process that
// TestTwoWorkerProcesses starts (twice) by running this test binary again.
// Its jobs record their effect as an audit event in the transaction that
// completes them, so every committed run of a job leaves exactly one event.
func TestHelperWorker(t *testing.T) {
	path := os.Getenv(helperDBEnv)
	if path == "" {
		t.Skip("helper process for TestTwoWorkerProcesses")
	}
	ctx := context.Background()
	db, err := models.Open(ctx, path, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	key, _ := hex.DecodeString(os.Getenv(helperKeyEnv))
	db.SetAuditKey(key)
	w := jobs.NewWorker(db, quiet, jobs.WorkerConfig{Owner: "pid-" + strconv.Itoa(os.Getpid()), Concurrency: 2,
		LeaseFor: 2 * time.Second, Poll: 20 * time.Millisecond})
	w.Handle(effectKind, func(ctx context.Context, j *models.Job, l models.Lease) error {
		time.Sleep(3 * time.Millisecond) // some work, so the two workers interleave
		return db.CompleteJob(ctx, l, "done by pid "+strconv.Itoa(os.Getpid()),
			&models.AuditInput{Action: "test.job_effect", Actor: "worker", TargetType: "job", TargetID: j.ID})
	})
	for {
		if _, err := w.RunDue(ctx); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		c, err := db.JobCounts(ctx, effectKind)
		if err == nil && c[models.JobPending] == 0 && c[models.JobRunning] == 0 {
			os.Exit(0)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTwoWorkerProcesses: two worker processes share one database (SQLite,
// or PostgreSQL with KEYPORT_TEST_POSTGRES) and 500 due jobs; one is killed with SIGKILL mid-way. Every job must be
// done exactly once (one committed effect each) and none missed.
func TestTwoWorkerProcesses(t *testing.T) {
	if os.Getenv(helperDBEnv) != "" {
		t.Skip("inside a helper process")
	}
	ctx := context.Background()
	path := modelstest.DSN(t) // a SQLite file, or a PostgreSQL schema (KEYPORT_TEST_POSTGRES)
	db, err := models.Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	rand.Read(key)
	db.SetAuditKey(key)
	const jobs = 500
	for i := range jobs {
		if _, _, err := db.EnqueueJob(ctx, models.NewJob{Kind: effectKind, RunKey: "two-workers:" + strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}
	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWorker$", "-test.count=1")
		cmd.Env = append(os.Environ(), helperDBEnv+"="+path, helperKeyEnv+"="+hex.EncodeToString(key))
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	a, b := start(), start()
	killedAt := int64(0)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		c, err := db.JobCounts(ctx, effectKind)
		if err == nil && c[models.JobDone] >= jobs/3 {
			killedAt = c[models.JobDone]
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if killedAt == 0 {
		t.Fatal("the workers did not get a third of the way in 60s")
	}
	if err := a.Process.Kill(); err != nil { // SIGKILL: no cleanup, leases left behind
		t.Fatal(err)
	}
	a.Wait()
	done := make(chan error, 1)
	go func() { done <- b.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("surviving worker: %v", err)
		}
	case <-time.After(90 * time.Second):
		b.Process.Kill()
		t.Fatal("the surviving worker did not finish the jobs in 90s")
	}

	c, _ := db.JobCounts(ctx, effectKind)
	evs, err := db.ListAudit(ctx, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	effects := map[string]int{}
	for _, ev := range evs {
		if ev.Action == "test.job_effect" {
			effects[ev.TargetID]++
		}
	}
	dups := 0
	for _, n := range effects {
		dups += n - 1
	}
	missed := jobs - len(effects)
	fmt.Printf("METRIC jobs_two_workers db=%s jobs=%d duplicates=%d missed=%d killed=1 killed_after_done=%d\n", modelstest.Backend(), jobs, dups, missed, killedAt)
	if c[models.JobDone] != jobs || dups != 0 || missed != 0 {
		t.Errorf("states %v, duplicates %d, missed %d", c, dups, missed)
	}
	if v, err := db.VerifyAudit(ctx); err != nil || !v.OK {
		t.Errorf("audit chain after a killed writer: %+v, %v", v, err)
	}
}
