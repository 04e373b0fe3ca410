package rotation_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"keyport/keysvc/jobs"
	"keyport/keysvc/managed"
	"keyport/keysvc/rotation"
	"keyport/models"
	"keyport/web/mailcatcher"
)

// generatedKey creates a key store on the env's connection and a key whose
// material keyport generated and imported with an expiry validDays ahead.
func (e *schedEnv) generatedKey(t *testing.T, name string, validDays int) (*models.Key, *models.KeyMaterial) {
	t.Helper()
	ctx := context.Background()
	mgd := e.Managed(e.Service)
	mgd.PreferWrappingKeySpec("RSA_2048") // fast under -race
	st, err := mgd.CreateStore(ctx, e.Tenant.ID, e.owner(), managed.StoreInput{Name: "store-" + name, ConnectionID: e.Conn.ID})
	if err != nil {
		t.Fatal(err)
	}
	res, err := mgd.CreateGeneratedKey(ctx, e.Tenant.ID, e.owner(), managed.CreateKeyInput{StoreID: st.ID, Name: name, ValidDays: validDays})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Done() {
		t.Fatalf("create %s: %s", name, res.Error)
	}
	mat, err := e.DB.ActiveMaterial(ctx, e.Tenant.ID, res.Key.ID)
	if err != nil {
		t.Fatal(err)
	}
	if mat.ValidTo == nil {
		t.Fatal("the material has no expiry")
	}
	return res.Key, mat
}

