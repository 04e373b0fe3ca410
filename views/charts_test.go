package views

import "testing"

func TestChartFormatting(t *testing.T) {
	for _, tc := range []struct {
		max, step int64
	}{{0, 1}, {4, 1}, {5, 2}, {8, 2}, {9, 5}, {20, 5}, {21, 10}, {1234, 500}, {4000, 1000}} {
		if got := niceStep(tc.max); got != tc.step {
			t.Errorf("niceStep(%d) = %d, want %d", tc.max, got, tc.step)
		}
	}
	for _, tc := range []struct {
		v     float64
		price bool
		want  string
	}{{0, false, "$0.00"}, {0.004, false, "less than $0.01"}, {0.0175, false, "$0.02"}, {12.5, false, "$12.50"},
		{0.03, true, "$0.03"}, {0.035, true, "$0.035"}, {1, true, "$1.00"}, {0.5, true, "$0.50"}} {
		if got := usd(tc.v, tc.price); got != tc.want {
			t.Errorf("usd(%v, %v) = %q, want %q", tc.v, tc.price, got, tc.want)
		}
	}
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
