package mailcatcher

import (
	"io"
	"time"

	"github.com/emersion/go-smtp"
)

// session receives one SMTP connection's messages; go-smtp calls it from
// the connection's goroutine only.
type session struct {
	c    *Catcher
	from string
	to   []string
}

// Reset discards the envelope of an abandoned message.
func (s *session) Reset() { s.from, s.to = "", nil }

// Logout has nothing to release.
func (s *session) Logout() error { return nil }

// Mail starts a new message; no sender is refused.
func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.from, s.to = from, nil
	return nil
}

// Rcpt adds an envelope recipient. go-smtp already enforces MaxRecipients;
// the check here keeps the bound even if that setting is ever lost.
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if len(s.to) >= maxRecipients {
		return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 5, 3}, Message: "Too many recipients"}
	}
	s.to = append(s.to, to)
	return nil
}

// Data stores the message. It is kept even if it cannot be parsed, because
// a catcher that drops malformed mail hides exactly the bugs it is for.
func (s *session) Data(r io.Reader) error {
	// go-smtp's reader fails with ErrDataTooLarge past MaxMessageBytes; the
	// LimitReader keeps the bound here too.
	raw, err := io.ReadAll(io.LimitReader(r, maxBytes+1))
	if err != nil {
		return err
	}
	if len(raw) > maxBytes {
		return smtp.ErrDataTooLarge
	}
	m := parse(raw)
	m.ID, m.ReceivedAt, m.From, m.To, m.Raw = newID(), time.Now(), s.from, s.to, raw
	s.c.store(m)
	s.Reset()
	return nil
}
