package web

import (
	"context"
	"io"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// NewAccessLogger is the access log's logger: JSON lines as slog's
// JSONHandler writes them, or slog's text, at level, to w (cmd/keyport
// gives it a BufferedWriter). In JSON, the one line per request is
// formatted by hand, byte for byte what the JSONHandler would write, at a
// fraction of its cost; a line with anything to escape goes through slog.
func NewAccessLogger(w io.Writer, asJSON bool, level slog.Leveler) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if !asJSON {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(&accessJSON{JSONHandler: slog.NewJSONHandler(w, opts), w: w})
}

// accessJSON is slog's JSONHandler with a hand-written request line.
type accessJSON struct {
	*slog.JSONHandler
	w io.Writer
}

// accessEntry is one access-log line's fields.
type accessEntry struct {
	requestID, method, path, route string
	status                         int
	bytes                          int64
	durationMS                     float64
	at                             time.Time // when the response was done; zero is now
}

var lineBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// writeLine writes e as the JSONHandler would, and reports false (having
// written nothing) when a field needs escaping or the duration a format
// only encoding/json decides.
func (h *accessJSON) writeLine(t time.Time, level slog.Level, e *accessEntry) bool {
	for _, s := range [...]string{e.requestID, e.method, e.path, e.route} {
		if !plainJSON(s) {
			return false
		}
	}
	if d := math.Abs(e.durationMS); d != 0 && (d < 1e-6 || d >= 1e21 || math.IsNaN(d) || math.IsInf(d, 0)) {
		return false
	}
	if y := t.Year(); y < 0 || y >= 10000 {
		return false
	}
	bp := lineBufs.Get().(*[]byte)
	b := (*bp)[:0]
	b = append(b, `{"time":"`...)
	b = appendTime(b, t)
	b = append(b, `","level":"`...)
	b = append(b, level.String()...)
	b = append(b, `","msg":"request","request_id":"`...)
	b = append(b, e.requestID...)
	b = append(b, `","method":"`...)
	b = append(b, e.method...)
	b = append(b, `","path":"`...)
	b = append(b, e.path...)
	b = append(b, `","route":"`...)
	b = append(b, e.route...)
	b = append(b, `","status":`...)
	b = strconv.AppendInt(b, int64(e.status), 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, e.bytes, 10)
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendFloat(b, e.durationMS, 'f', -1, 64)
	b = append(b, "}\n"...)
	_, _ = h.w.Write(b)
	*bp = b
	lineBufs.Put(bp)
	return true
}

// lineTime is what a line's time has in common with every other time of
// the same second: the date and time to the second, and the zone.
type lineTime struct {
	sec        int64
	loc        *time.Location
	date, zone string
}

var lastLineTime atomic.Pointer[lineTime]

// appendTime appends t as t.AppendFormat(b, time.RFC3339Nano) does, the
// date and zone formatted once a second rather than on every line.
func appendTime(b []byte, t time.Time) []byte {
	sec := t.Unix()
	lt := lastLineTime.Load()
	if lt == nil || lt.sec != sec || lt.loc != t.Location() {
		lt = &lineTime{sec: sec, loc: t.Location(), date: t.Format("2006-01-02T15:04:05"), zone: t.Format("Z07:00")}
		lastLineTime.Store(lt)
	}
	b = append(b, lt.date...)
	if ns := t.Nanosecond(); ns != 0 { // ".999999999": trailing zeros trimmed
		var frac [10]byte
		frac[0] = '.'
		for i := 9; i > 0; i-- {
			frac[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := len(frac)
		for frac[n-1] == '0' {
			n--
		}
		b = append(b, frac[:n]...)
	}
	return append(b, lt.zone...)
}

// plainJSON reports whether s is printable ASCII without a quote or a
// backslash: written as is by slog's JSON escaping.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// logAccess writes one access-log line through log.
func logAccess(ctx context.Context, log *slog.Logger, level slog.Level, e *accessEntry) {
	if h, ok := log.Handler().(*accessJSON); ok {
		if !h.Enabled(ctx, level) {
			return
		}
		at := e.at
		if at.IsZero() {
			at = time.Now()
		}
		if h.writeLine(at, level, e) {
			return
		}
	}
	log.LogAttrs(ctx, level, "request",
		slog.String("request_id", e.requestID),
		slog.String("method", e.method),
		slog.String("path", e.path),
		slog.String("route", e.route),
		slog.Int("status", e.status),
		slog.Int64("bytes", e.bytes),
		slog.Float64("duration_ms", e.durationMS),
	)
}
