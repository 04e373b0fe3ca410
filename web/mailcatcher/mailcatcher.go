// Package mailcatcher is a development and test stand-in SMTP server that
// keeps what it receives in memory instead of delivering it. It is never for
// production: it has no TLS and no authentication and accepts mail for anyone.
//
// keyport sends its mail to it over real SMTP, so the sending code is the
// same as in production; tests and the development UI read the messages back.
package mailcatcher

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// Limits that keep a misbehaving sender from exhausting memory.
const (
	defaultLimit  = 500 // messages kept
	maxBytes      = 10 << 20
	maxRecipients = 100
)

// Message is one received message.
type Message struct {
	ID         string
	ReceivedAt time.Time
	// From is the envelope sender (MAIL FROM).
	From string
	// To holds the envelope recipients (RCPT TO), which include Bcc.
	To []string
	// Subject is decoded from RFC 2047 if needed.
	Subject string
	// Text and HTML are the first text/plain and text/html bodies, with the
	// transfer encoding removed.
	Text string
	HTML string
	// Raw is the message exactly as received.
	Raw []byte
}

// clone returns a copy sharing no slices with m, so callers cannot change
// what the catcher holds.
func (m Message) clone() Message {
	m.To = slices.Clone(m.To)
	m.Raw = slices.Clone(m.Raw)
	return m
}

// Catcher is a running mail catcher. Create it with Start.
type Catcher struct {
	srv  *smtp.Server
	ln   net.Listener
	addr string

	mu       sync.Mutex
	limit    int       // messages kept; a field so tests can lower it
	messages []Message // oldest first; at most limit
	// arrived is closed and replaced whenever a message is stored, waking
	// every WaitFor at once.
	arrived chan struct{}

	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Start listens for SMTP on addr, which must be a loopback address such as
// "127.0.0.1:0". It stops when ctx is cancelled or Close is called.
func Start(ctx context.Context, addr string) (*Catcher, error) {
	if err := checkLoopback(addr); err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("mailcatcher: listen on %s: %w", addr, err)
	}
	// A host name such as "localhost" is only known to be loopback once resolved.
	if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
		_ = ln.Close()
		return nil, fmt.Errorf("mailcatcher: %s is not a loopback address", ln.Addr())
	}

	c := &Catcher{ln: ln, addr: ln.Addr().String(), limit: defaultLimit, arrived: make(chan struct{}), done: make(chan struct{})}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &session{c: c}, nil
	}))
	srv.Domain = "mailcatcher.localhost"
	srv.MaxMessageBytes = maxBytes
	srv.MaxRecipients = maxRecipients
	// Timeouts so a stuck client does not hold a goroutine forever.
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.ErrorLog = log.New(io.Discard, "", 0)
	c.srv = srv

	go func() { _ = srv.Serve(ln) }()
	go func() {
		select {
		case <-ctx.Done():
			_ = c.Close()
		case <-c.done:
		}
	}()
	return c, nil
}

// Addr returns the host:port to send mail to.
func (c *Catcher) Addr() string { return c.addr }

// Messages returns copies of the stored messages, newest first.
func (c *Catcher) Messages() []Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Message, 0, len(c.messages))
	for i := len(c.messages) - 1; i >= 0; i-- {
		out = append(out, c.messages[i].clone())
	}
	return out
}

// Message returns a copy of the message with the given id, if still stored.
func (c *Catcher) Message(id string) (Message, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.messages {
		if m.ID == id {
			return m.clone(), true
		}
	}
	return Message{}, false
}

// WaitFor returns the newest stored message for which match returns true,
// or, if there is none, blocks until one arrives or ctx ends. match is
// called without any lock held, so it may call other Catcher methods.
func (c *Catcher) WaitFor(ctx context.Context, match func(Message) bool) (Message, error) {
	seen := "" // id of the newest message already checked
	for {
		c.mu.Lock()
		arrived := c.arrived
		var fresh []Message // newest first, not yet checked
		for i := len(c.messages) - 1; i >= 0 && c.messages[i].ID != seen; i-- {
			fresh = append(fresh, c.messages[i].clone())
		}
		c.mu.Unlock()

		for _, m := range fresh {
			if match(m) {
				return m, nil
			}
		}
		if len(fresh) > 0 {
			seen = fresh[0].ID
		}
		select {
		case <-arrived:
		case <-ctx.Done():
			return Message{}, fmt.Errorf("mailcatcher: wait for message: %w", ctx.Err())
		case <-c.done:
			return Message{}, errors.New("mailcatcher: wait for message: catcher closed")
		}
	}
}

// Close stops the server and drops open connections. It is safe to call
// more than once.
func (c *Catcher) Close() error {
	c.closeOnce.Do(func() {
		close(c.done)
		// go-smtp only closes listeners Serve has registered; if Close wins
		// the race with the Serve goroutine, ours would stay open, so close
		// it too and accept that one of the two finds it closed.
		var errs []error
		for _, err := range []error{c.srv.Close(), c.ln.Close()} {
			if err != nil && !errors.Is(err, smtp.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
				errs = append(errs, err)
			}
		}
		if err := errors.Join(errs...); err != nil {
			c.closeErr = fmt.Errorf("mailcatcher: close: %w", err)
		}
	})
	return c.closeErr
}

// store keeps m, dropping the oldest message when full, and wakes waiters.
func (c *Catcher) store(m Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.messages) >= c.limit {
		// Copy down rather than reslice so the backing array does not grow
		// without bound.
		n := copy(c.messages, c.messages[len(c.messages)-c.limit+1:])
		clear(c.messages[n:])
		c.messages = c.messages[:n]
	}
	c.messages = append(c.messages, m)
	close(c.arrived)
	c.arrived = make(chan struct{})
}

// newID returns a random message id that is safe in a URL path.
func newID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// checkLoopback refuses anything but a loopback host before listening: the
// catcher accepts mail from anyone.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("mailcatcher: parse address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return errors.New("mailcatcher: address must be on loopback, e.g. 127.0.0.1:0")
	}
	return nil
}