// expiryNotices are the key's notices about material expiry, oldest first,
// as "lead:kind".
func (e *schedEnv) expiryNotices(t *testing.T, keyID string) []string {
	t.Helper()
	ns, err := e.DB.KeyNotices(context.Background(), e.Tenant.ID, keyID, 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(ns) - 1; i >= 0; i-- {
		if strings.HasPrefix(ns[i].DedupeKey, "expiry:") {
			out = append(out, ns[i].Kind+":"+strconv.Itoa(ns[i].LeadDays))
		}
	}
	return out
}

// TestMaterialExpiryNotices: a material expiring in 40 days gets exactly
// four notices over 41 days (30, 7 and 1 days before, and expired), each
// mailed once to the owner, although two replicas tick and the clock jumps
// back and forth; the reminder and the expired notice are pinned by golden
// files.
func TestMaterialExpiryNotices(t *testing.T) {
	start := time.Date(2027, 3, 1, 10, 0, 0, 0, time.UTC)
	e := newSchedEnv(t, start)
	ctx := context.Background()
	k, mat := e.generatedKey(t, "ledger", 40)
	w1, _, _ := e.process("p1")
	w2, _, _ := e.process("p2")
	step := func() {
		var wg sync.WaitGroup
		for _, w := range []*jobs.Worker{w1, w2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w.Tick(ctx)
				if _, err := w.RunDue(ctx); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	// Day by day (in 12-hour steps) to 41 days, with jumps back over
	// stages already sent and forward over a day.
	day := func(d float64) time.Time { return start.Add(time.Duration(d * 24 * float64(time.Hour))) }
	var path []time.Time
	for d := 0.0; d <= 41; d += 0.5 {
		path = append(path, day(d))
		switch d {
		case 12: // after the 30-day reminder: back before it, then on
			path = append(path, day(3), day(9.5), day(12))
		case 35: // after the 7-day reminder: back to before the 30-day one
			path = append(path, day(1), day(20), day(35))
		case 40.5: // expired: back to the last day, and to the 7-day stage
			path = append(path, day(39.5), day(34), day(41), day(40.5))
		}
	}
	for _, at := range path {
		e.Clock.Advance(at.Sub(e.Clock.Now()))
		step()
	}
	got := e.expiryNotices(t, k.ID)
	want := []string{"material_expiring:30", "material_expiring:7", "material_expiring:1", "health:0"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("expiry notices = %v, want %v", got, want)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	subjects := []string{"Key material of ledger expires in 30 days", "Key material of ledger expires in 7 days",
		"Key material of ledger expires in 1 day", "Action needed: key material of ledger expired"}
	msgs := map[string]mailcatcher.Message{}
	for _, sub := range subjects {
		m, err := e.Mail.WaitFor(wctx, func(m mailcatcher.Message) bool { return m.Subject == sub })
		if err != nil {
			t.Fatalf("no email %q: %v", sub, err)
		}
		if len(m.To) != 1 || m.To[0] != "owner@tenant.test" {
			t.Errorf("%q went to %v", sub, m.To)
		}
		msgs[sub] = m
	}
	if n := len(e.Mail.Messages()); n != 4 {
		t.Errorf("%d emails, want 4", n)
	}
	pin := func(m mailcatcher.Message) string {
		s := strings.ReplaceAll(m.Text, "\r\n", "\n")
		return strings.NewReplacer(k.ID, "KEY_ID", mat.Fingerprint, "FINGERPRINT").Replace(s)
	}
	golden(t, "notice_material_expiring.txt", pin(msgs[subjects[1]]))
	golden(t, "notice_material_expired.txt", pin(msgs[subjects[3]]))
	if !strings.Contains(msgs[subjects[1]].HTML, `href="https://keyport.test/keys/`+k.ID+`"`) {
		t.Error("the HTML reminder does not link to the key page")
	}
}

// TestMaterialExpiryForwardJump: a clock that jumps over stages sends only
// the latest due one (never a stale reminder, even when it jumps back),
// reminders respect an opt-out, and the expired notice, a health notice,
// does not.
func TestMaterialExpiryForwardJump(t *testing.T) {
	start := time.Date(2027, 3, 1, 10, 0, 0, 0, time.UTC)
	e := newSchedEnv(t, start)
	ctx := context.Background()
	k, mat := e.generatedKey(t, "archive", 40)
	if err := e.DB.SetMailOptOuts(ctx, e.Tenant.ID, e.Owner.ID, []string{models.NoticeMaterialExpiring}); err != nil {
		t.Fatal(err)
	}
	w, _, _ := e.process("p1")
	for _, before := range []time.Duration{35 * 24 * time.Hour, 5 * 24 * time.Hour, 25 * 24 * time.Hour, 12 * time.Hour,
		3 * 24 * time.Hour, -time.Hour, 6 * time.Hour, -48 * time.Hour} {
		e.Clock.Advance(mat.ValidTo.Add(-before).Sub(e.Clock.Now()))
		w.Tick(ctx)
		if _, err := w.RunDue(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got := e.expiryNotices(t, k.ID)
	want := []string{"material_expiring:7", "material_expiring:1", "health:0"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("expiry notices = %v, want %v", got, want)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := e.Mail.WaitFor(wctx, func(m mailcatcher.Message) bool {
		return m.Subject == "Action needed: key material of archive expired"
	}); err != nil {
		t.Fatal(err)
	}
	// A check now finds the material expired: the health notice would say
	// what the expired notice said, so it is not mailed again.
	ck, _, err := e.Service.CheckKey(ctx, e.Tenant.ID, e.owner(), k.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ck.Health != models.HealthMaterialExpired {
		t.Fatalf("health after expiry = %s", ck.Health)
	}
	w.Tick(ctx)
	if _, err := w.RunDue(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(e.Mail.Messages()); n != 1 {
		t.Errorf("%d emails, want only the expired notice (reminders were opted out of, health said nothing new)", n)
	}
}

// sweepCounter counts validation sweep jobs run.
type sweepCounter struct{ n atomic.Int64 }

func (c *sweepCounter) AWSCall(string, string, string, time.Duration) {}
func (c *sweepCounter) EmailDelivery(string)                          {}
func (c *sweepCounter) JobDone(kind, outcome string, _, _ time.Duration) {
	if kind == "validation.sweep" && outcome == "ok" {
		c.n.Add(1)
	}
}

// TestValidationSweepJobOncePerInterval: two workers sharing one database,
// both ticking, run the validation sweep once per interval slot, also when
// the clock goes back into a slot already swept; the sweep validates the
// keys.
func TestValidationSweepJobOncePerInterval(t *testing.T) {
	start := time.Date(2027, 5, 3, 8, 20, 0, 0, time.UTC)
	e := newSchedEnv(t, start)
	ctx := context.Background()
	k := e.Key(t, "orders")
	var runs sweepCounter
	var ws []*jobs.Worker
	for _, owner := range []string{"p1", "p2"} {
		w, s, _ := e.process(owner)
		s.SweepEvery = time.Hour
		w.SetObserver(&runs)
		ws = append(ws, w)
	}
	step := func() {
		var wg sync.WaitGroup
		for _, w := range ws {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 3 {
					w.Tick(ctx)
					if _, err := w.RunDue(ctx); err != nil {
						t.Error(err)
					}
				}
			}()
		}
		wg.Wait()
	}
	slots := 0
	for _, offset := range []time.Duration{0, 20 * time.Minute, time.Hour, 90 * time.Minute, 10 * time.Minute, 3 * time.Hour} {
		e.Clock.Advance(start.Add(offset).Sub(e.Clock.Now()))
		step()
		if offset != 20*time.Minute && offset != 90*time.Minute && offset != 10*time.Minute {
			slots++ // a slot not swept before
			v, err := e.DB.LatestKeyValidation(ctx, e.Tenant.ID, k.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !v.CreatedAt.Equal(e.Clock.Now()) {
				t.Errorf("at +%v the key was last validated at %v", offset, v.CreatedAt)
			}
		}
	}
	if n := runs.n.Load(); n != int64(slots) {
		t.Errorf("%d sweeps, want %d (one per interval slot)", n, slots)
	}
	counts, err := e.DB.JobCounts(ctx, "validation.sweep")
	if err != nil {
		t.Fatal(err)
	}
	if counts[models.JobDone] != int64(slots) || len(counts) != 1 {
		t.Errorf("sweep jobs by state = %v, want %d done", counts, slots)
	}
	if _, err := e.DB.JobByRunKey(ctx, rotation.SweepRunKey(start.Truncate(time.Hour))); err != nil {
		t.Errorf("no sweep job for the first slot: %v", err)
	}
}
