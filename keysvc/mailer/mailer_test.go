package mailer

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"keyport/web/mailcatcher"
)

func TestNewValidates(t *testing.T) {
	ok := Config{Host: "smtp.example.com", From: "keyport <keyport@example.com>"}
	m, err := New(ok)
	if err != nil || m.Config().TLS != STARTTLSMandatory || m.Config().Port != 587 {
		t.Fatalf("defaults: %+v, %v", m.Config(), err)
	}
	for name, edit := range map[string]func(*Config){
		"no host":           func(c *Config) { c.Host = "" },
		"bad port":          func(c *Config) { c.Port = 70000 },
		"bad from":          func(c *Config) { c.From = "not an address" },
		"bad tls":           func(c *Config) { c.TLS = "maybe" },
		"user without pass": func(c *Config) { c.Username = "u" },
		"creds in clear":    func(c *Config) { c.Username, c.Password, c.TLS = "u", "p", NoTLS },
	} {
		c := ok
		edit(&c)
		if _, err := New(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	c := ok
	c.Password, c.Username = "hunter2-secret", "u"
	if s := fmt.Sprint(c) + fmt.Sprintf("%v", c.LogValue()); strings.Contains(s, "hunter2") {
		t.Errorf("config prints its password: %s", s)
	}
	for in, want := range map[string]TLSMode{"": STARTTLSMandatory, "starttls": STARTTLSMandatory, "TLS": ImplicitTLS, "none": NoTLS} {
		if got, err := ParseTLSMode(in); err != nil || got != want {
			t.Errorf("ParseTLSMode(%q) = %q, %v", in, got, err)
		}
	}
}

func TestSendToCatcher(t *testing.T) {
	ctx := context.Background()
	c, err := mailcatcher.Start(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	host, port := splitAddr(t, c.Addr())
	m, err := New(Config{Host: host, Port: port, TLS: NoTLS, From: "keyport <keyport@example.com>"})
	if err != nil {
		t.Fatal(err)
	}
	err = m.Send(ctx, Message{To: []string{"bob@example.com"}, Subject: "Hello\r\nBcc: eve@example.com", Text: "plain body",
		HTML: "<p>html body</p>", MessageID: "inv_1.abc@keyport.test"})
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	got, err := c.WaitFor(wctx, func(mailcatcher.Message) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != "Hello Bcc: eve@example.com" || strings.Join(got.To, ",") != "bob@example.com" ||
		!strings.Contains(got.Text, "plain body") || !strings.Contains(got.HTML, "html body") {
		t.Errorf("received %+v", got)
	}
	if !strings.Contains(string(got.Raw), "Message-ID: <inv_1.abc@keyport.test>") {
		t.Errorf("message id missing:\n%s", got.Raw)
	}

	// The catcher offers no STARTTLS: the default mode must refuse to send.
	strict, _ := New(Config{Host: host, Port: port, From: "keyport@example.com"})
	if err := strict.Send(ctx, Message{To: []string{"bob@example.com"}, Subject: "x", Text: "x"}); err == nil {
		t.Error("starttls-mandatory sent to a relay without STARTTLS")
	}
	if err := m.Send(ctx, Message{Subject: "x", Text: "x"}); err == nil {
		t.Error("sent without a recipient")
	}
}

func TestSendSTARTTLSWithAuth(t *testing.T) {
	srv := startTLSServer(t)
	host, port := splitAddr(t, srv.addr)
	m, err := New(Config{Host: host, Port: port, Username: "keyport", Password: "pw", From: "keyport@example.com",
		TLSConfig: &tls.Config{RootCAs: srv.pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(context.Background(), Message{To: []string{"bob@example.com"}, Subject: "s", Text: "t"}); err != nil {
		t.Fatalf("send: %v", err)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.got != 1 || !srv.tlsOn || srv.user != "keyport" {
		t.Errorf("server saw %d messages, tls=%v, user=%q", srv.got, srv.tlsOn, srv.user)
	}

	// A certificate the client does not trust stops the send.
	untrusting, _ := New(Config{Host: host, Port: port, Username: "keyport", Password: "pw", From: "keyport@example.com"})
	if err := untrusting.Send(context.Background(), Message{To: []string{"bob@example.com"}, Subject: "s", Text: "t"}); err == nil {
		t.Error("sent to a relay with an untrusted certificate")
	}
}

func splitAddr(t *testing.T, addr string) (string, int) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(p)
	return h, port
}

// tlsServer is an SMTP relay with STARTTLS and AUTH PLAIN, recording what
// it saw.
type tlsServer struct {
	addr  string
	pool  *x509.CertPool
	mu    sync.Mutex
	got   int
	tlsOn bool
	user  string
}

type tlsSession struct {
	srv  *tlsServer
	conn *smtp.Conn
}

func (s *tlsSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *tlsSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "keyport" || pass != "pw" {
			return errors.New("bad credentials")
		}
		s.srv.mu.Lock()
		s.srv.user = user
		s.srv.mu.Unlock()
		return nil
	}), nil
}
func (s *tlsSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *tlsSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *tlsSession) Reset()                               {}
func (s *tlsSession) Logout() error                        { return nil }
func (s *tlsSession) Data(r io.Reader) error {
	_, _ = io.Copy(io.Discard, r)
	_, isTLS := s.conn.TLSConnectionState()
	s.srv.mu.Lock()
	s.srv.got++
	s.srv.tlsOn = isTLS
	s.srv.mu.Unlock()
	return nil
}

func startTLSServer(t *testing.T) *tlsServer {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test relay"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	ts := &tlsServer{pool: pool}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &tlsSession{srv: ts, conn: c}, nil }))
	s.Domain = "relay.test"
	s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	s.ErrorLog = log.New(io.Discard, "", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.addr = ln.Addr().String()
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { s.Close() })
	return ts
}
