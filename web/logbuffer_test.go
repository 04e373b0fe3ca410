package web

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a sink that can be read while the writer flushes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	err error // when set, writes fail
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return 0, l.err
	}
	return l.buf.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func TestLogBufferKeepsEveryLineInOrder(t *testing.T) {
	var sink lockedBuffer
	w := NewBufferedWriter(&sink, time.Hour) // no timed flush: only the size bound and Close
	var want strings.Builder
	for i := range 5000 { // several buffers' worth
		line := fmt.Sprintf(`{"msg":"request","n":%d}`+"\n", i)
		want.WriteString(line)
		if _, err := io.WriteString(w, line); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "after close\n") // written through
	want.WriteString("after close\n")
	if got := sink.String(); got != want.String() {
		t.Errorf("sink got %d bytes, want %d", len(got), want.Len())
	}
	if w.Lost() != 0 {
		t.Errorf("Lost = %d, want 0", w.Lost())
	}
}

func TestLogBufferFlushesOnItsOwn(t *testing.T) {
	var sink lockedBuffer
	w := NewBufferedWriter(&sink, time.Millisecond)
	defer w.Close()
	io.WriteString(w, "one line\n")
	for sink.String() == "" { // the periodic flush; the test's own timeout bounds the wait
		time.Sleep(time.Millisecond)
	}
	if got := sink.String(); got != "one line\n" {
		t.Errorf("sink = %q", got)
	}
}

func TestLogBufferCountsLinesTheSinkRefused(t *testing.T) {
	sink := &lockedBuffer{err: errors.New("disk full")}
	w := NewBufferedWriter(sink, time.Hour)
	io.WriteString(w, "a\n")
	io.WriteString(w, "b\n")
	w.Flush()
	if w.Lost() != 2 {
		t.Errorf("Lost = %d, want 2", w.Lost())
	}
	sink.mu.Lock()
	sink.err = nil
	sink.mu.Unlock()
	io.WriteString(w, "c\n")
	w.Close()
	if got := sink.String(); got != "c\n" || w.Lost() != 2 {
		t.Errorf("after recovery: sink %q, lost %d", got, w.Lost())
	}
}

func TestRequestIDShape(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := requestID()
		if len(id) != 32 || strings.Trim(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") != "" || seen[id] {
			t.Fatalf("request id %q: want 32 letters, each id new", id)
		}
		seen[id] = true
	}
}
