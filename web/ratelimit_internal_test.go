package web

import (
	"net/http/httptest"
	"testing"
	"time"
)

// TestClientIPTrustsOnlyPrivateProxies: a client on the internet cannot
// choose its bucket with X-Forwarded-For; a load balancer on a private
// address can name the client.
func TestClientIPTrustsOnlyPrivateProxies(t *testing.T) {
	for _, tc := range []struct{ remote, xff, want string }{
		{"203.0.113.5:4000", "10.1.2.3", "203.0.113.5"},
		{"203.0.113.5:4000", "", "203.0.113.5"},
		{"10.0.0.2:4000", "198.51.100.7", "198.51.100.7"},
		{"10.0.0.2:4000", "198.51.100.7, 10.0.0.9", "198.51.100.7"},
		{"127.0.0.1:4000", "", "127.0.0.1"},
	} {
		r := httptest.NewRequest("GET", "/auth/login", nil)
		r.RemoteAddr = tc.remote
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := clientIP(r); got != tc.want {
			t.Errorf("remote %s, X-Forwarded-For %q: client = %s, want %s", tc.remote, tc.xff, got, tc.want)
		}
	}
}

// TestLimiterStaysBounded: idle buckets are dropped when the map is full.
func TestLimiterStaysBounded(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := newLimiter(RateLimit{Rate: 10, Burst: 10}, func() time.Time { return now })
	for i := range 1000 {
		l.allow(string(rune(i)))
	}
	now = now.Add(2 * time.Second) // every bucket has refilled
	l.allow("fresh")
	l.sweep(now)
	if n := len(l.buckets); n != 1 {
		t.Errorf("after a sweep %d buckets remain, want only the fresh one", n)
	}
	if ok, wait := newLimiter(RateLimit{Rate: 0.5}, nil).allow("k"); !ok || wait != 0 {
		t.Errorf("first request with a default burst of 1: %v %v", ok, wait)
	}
}
