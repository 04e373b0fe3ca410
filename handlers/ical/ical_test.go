package ical

import (
	"strings"
	"testing"
	"time"

	"keyport/models"
)

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"plain":           "plain",
		`a\b`:             `a\\b`,
		"a;b,c":           `a\;b\,c`,
		"two\r\nlines\nx": `two\nlines\nx`,
		"cr\ronly":        `cr\nonly`,
	} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFoldKeepsCharactersWhole(t *testing.T) {
	s := "SUMMARY:" + strings.Repeat("é", 100)
	got := fold(s)
	for _, l := range strings.Split(got, "\r\n") {
		if len(l) > 75 {
			t.Errorf("line of %d octets: %q", len(l), l)
		}
		if !strings.HasPrefix(l, "SUMMARY:") && !strings.HasPrefix(l, " ") {
			t.Errorf("continuation line without a leading space: %q", l)
		}
	}
	if strings.ReplaceAll(got, "\r\n ", "") != s {
		t.Error("unfolding does not give the line back")
	}
	if fold("short") != "short" {
		t.Error("a short line was folded")
	}
}

func TestRotations(t *testing.T) {
	at := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	rows := []models.UpcomingRotation{
		{KeyName: "ledger, main", RotationPolicy: models.RotationPolicy{KeyID: "key_1", NextRotationAt: at, Automatic: true, WindowHours: 3, PeriodDays: 90, NoticeDays: "7,1"}},
		{KeyName: "orders", RotationPolicy: models.RotationPolicy{KeyID: "key_2", NextRotationAt: at, WindowHours: 0, PeriodDays: 365}},
	}
	doc := string(Rotations("Acme; Inc", "https://keyport.example/app", at.AddDate(0, 0, -10), rows).Encode())
	for _, want := range []string{
		"BEGIN:VCALENDAR\r\nVERSION:2.0\r\n",
		"X-WR-CALNAME:keyport rotations: Acme\\; Inc\r\n",
		"UID:rotation-key_1-20260301T020000Z@keyport.example\r\n",
		"DTSTAMP:20260219T020000Z\r\n",
		"DTSTART:20260301T020000Z\r\nDTEND:20260301T050000Z\r\n",
		"SUMMARY:Key rotation: ledger\\, main (automatic)\r\n",
		"URL:https://keyport.example/app/keys/key_1/rotation\r\n",
		"TRIGGER:-P7D\r\n", "TRIGGER:-P1D\r\n",
		"DESCRIPTION:Key ledger\\, main rotates in 1 day\r\n", // never "1 days"
		"SUMMARY:Key rotation: orders (needs confirmation)\r\n",
		"DTEND:20260301T030000Z\r\n", // a window of 0 hours lasts one
		"END:VEVENT\r\nEND:VCALENDAR\r\n",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("the feed lacks %q:\n%s", want, doc)
		}
	}
	if n := strings.Count(doc, "BEGIN:VALARM"); n != 2 {
		t.Errorf("%d alarms, want 2", n)
	}
}
