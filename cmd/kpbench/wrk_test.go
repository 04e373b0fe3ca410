package main

import (
	"strings"
	"testing"
)

func TestParseWrk(t *testing.T) {
	out := `Running 2s test @ http://127.0.0.1:40000/api/v1/encrypt
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.91ms  612.45us  12.00ms   90.00%
    Req/Sec    22.01k     1.20k   24.00k    75.00%
  Latency Distribution
     50%    2.85ms
     75%    3.10ms
     90%    3.40ms
     99%  812.00us
  43810 requests in 2.00s, 30.11MB read
  Socket errors: connect 0, read 2, write 1, timeout 0
  Non-2xx or 3xx responses: 3
Requests/sec:  21905.12
Transfer/sec:     15.05MB
`
	r, err := parseWrk(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.rps != 21905.12 || r.p50 != 2.85 || r.p99 != 0.812 || r.errors != 6 || r.requests != 43810 {
		t.Errorf("parseWrk = %+v", r)
	}
	if _, err := parseWrk(strings.Replace(out, "Requests/sec", "Req", 1)); err == nil {
		t.Error("no requests/sec: want an error")
	}
}

func TestWrkDuration(t *testing.T) {
	for in, want := range map[string]float64{"812.00us": 0.812, "1.50ms": 1.5, "2.00s": 2000, "1.00m": 60000} {
		if got, err := wrkDuration(in); err != nil || got != want {
			t.Errorf("wrkDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := wrkDuration("12"); err == nil {
		t.Error("no unit: want an error")
	}
}

func TestMetricLineJudgesTargets(t *testing.T) {
	vs := map[string]variant{"batch_encrypt": {items: 100}}
	fast, slow := blockResult{rps: 1000, p99: 1, cpuUS: 10}, blockResult{rps: 700, p99: 1.5, cpuUS: 14}
	for _, tt := range []struct {
		cmp  comparisonSpec
		res  comparison
		want string
	}{
		{comparisons[0], comparison{fast, fast}, "target_met=true"},
		{comparisons[0], comparison{slow, fast}, "target_met=false"},
		{comparisons[2], comparison{blockResult{rps: 120, cpuUS: 500}, fast}, "target_met=true"},
		{comparisons[2], comparison{blockResult{rps: 90, cpuUS: 500}, fast}, "target_met=false"},
		{comparisons[4], comparison{fast, slow}, "errors=0 baseline_errors=0"},
	} {
		line := metricLine(tt.cmp, tt.res, "wrk", 64, 256, 8, 2e9, vs)
		if !strings.HasPrefix(line, "METRIC "+tt.cmp.name+" loadgen=wrk ") || !strings.HasSuffix(line, tt.want) || strings.Contains(line, "%!") {
			t.Errorf("metricLine = %s; want it to end %q", line, tt.want)
		}
	}
}
