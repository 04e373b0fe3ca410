package reportmail

import (
	"testing"
	"time"

	"keyport/models"
)

// TestPeriodKey: weeks are ISO weeks (Monday to Sunday, UTC; the year's
// edge follows ISO), months are calendar months in UTC.
func TestPeriodKey(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tt := range []struct {
		period, at, want string
	}{
		{models.ReportWeekly, "2026-12-07T00:00:00Z", "2026-W50"}, // a Monday
		{models.ReportWeekly, "2026-12-13T23:59:59Z", "2026-W50"}, // its Sunday
		{models.ReportWeekly, "2026-12-14T00:00:00Z", "2026-W51"},
		{models.ReportWeekly, "2027-01-01T12:00:00Z", "2026-W53"},      // ISO: still 2026's last week
		{models.ReportWeekly, "2026-12-14T00:30:00+01:00", "2026-W50"}, // UTC decides
		{models.ReportMonthly, "2026-12-31T23:59:59Z", "2026-12"},
		{models.ReportMonthly, "2027-01-01T00:30:00+01:00", "2026-12"},
	} {
		if got := PeriodKey(tt.period, at(tt.at)); got != tt.want {
			t.Errorf("PeriodKey(%s, %s) = %s, want %s", tt.period, tt.at, got, tt.want)
		}
	}
	for in, want := range map[string]string{"": "", "off": "", "weekly": "weekly", " monthly ": "monthly"} {
		if got, err := ParsePeriod(in); err != nil || got != want {
			t.Errorf("ParsePeriod(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParsePeriod("daily"); err == nil {
		t.Error("daily accepted")
	}
}
