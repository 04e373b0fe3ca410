package rotation_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"keyport/keysvc/rotation"
	"keyport/web/mailcatcher"
)

var update = flag.Bool("update", false, "rewrite golden files")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// TestNoticeEmailsOverSMTP: the notice before a rotation and the one after
// it reach a real SMTP listener, addressed to the tenant's owners and
// admins, with the subjects and bodies pinned by golden files.
func TestNoticeEmailsOverSMTP(t *testing.T) {
	e := newSchedEnv(t, time.Date(2027, 1, 4, 9, 30, 0, 0, time.UTC))
	ctx := context.Background()
	k := e.Key(t, "payments")
	w, s, _ := e.process("p1")
	if _, err := s.SetPolicy(ctx, e.Tenant.ID, k.ID, e.owner(), rotation.PolicyInput{PeriodDays: "40", NoticeDays: "30", Automatic: true,
		WindowStartHour: "2", WindowHours: "3"}); err != nil {
		t.Fatal(err)
	}
	wait := func(subject string) mailcatcher.Message {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		m, err := e.Mail.WaitFor(wctx, func(m mailcatcher.Message) bool { return m.Subject == subject })
		if err != nil {
			t.Fatalf("no email %q: %v (have %d)", subject, err, len(e.Mail.Messages()))
		}
		return m
	}
	pin := func(m mailcatcher.Message) string {
		return strings.ReplaceAll(strings.ReplaceAll(m.Text, "\r\n", "\n"), k.ID, "KEY_ID")
	}
	e.Clock.Advance(10*24*time.Hour + 17*time.Hour) // 2027-01-15 02:30, past the 30-day notice
	w.Tick(ctx)
	w.RunDue(ctx)
	m := wait("Key payments rotates in 30 days")
	if len(m.To) != 1 || m.To[0] != "owner@tenant.test" {
		t.Errorf("recipients = %v", m.To)
	}
	golden(t, "notice_before_rotation.txt", pin(m))
	if !strings.Contains(m.HTML, `href="https://keyport.test/keys/`+k.ID+`/rotation"`) {
		t.Error("the HTML body does not link to the rotation schedule")
	}
	e.Clock.Advance(30 * 24 * time.Hour)
	w.Tick(ctx)
	w.RunDue(ctx)
	golden(t, "notice_rotated.txt", pin(wait("Key payments was rotated to version 2")))
}
