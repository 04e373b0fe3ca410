package web

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"
)

// The hand-written access-log line is byte for byte slog's JSONHandler's.
func TestAccessLineMatchesSlogJSON(t *testing.T) {
	at := time.Date(2026, 12, 7, 22, 39, 43, 123456789, time.FixedZone("X", 3600))
	entries := []accessEntry{
		{"upOAtwhWSjptPsQuifCosxIvACAVbutu", "POST", "/api/v1/encrypt", "/api/v1/encrypt", 200, 202, 0.123, time.Time{}},
		{"id", "GET", "/keys/key_1", "/keys/:key_id", 500, 0, 0, time.Time{}},
		{"", "GET", "/x<y>&z", "/*", 404, 12345678, 1234.5, time.Time{}},
		{"id", "GET", "/a b", "", 301, -1, 100000, time.Time{}},
	}
	for _, e := range entries {
		for _, level := range []slog.Level{slog.LevelInfo, slog.LevelError} {
			var fast, std bytes.Buffer
			h := NewAccessLogger(&fast, true, slog.LevelInfo).Handler().(*accessJSON)
			if !h.writeLine(at, level, &e) {
				t.Fatalf("%+v: not written", e)
			}
			r := slog.NewRecord(at, level, "request", 0)
			r.AddAttrs(slog.String("request_id", e.requestID), slog.String("method", e.method), slog.String("path", e.path),
				slog.String("route", e.route), slog.Int("status", e.status), slog.Int64("bytes", e.bytes), slog.Float64("duration_ms", e.durationMS))
			if err := slog.NewJSONHandler(&std, nil).Handle(context.Background(), r); err != nil {
				t.Fatal(err)
			}
			if fast.String() != std.String() {
				t.Errorf("hand-written line differs:\n got %s\nwant %s", fast.String(), std.String())
			}
		}
	}
	// What needs escaping goes through slog.
	var out bytes.Buffer
	h := NewAccessLogger(&out, true, slog.LevelInfo).Handler().(*accessJSON)
	if h.writeLine(at, slog.LevelInfo, &accessEntry{path: "/a\"b"}) || h.writeLine(at, slog.LevelInfo, &accessEntry{path: "/é"}) || out.Len() != 0 {
		t.Errorf("a line with escapes was written by hand: %q", out.String())
	}
	logAccess(context.Background(), slog.New(h), slog.LevelInfo, &accessEntry{path: "/a\"b"})
	if !bytes.Contains(out.Bytes(), []byte(`"path":"/a\"b"`)) {
		t.Errorf("fallback line: %q", out.String())
	}
	// The level still filters.
	out.Reset()
	logAccess(context.Background(), NewAccessLogger(&out, true, slog.LevelWarn), slog.LevelInfo, &entries[0])
	if out.Len() != 0 {
		t.Errorf("an info line passed a warn logger: %q", out.String())
	}
}

// appendTime writes what AppendFormat(RFC3339Nano) does, through the
// cached second: fractions with and without trailing zeros, other zones
// in the same second, other seconds.
func TestAccessLineTime(t *testing.T) {
	base := time.Date(2026, 12, 7, 22, 39, 43, 0, time.UTC)
	zones := []*time.Location{time.UTC, time.FixedZone("X", 3600), time.FixedZone("Y", -5*3600-1800), time.Local}
	for _, ns := range []int{0, 1, 10, 100000000, 123456789, 999999999, 500000, 120000000} {
		for _, sec := range []int{0, 1, 0, 3600 * 24 * 200} {
			for _, z := range zones {
				at := base.Add(time.Duration(sec)*time.Second + time.Duration(ns)).In(z)
				if got, want := string(appendTime(nil, at)), at.Format(time.RFC3339Nano); got != want {
					t.Errorf("appendTime(%v) = %s, want %s", at, got, want)
				}
			}
		}
	}
}
