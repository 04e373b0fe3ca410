package web

import (
	"bytes"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// BufferedWriter batches log lines (the access log's) into few writes: a
// line costs a copy, not a system call. It flushes every interval, when
// its buffer is full and on Close, so at most one interval of lines waits
// in memory. It never drops a line to keep up: when the sink is slow the
// writer waits for it, as an unbuffered log would. Lines are lost only when
// the sink fails a write; they are counted (Lost) and the next flush tries
// again with new lines.
type BufferedWriter struct {
	mu     sync.Mutex
	buf    []byte
	sink   io.Writer
	closed bool // after Close every write goes straight to the sink
	lost   atomic.Int64

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// logBufferSize holds a few hundred access-log lines.
const logBufferSize = 64 << 10

// NewBufferedWriter buffers writes to sink, flushing every interval.
func NewBufferedWriter(sink io.Writer, interval time.Duration) *BufferedWriter {
	b := &BufferedWriter{buf: make([]byte, 0, logBufferSize), sink: sink, stop: make(chan struct{}), done: make(chan struct{})}
	go b.flushEvery(interval)
	return b
}

// Write takes whole lines (slog handlers write one record at once), so a
// line is never split between two flushes.
func (b *BufferedWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.buf)+len(p) > cap(b.buf) {
		b.flushLocked()
	}
	if b.closed || len(p) > cap(b.buf) {
		b.writeLocked(p)
		return len(p), nil
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

// Flush writes out what is buffered.
func (b *BufferedWriter) Flush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushLocked()
}

func (b *BufferedWriter) flushLocked() {
	if len(b.buf) > 0 {
		b.writeLocked(b.buf)
		clear(b.buf)
		b.buf = b.buf[:0]
	}
}

// writeLocked writes p to the sink, counting the lines it refused.
func (b *BufferedWriter) writeLocked(p []byte) {
	n, err := b.sink.Write(p)
	if err != nil && n < len(p) {
		lines := bytes.Count(p[n:], []byte{'\n'})
		if p[len(p)-1] != '\n' {
			lines++
		}
		b.lost.Add(int64(lines))
	}
}

// Lost is the number of lines the sink refused since the start.
func (b *BufferedWriter) Lost() int64 { return b.lost.Load() }

func (b *BufferedWriter) flushEvery(interval time.Duration) {
	defer close(b.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			b.Flush()
		case <-b.stop:
			return
		}
	}
}

// Close stops the periodic flush and writes out what is buffered; later
// writes go straight to the sink.
func (b *BufferedWriter) Close() error {
	b.once.Do(func() { close(b.stop); <-b.done })
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushLocked()
	b.closed = true
	return nil
}
