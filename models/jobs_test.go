package models

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"
	"unicode/utf8"
)

func TestJobRunKeyIsUnique(t *testing.T) {
	db, _ := openTestDB(t)
	ctx := context.Background()
	a, created, err := db.EnqueueJob(ctx, NewJob{Kind: "test", RunKey: "k1", Payload: `{"n":1}`})
	if err != nil || !created {
		t.Fatalf("first enqueue: %v created=%v", err, created)
	}
	b, created, err := db.EnqueueJob(ctx, NewJob{Kind: "test", RunKey: "k1", Payload: `{"n":2}`})
	if err != nil || created || b.ID != a.ID || b.Payload != `{"n":1}` {
		t.Fatalf("second enqueue: %v created=%v id=%s payload=%s", err, created, b.ID, b.Payload)
	}
}

// TestLeaseFencing: a worker whose lease expired and was taken over can
// neither complete, renew nor retry the job; the new holder can.
func TestLeaseFencing(t *testing.T) {
	db, clock := openTestDB(t)
	ctx := context.Background()
	if _, _, err := db.EnqueueJob(ctx, NewJob{Kind: "test", RunKey: "fence"}); err != nil {
		t.Fatal(err)
	}
	first, err := db.ClaimJobs(ctx, "w1", 10, time.Minute)
	if err != nil || len(first) != 1 {
		t.Fatalf("claim: %v, %d jobs", err, len(first))
	}
	if again, _ := db.ClaimJobs(ctx, "w2", 10, time.Minute); len(again) != 0 {
		t.Fatal("a leased job was claimed twice")
	}
	clock.Advance(2 * time.Minute)
	second, err := db.ClaimJobs(ctx, "w2", 10, time.Minute)
	if err != nil || len(second) != 1 || second[0].LeaseToken != first[0].LeaseToken+1 || second[0].Attempts != 2 {
		t.Fatalf("takeover: %v %+v", err, second)
	}
	old := Lease{JobID: first[0].ID, Token: first[0].LeaseToken}
	if err := db.CompleteJob(ctx, old, "late", &AuditInput{Action: "test.effect", Actor: "w1"}); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("stale complete: %v", err)
	}
	if err := db.RenewLease(ctx, old, time.Minute); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("stale renew: %v", err)
	}
	if _, err := db.RetryJob(ctx, old, time.Second, "x", false); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("stale retry: %v", err)
	}
	if evs, _ := db.ListAudit(ctx, "", 10); len(evs) != 0 {
		t.Fatalf("the stale worker's effect was written: %+v", evs)
	}
	cur := Lease{JobID: second[0].ID, Token: second[0].LeaseToken}
	if err := db.CompleteJob(ctx, cur, "ok", &AuditInput{Action: "test.effect", Actor: "w2"}); err != nil {
		t.Fatal(err)
	}
	j, _ := db.GetJob(ctx, cur.JobID)
	if j.State != JobDone || j.Result != "ok" {
		t.Fatalf("job = %+v", j)
	}
}

func TestRetryBackoffAndExhaustion(t *testing.T) {
	db, clock := openTestDB(t)
	ctx := context.Background()
	db.EnqueueJob(ctx, NewJob{Kind: "test", RunKey: "r", MaxAttempts: 2})
	js, _ := db.ClaimJobs(ctx, "w", 1, time.Minute)
	failed, err := db.RetryJob(ctx, Lease{js[0].ID, js[0].LeaseToken}, 30*time.Second, "boom", false)
	if err != nil || failed {
		t.Fatalf("retry: %v failed=%v", err, failed)
	}
	if js, _ := db.ClaimJobs(ctx, "w", 1, time.Minute); len(js) != 0 {
		t.Fatal("claimed before its retry time")
	}
	clock.Advance(31 * time.Second)
	js, _ = db.ClaimJobs(ctx, "w", 1, time.Minute)
	if len(js) != 1 || js[0].LastError != "boom" {
		t.Fatalf("retry not claimable: %+v", js)
	}
	failed, err = db.RetryJob(ctx, Lease{js[0].ID, js[0].LeaseToken}, time.Second, "boom again", false)
	if err != nil || !failed {
		t.Fatalf("last attempt: %v failed=%v", err, failed)
	}
	// A worker that dies on the last attempt: the takeover fails the job.
	db.EnqueueJob(ctx, NewJob{Kind: "test", RunKey: "dies", MaxAttempts: 1})
	js, _ = db.ClaimJobs(ctx, "w", 1, time.Minute)
	clock.Advance(2 * time.Minute)
	if again, _ := db.ClaimJobs(ctx, "w", 5, time.Minute); len(again) != 0 {
		t.Fatalf("a job out of attempts was claimed again: %+v", again)
	}
	j, _ := db.GetJob(ctx, js[0].ID)
	if j.State != JobFailed {
		t.Fatalf("state = %s", j.State)
	}
}

