// Package mailer sends keyport's email: the transactional outbox (a message
// is composed, its body sealed, and enqueued in the same transaction as the
// change it reports; a job delivers it, at least once and exactly once but
// for one documented window) and SMTP delivery to the configured relay,
// over TLS unless told explicitly not to. It knows nothing of HTTP or
// pages: callers hand it a finished message (subject, text and HTML).
//
// It imports models, keysvc/seal and keysvc/jobs.
package mailer

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// TLSMode is how the connection to the relay is protected.
type TLSMode string

// The TLS modes. The zero value means STARTTLSMandatory: plain text must be
// asked for by name.
const (
	// STARTTLSMandatory connects in plain text and upgrades with STARTTLS,
	// refusing a relay that does not offer it (port 587).
	STARTTLSMandatory TLSMode = "starttls-mandatory"
	// ImplicitTLS speaks TLS from the first byte (port 465).
	ImplicitTLS TLSMode = "tls"
	// NoTLS sends in plain text. Only for the development mail catcher and
	// tests; keyport's production configuration refuses it.
	NoTLS TLSMode = "none"
)

// ParseTLSMode reads a mode by name; "" is STARTTLSMandatory.
func ParseTLSMode(s string) (TLSMode, error) {
	switch m := TLSMode(strings.ToLower(strings.TrimSpace(s))); m {
	case "", "starttls":
		return STARTTLSMandatory, nil
	case STARTTLSMandatory, ImplicitTLS, NoTLS:
		return m, nil
	}
	return "", fmt.Errorf("mailer: unknown TLS mode %q (want starttls-mandatory, tls or none)", s)
}

// DefaultPort is the usual port for a mode.
func DefaultPort(m TLSMode) int {
	switch m {
	case ImplicitTLS:
		return 465
	case NoTLS:
		return 25
	}
	return 587
}

// Config is where and how mail is sent.
type Config struct {
	Host     string
	Port     int // 0: DefaultPort(TLS)
	TLS      TLSMode
	Username string // optional; with Password, SMTP AUTH
	Password string
	From     string // "keyport <keyport@example.com>" or a bare address
	Timeout  time.Duration
	// TLSConfig overrides the TLS settings (tests use it to trust their own
	// certificate); nil verifies the relay's certificate against Host.
	TLSConfig *tls.Config
}

// LogValue keeps the password out of logs.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("host", c.Host), slog.Int("port", c.Port), slog.String("tls", string(c.TLS)),
		slog.String("username", c.Username), slog.Bool("password_set", c.Password != ""), slog.String("from", c.From))
}

// String keeps the password out of fmt output.
func (c Config) String() string {
	return fmt.Sprintf("smtp %s:%d tls=%s user=%q from=%q", c.Host, c.Port, c.TLS, c.Username, c.From)
}

// Message is one email. Text is required; HTML is an optional alternative.
type Message struct {
	To        []string
	Subject   string
	Text      string
	HTML      string
	MessageID string // without angle brackets; "" lets the library pick one
	// Attachments are files sent with the message (a report).
	Attachments []Attachment
}

// Attachment is a file attached to a message. Name is a plain file name
// (keyport makes it; no path, no quotes).
type Attachment struct {
	Name        string `json:"name"`
	ContentType string `json:"content_type"`
	Data        []byte `json:"data"`
}

// Mailer sends messages. It is safe for concurrent use: every Send opens
// its own connection.
type Mailer struct {
	cfg  Config
	from *mail.Address
}

// New checks cfg and returns a Mailer. It does not connect.
func New(cfg Config) (*Mailer, error) {
	if cfg.TLS == "" {
		cfg.TLS = STARTTLSMandatory
	}
	if _, err := ParseTLSMode(string(cfg.TLS)); err != nil {
		return nil, err
	}
	if cfg.Port == 0 {
		cfg.Port = DefaultPort(cfg.TLS)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	switch {
	case strings.TrimSpace(cfg.Host) == "":
		return nil, errors.New("mailer: host is required")
	case cfg.Port < 1 || cfg.Port > 65535:
		return nil, fmt.Errorf("mailer: port %d is out of range", cfg.Port)
	case (cfg.Username == "") != (cfg.Password == ""):
		return nil, errors.New("mailer: set both username and password, or neither")
	case cfg.Username != "" && cfg.TLS == NoTLS:
		return nil, errors.New("mailer: refusing to send SMTP credentials without TLS")
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("mailer: from address %q is not an email address", cfg.From)
	}
	return &Mailer{cfg: cfg, from: from}, nil
}

// Config returns the configuration in use (for logs; it redacts itself).
func (m *Mailer) Config() Config { return m.cfg }

// Send delivers msg to the relay. The error says what failed but never
// carries the message body, which can hold a link with a token.
func (m *Mailer) Send(ctx context.Context, msg Message) error {
	if len(msg.To) == 0 {
		return errors.New("mailer: message has no recipient")
	}
	if msg.Text == "" {
		return errors.New("mailer: message has no text body")
	}
	g := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	g.FromMailAddress(m.from)
	if err := g.To(msg.To...); err != nil {
		return fmt.Errorf("mailer: recipient: %w", err)
	}
	// Header values come from users (tenant and people's names): no line
	// breaks may reach a header.
	g.Subject(strings.Join(strings.Fields(msg.Subject), " "))
	if msg.MessageID != "" {
		g.SetMessageIDWithValue(strings.Trim(msg.MessageID, "<> \r\n"))
	} else {
		g.SetMessageID()
	}
	g.SetDate()
	g.SetBodyString(gomail.TypeTextPlain, msg.Text)
	if msg.HTML != "" {
		g.AddAlternativeString(gomail.TypeTextHTML, msg.HTML)
	}
	for _, a := range msg.Attachments {
		g.AttachReadSeeker(a.Name, bytes.NewReader(a.Data), gomail.WithFileContentType(gomail.ContentType(a.ContentType)))
	}
	c, err := m.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	if err := c.DialAndSendWithContext(ctx, g); err != nil {
		return fmt.Errorf("mailer: send to %s:%d: %w", m.cfg.Host, m.cfg.Port, err)
	}
	return nil
}

// client builds a go-mail client for one send.
func (m *Mailer) client() (*gomail.Client, error) {
	tc := m.cfg.TLSConfig
	if tc == nil {
		tc = &tls.Config{ServerName: m.cfg.Host, MinVersion: tls.VersionTLS12}
	}
	opts := []gomail.Option{gomail.WithPort(m.cfg.Port), gomail.WithTimeout(m.cfg.Timeout), gomail.WithTLSConfig(tc)}
	switch m.cfg.TLS {
	case ImplicitTLS:
		opts = append(opts, gomail.WithSSL())
	case NoTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if m.cfg.Username != "" {
		// Auto-discovery picks the strongest mechanism the relay offers and
		// never a plain one over an unencrypted connection.
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(m.cfg.Username), gomail.WithPassword(m.cfg.Password))
	}
	c, err := gomail.NewClient(m.cfg.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("mailer: configure client: %w", err)
	}
	return c, nil
}
