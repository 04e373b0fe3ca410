package rotation_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"testing"
	"time"

	"keyport/handlers/notice"
	"keyport/keysvc"
	"keyport/keysvc/jobs"
	"keyport/keysvc/keysvctest"
	"keyport/keysvc/mailer"
	"keyport/keysvc/rotation"
	"keyport/models"
	"keyport/web/mailcatcher"
)

// schedEnv is a tenant with a key in kmslocal, a mail catcher reached over
// real SMTP, and workers ("processes") built on demand.
type schedEnv struct {
	*keysvctest.Env
	Mail   *mailcatcher.Catcher
	sender *mailer.Mailer
}

func newSchedEnv(t *testing.T, start time.Time) *schedEnv {
	t.Helper()
	e := keysvctest.New(t, keysvc.Config{})
	if !start.IsZero() {
		e.Clock.Advance(start.Sub(e.Clock.Now()))
	}
	e.DB.SetNow(e.Clock.Now)
	mc, err := mailcatcher.Start(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mc.Close() })
	host, port, _ := net.SplitHostPort(mc.Addr())
	p, _ := strconv.Atoi(port)
	ml, err := mailer.New(mailer.Config{Host: host, Port: p, TLS: mailer.NoTLS, From: "keyport <keyport@keyport.test>"})
	if err != nil {
		t.Fatal(err)
	}
	return &schedEnv{Env: e, Mail: mc, sender: ml}
}

var quiet = slog.New(slog.DiscardHandler)

// process builds what one keyport process runs: a worker with the
// scheduler's and the outbox's job kinds.
func (e *schedEnv) process(owner string) (*jobs.Worker, *rotation.Scheduler, *mailer.Outbox) {
	w := jobs.NewWorker(e.DB, quiet, jobs.WorkerConfig{Owner: owner, Concurrency: 1, LeaseFor: time.Minute, BackoffBase: time.Minute})
	ob := mailer.NewOutbox(e.DB, e.Sealer, e.sender, "keyport.test")
	s := rotation.NewScheduler(rotation.SchedulerDeps{DB: e.DB, Keys: e.Service, Outbox: ob, Worker: w, Render: notice.Renderer{BaseURL: "https://keyport.test"},
		Logger: quiet, Now: e.Clock.Now})
	return w, s, ob
}

func (e *schedEnv) owner() keysvc.RequestBy { return keysvc.RequestBy{UserID: e.Owner.ID} }

// TestRotateNowCollapses: many concurrent "Rotate now" requests (double
// clicks, API calls) and a scheduled run, all from the version they saw,
// make one rotation; a later request from the same version is told the
// rotation already happened.
func TestRotateNowCollapses(t *testing.T) {
	e := newSchedEnv(t, time.Time{})
	ctx := context.Background()
	k := e.Key(t, "orders")
	_, s, _ := e.process("p1")
	_, s2, _ := e.process("p2") // another replica
	if _, err := s.SetPolicy(ctx, e.Tenant.ID, k.ID, e.owner(), rotation.PolicyInput{PeriodDays: "30", NoticeDays: "7", Automatic: true}); err != nil {
		t.Fatal(err)
	}
	// The scheduled rotation job (from version 1) is due now too.
	e.Clock.Advance(31 * 24 * time.Hour)
	errs := make(chan error, 12)
	for i := range 12 {
		go func() {
			sch := s
			if i%2 == 1 {
				sch = s2
			}
			_, err := sch.RequestRotation(ctx, e.Tenant.ID, k.ID, e.owner(), 1)
			errs <- err
		}()
	}
	for range 12 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	w, _, _ := e.process("p3")
	w.Tick(ctx)
	w.RunDue(ctx)
	vs, _ := e.DB.DataKeyVersions(ctx, e.Tenant.ID, k.ID)
	if len(vs) != 2 {
		t.Fatalf("versions = %d, want 2 (one rotation)", len(vs))
	}
	res, err := s.RequestRotation(ctx, e.Tenant.ID, k.ID, e.owner(), 1)
	if err != nil || !res.Already || res.Version != 2 {
		t.Fatalf("late request = %+v, %v", res, err)
	}
	if _, err := s.RequestRotation(ctx, e.Tenant.ID, k.ID, e.owner(), 0); err != nil {
		t.Fatal(err)
	}
	if vs, _ := e.DB.DataKeyVersions(ctx, e.Tenant.ID, k.ID); len(vs) != 3 {
		t.Fatalf("a request from the current version did not rotate: %d versions", len(vs))
	}
}