func TestRequestJobExpeditesAndRevives(t *testing.T) {
	db, clock := openTestDB(t)
	ctx := context.Background()
	later := clock.Now().Add(48 * time.Hour)
	a, _, _ := db.EnqueueJob(ctx, NewJob{Kind: "test", RunKey: "x", DueAt: later})
	b, err := db.RequestJob(ctx, NewJob{Kind: "test", RunKey: "x"}, nil)
	if err != nil || b.ID != a.ID || b.DueAt.After(clock.Now()) {
		t.Fatalf("expedite: %v %+v", err, b)
	}
	js, _ := db.ClaimJobs(ctx, "w", 1, time.Minute)
	db.RetryJob(ctx, Lease{js[0].ID, js[0].LeaseToken}, 0, "no", true)
	c, err := db.RequestJob(ctx, NewJob{Kind: "test", RunKey: "x"}, nil)
	if err != nil || c.State != JobPending || c.Attempts != 0 {
		t.Fatalf("revive failed job: %v %+v", err, c)
	}
}

// TestClaimReturnsStoredRow: the claimed job is built in memory, not read
// back; it must be exactly what GetJob then reads.
func TestClaimReturnsStoredRow(t *testing.T) {
	db, _ := openTestDB(t)
	ctx := context.Background()
	for _, rk := range []string{"batch", "single"} {
		if _, _, err := db.EnqueueJob(ctx, NewJob{Kind: "test." + rk, RunKey: rk, Payload: `{"p":1}`}); err != nil {
			t.Fatal(err)
		}
	}
	js, err := db.ClaimJobs(ctx, "w1", 10, time.Minute, "test.batch")
	if err != nil || len(js) != 1 {
		t.Fatalf("ClaimJobs = %+v, %v; want the one job of its kind", js, err)
	}
	single, _ := db.JobByRunKey(ctx, "single")
	one, err := db.ClaimJob(ctx, single.ID, "w2", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ClaimJob(ctx, single.ID, "w3", time.Minute); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("second ClaimJob: %v, want ErrLeaseLost", err)
	}
	for _, claimed := range []Job{js[0], *one} {
		stored, err := db.GetJob(ctx, claimed.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(claimed, *stored) {
			t.Errorf("claimed job\n%+v\nstored as\n%+v", claimed, *stored)
		}
		if claimed.State != JobRunning || claimed.Attempts != 1 || claimed.LeaseToken != 1 || claimed.LeaseExpiresAt == nil {
			t.Errorf("claimed job = %+v, want running, first attempt, token 1, with a lease", claimed)
		}
	}
}

func TestTruncateKeepsUTF8(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"abcdef", 3, "abc"},
		{"aé", 2, "a"},   // é is 2 bytes: not cut in half
		{"€uro", 2, ""},  // € is 3 bytes
		{"a€", 4, "a€"},  // fits exactly
		{"ab€", 4, "ab"}, // would end inside €
	} {
		if got := truncate(tc.s, tc.n); got != tc.want || !utf8.ValidString(got) {
			t.Errorf("truncate(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}

// TestClaimDueJobs: the one-statement claim takes due pending jobs of the
// kinds asked, oldest first, leases them as ClaimJobs does (the returned
// rows are the stored rows), and leaves alone jobs not yet due, of other
// kinds, or running under an expired lease (ClaimJobs takes those over).
func TestClaimDueJobs(t *testing.T) {
	db, clock := openTestDB(t)
	ctx := context.Background()
	now := clock.Now()
	for i, rk := range []string{"due-b", "due-a", "later"} {
		due := now.Add(time.Duration(i-2) * time.Minute) // due-b first, then due-a
		if rk == "later" {
			due = now.Add(time.Hour)
		}
		if _, _, err := db.EnqueueJob(ctx, NewJob{Kind: "test.due", RunKey: rk, DueAt: due}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := db.EnqueueJob(ctx, NewJob{Kind: "test.other", RunKey: "other"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.EnqueueJob(ctx, NewJob{Kind: "test.dead", RunKey: "dead", DueAt: now.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if js, err := db.ClaimJobs(ctx, "dead-worker", 1, time.Second, "test.dead"); err != nil || len(js) != 1 {
		t.Fatalf("claim the dead worker's job: %v %v", js, err)
	}
	clock.Advance(time.Minute) // its lease runs out
	js, err := db.ClaimDueJobs(ctx, "w1", 10, time.Minute, "test.due", "test.dead")
	if err != nil {
		t.Fatal(err)
	}
	if len(js) != 2 || js[0].RunKey != "due-b" || js[1].RunKey != "due-a" {
		t.Fatalf("claimed %+v, want due-b then due-a", js)
	}
	for _, claimed := range js {
		stored, err := db.GetJob(ctx, claimed.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(claimed, *stored) {
			t.Errorf("claimed job\n%+v\nstored as\n%+v", claimed, *stored)
		}
		if claimed.State != JobRunning || claimed.Attempts != 1 || claimed.LeaseToken != 1 || claimed.LeaseOwner != "w1" {
			t.Errorf("claimed job = %+v, want running for w1, first attempt, token 1", claimed)
		}
	}
	if js, err := db.ClaimDueJobs(ctx, "w2", 10, time.Minute, "test.due"); err != nil || len(js) != 0 {
		t.Fatalf("second claim = %v %v, want nothing", js, err)
	}
}