var messageIDRE = regexp.MustCompile(`(?mi)^Message-Id:\s*<([^>]+)>`)

// TestTwoYearSchedule runs a key through two years on an injected clock:
// every rotation happens once on its date and every notice once at its
// lead time, across a postponement, a jump back, a jump forward, a worker
// killed after rotating and workers killed after the relay accepted a
// message but before it was marked sent (the one window where a message can
// go twice; each such kill must cost exactly one duplicate, and nothing
// else may).
func TestTwoYearSchedule(t *testing.T) {
	start := time.Date(2027, 1, 4, 9, 30, 0, 0, time.UTC)
	e := newSchedEnv(t, start)
	ctx := context.Background()
	k := e.Key(t, "payments")

	killSends := map[int]bool{3: true, 10: true, 20: true}
	const killRotation = 4
	sends, rotations, killedSends := 0, 0, 0
	var kill context.CancelFunc
	var w *jobs.Worker
	var s *rotation.Scheduler
	var wctx context.Context
	restart := func(owner string) {
		var ob *mailer.Outbox
		w, s, ob = e.process(owner)
		wctx, kill = context.WithCancel(ctx)
		ob.SetAfterSend(func(string) error {
			sends++
			if killSends[sends] {
				killedSends++
				kill()
				return errors.New("killed after the relay accepted the message")
			}
			return nil
		})
		s.SetRotator(models.ModeCMK, rotation.RotatorFunc(func(ctx context.Context, tenantID, keyID string, from int64, actor, reason string) (int64, error) {
			v, err := e.Service.RotateFrom(ctx, tenantID, keyID, from, actor, reason)
			rotations++
			if rotations == killRotation {
				kill()
				return v, errors.New("killed after rotating")
			}
			return v, err
		}))
	}
	restart("worker-0")
	if _, err := s.SetPolicy(ctx, e.Tenant.ID, k.ID, e.owner(), rotation.PolicyInput{PeriodDays: "90", NoticeDays: "30, 7, 1", Automatic: true}); err != nil {
		t.Fatal(err)
	}

	end := start.AddDate(2, 0, 0)
	restarts, postponed, jumpedBack, jumpedFwd := 0, time.Time{}, false, false
	var fwdFrom, fwdTo time.Time
	for e.Clock.Now().Before(end) {
		now := e.Clock.Now()
		next := now.Add(6 * time.Hour)
		if d, err := e.DB.NextJobDue(ctx); err == nil && d != nil && d.After(now) && d.Before(next) {
			next = *d
		}
		e.Clock.Advance(next.Sub(now))
		w.Tick(wctx)
		w.RunDue(wctx)
		if wctx.Err() != nil {
			restarts++
			restart("worker-" + strconv.Itoa(restarts))
		}
		cur, _ := e.DB.GetKey(ctx, e.Tenant.ID, k.ID)
		pol, _ := e.DB.GetRotationPolicy(ctx, e.Tenant.ID, k.ID)
		left := pol.NextRotationAt.Sub(e.Clock.Now())
		switch {
		case postponed.IsZero() && cur.CurrentVersion == 3 && left < 29*24*time.Hour:
			postponed = pol.NextRotationAt
			if _, err := s.Postpone(ctx, e.Tenant.ID, k.ID, e.owner(), 10); err != nil {
				t.Fatal(err)
			}
		case !jumpedBack && cur.CurrentVersion == 5 && left < 6*24*time.Hour:
			jumpedBack = true
			e.Clock.Advance(-5 * 24 * time.Hour)
		case !jumpedFwd && cur.CurrentVersion == 7 && left < 9*24*time.Hour:
			jumpedFwd, fwdFrom = true, e.Clock.Now()
			e.Clock.Advance(left - 12*time.Hour)
			fwdTo = e.Clock.Now()
		}
	}
	if postponed.IsZero() || !jumpedBack || !jumpedFwd {
		t.Fatalf("the script did not run: postponed=%v back=%v fwd=%v", postponed, jumpedBack, jumpedFwd)
	}
	// Deliver what is still queued.
	e.Clock.Advance(2 * time.Minute)
	w.RunDue(ctx)

	// Rotations: once each, on the planned date, 90 days apart (100 across
	// the postponement).
	vs, _ := e.DB.DataKeyVersions(ctx, e.Tenant.ID, k.ID)
	var dates []time.Time
	for i := len(vs) - 2; i >= 0; i-- { // oldest rotation first; vs[len-1] is version 1
		dates = append(dates, vs[i].CreatedAt)
	}
	if len(dates) != 8 {
		t.Errorf("rotations = %d, want 8 in two years", len(dates))
	}
	want := time.Date(2027, 4, 4, 0, 0, 0, 0, time.UTC) // 90 days after the start, at the window start
	for i, d := range dates {
		if want.Equal(postponed) {
			want = want.AddDate(0, 0, 10)
		}
		if !d.Equal(want) {
			t.Errorf("rotation %d at %v, want %v", i+1, d, want)
		}
		want = d.AddDate(0, 0, 90)
	}

	// Notices: each lead time once per rotation date; the postponed date
	// got only its 30-day notice, the new date all three.
	ns, _ := e.DB.KeyNotices(ctx, e.Tenant.ID, k.ID, 1000)
	seen := map[string]int{}
	sent, rotated := 0, 0
	for _, n := range ns {
		if n.State != models.NoticeSent {
			continue
		}
		sent++
		switch n.Kind {
		case models.NoticeRotated:
			rotated++
		case models.NoticeBeforeRotation:
			seen[n.RotationAt.Format(time.DateOnly)+"/"+strconv.Itoa(n.LeadDays)]++
			late := n.SentAt.Sub(n.DueAt)
			inJump := n.DueAt.After(fwdFrom) && !n.DueAt.After(fwdTo)
			if late < 0 || (late > 6*time.Hour && !inJump) {
				t.Errorf("notice %s/%d sent %v after its time", n.RotationAt.Format(time.DateOnly), n.LeadDays, late)
			}
		}
	}
	for _, d := range dates {
		for _, lead := range []int{30, 7, 1} {
			if c := seen[d.Format(time.DateOnly)+"/"+strconv.Itoa(lead)]; c != 1 {
				t.Errorf("notice %d days before %s sent %d times", lead, d.Format(time.DateOnly), c)
			}
		}
	}
	if c := seen[postponed.Format(time.DateOnly)+"/30"]; c != 1 {
		t.Errorf("the 30-day notice of the postponed date was sent %d times", c)
	}
	if rotated != len(dates) {
		t.Errorf("rotated notices = %d, want %d", rotated, len(dates))
	}

	// Email: one per sent notice (one recipient), plus exactly one
	// duplicate per kill inside the undecidable window.
	byID := map[string]int{}
	for _, m := range e.Mail.Messages() {
		if len(m.To) != 1 || m.To[0] != "owner@tenant.test" {
			t.Errorf("message to %v", m.To)
		}
		if id := messageIDRE.FindSubmatch(m.Raw); id != nil {
			byID[string(id[1])]++
		}
	}
	dups := 0
	for _, n := range byID {
		dups += n - 1
	}
	if len(byID) != sent || dups != killedSends {
		t.Errorf("distinct emails = %d (want %d), duplicates = %d (want %d, one per kill in the window)", len(byID), sent, dups, killedSends)
	}
	if c, _ := e.DB.OutboxCounts(ctx); c[models.MailPending] != 0 || c[models.MailFailed] != 0 {
		t.Errorf("outbox left with %v", c)
	}
	fmt.Printf("METRIC rotation_two_years days=730 rotations=%d notices=%d emails=%d duplicates=%d kills_send_window=%d kills_after_rotate=1 restarts=%d\n",
		len(dates), sent, len(e.Mail.Messages()), dups, killedSends, restarts)
}
