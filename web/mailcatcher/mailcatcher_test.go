package mailcatcher_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/smtp"
	"slices"
	"strings"
	"testing"
	"time"

	"keyport/web/mailcatcher"
)

func start(tb testing.TB) *mailcatcher.Catcher {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	c, err := mailcatcher.Start(ctx, "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := c.Close(); err != nil {
			tb.Error(err)
		}
	})
	return c
}

// send delivers raw over real SMTP, the way keyport's mailer does.
func send(tb testing.TB, c *mailcatcher.Catcher, to []string, raw string) {
	tb.Helper()
	if err := smtp.SendMail(c.Addr(), nil, "keyport@example.com", to, []byte(raw)); err != nil {
		tb.Fatalf("send: %v", err)
	}
}

func message(headers, body string) string {
	return strings.ReplaceAll(headers, "\n", "\r\n") + "\r\n" + strings.ReplaceAll(body, "\n", "\r\n")
}

const alternative = `From: keyport <keyport@example.com>
To: ada@example.com
Subject: %s
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="b1"
`

// The text part is base64 and the HTML part quoted-printable, with a soft
// line break and an encoded "=".
const alternativeBody = `--b1
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: base64

S2V5IHJvdGF0ZWQ6IGtleS0xIOKckw==
--b1
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: quoted-printable

<p style=3D"color:red">Key rotated: <b>key-1</b> =E2=9C=93 and a very long l=
ine</p>
--b1--
`

func TestParsesMessages(t *testing.T) {
	c := start(t)
	subject := "Schlüssel rotiert ✓"
	tests := []struct {
		name           string
		to             []string
		raw            string
		subject        string
		text, html     string
		wantRawContain string
	}{
		{
			name: "plain text", to: []string{"ada@example.com"},
			raw:     message("From: keyport@example.com\nTo: ada@example.com\nSubject: Welcome\n", "Hello Ada.\n.leading dot\n"),
			subject: "Welcome", text: "Hello Ada.\r\n.leading dot\r\n",
		},
		{
			name: "alternative, B-encoded subject", to: []string{"ada@example.com", "audit@example.com"},
			raw:     message(fmt.Sprintf(alternative, mime.BEncoding.Encode("utf-8", subject)), alternativeBody),
			subject: subject, text: "Key rotated: key-1 ✓",
			html: "<p style=\"color:red\">Key rotated: <b>key-1</b> ✓ and a very long line</p>",
		},
		{
			name: "Q-encoded subject, latin-1 QP body", to: []string{"bob@example.com"},
			raw: message("Subject: "+mime.QEncoding.Encode("iso-8859-1", "Caf\xe9")+
				"\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n", "Caf=E9\n"),
			subject: "Café", text: "Café\r\n",
		},
		{
			name: "html only, nested in mixed with an attachment", to: []string{"c@example.com"},
			raw: message("Subject: Report\nContent-Type: multipart/mixed; boundary=outer\n",
				"--outer\nContent-Type: multipart/alternative; boundary=inner\n\n--inner\nContent-Type: text/html\n\n<i>hi</i>\n--inner--\n"+
					"--outer\nContent-Type: text/plain\nContent-Disposition: attachment; filename=a.txt\n\nattached\n--outer--\n"),
			subject: "Report", html: "<i>hi</i>",
		},
		{
			name: "unparseable, kept raw", to: []string{"d@example.com"},
			raw:     "this is not a header\r\n\r\nbody\r\n",
			subject: "", wantRawContain: "this is not a header",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := time.Now()
			send(t, c, tt.to, tt.raw)
			m := c.Messages()[0]
			if m.Subject != tt.subject {
				t.Errorf("subject = %q, want %q", m.Subject, tt.subject)
			}
			if m.Text != tt.text || m.HTML != tt.html {
				t.Errorf("text = %q, html = %q\nwant text = %q, html = %q", m.Text, m.HTML, tt.text, tt.html)
			}
			if m.From != "keyport@example.com" || !slices.Equal(m.To, tt.to) {
				t.Errorf("envelope = %q -> %q, want keyport@example.com -> %q", m.From, m.To, tt.to)
			}
			if m.ID == "" || m.ReceivedAt.Before(before) || !bytes.Contains(m.Raw, []byte(tt.wantRawContain)) {
				t.Errorf("id = %q, received %v, raw %q", m.ID, m.ReceivedAt, m.Raw)
			}
			if got, ok := c.Message(m.ID); !ok || got.Subject != m.Subject {
				t.Errorf("Message(%q) = %v, %v", m.ID, got.Subject, ok)
			}
		})
	}
}

func TestWaitFor(t *testing.T) {
	c := start(t)
	send(t, c, []string{"old@example.com"}, message("Subject: old\n", "x\n"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	// An existing message is found without waiting.
	if m, err := c.WaitFor(ctx, func(m Message) bool { return m.Subject == "old" }); err != nil || m.To[0] != "old@example.com" {
		t.Fatalf("WaitFor existing = %v, %v", m.To, err)
	}

	got := make(chan mailcatcher.Message, 1)
	go func() {
		m, err := c.WaitFor(ctx, func(m Message) bool { return slices.Contains(m.To, "new@example.com") })
		if err != nil {
			t.Error(err)
		}
		got <- m
	}()
	time.Sleep(50 * time.Millisecond) // let it start waiting; passing either way
	send(t, c, []string{"other@example.com"}, message("Subject: other\n", "x\n"))
	send(t, c, []string{"new@example.com"}, message("Subject: sign-in link\n", "x\n"))
	if m := <-got; m.Subject != "sign-in link" {
		t.Errorf("WaitFor = %q, want the sign-in link", m.Subject)
	}

	short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelShort()
	if _, err := c.WaitFor(short, func(Message) bool { return false }); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitFor without a match = %v, want deadline exceeded", err)
	}
}

// Message is shorthand in match functions.
type Message = mailcatcher.Message

func TestKeepsOnlyTheNewest(t *testing.T) {
	c := start(t)
	c.SetLimit(3)
	for i := range 5 {
		send(t, c, []string{"a@example.com"}, message(fmt.Sprintf("Subject: m%d\n", i), "x\n"))
	}
	var subjects []string
	for _, m := range c.Messages() {
		subjects = append(subjects, m.Subject)
	}
	if want := []string{"m4", "m3", "m2"}; !slices.Equal(subjects, want) {
		t.Errorf("subjects = %v, want %v", subjects, want)
	}
}

func TestMessagesAreCopies(t *testing.T) {
	c := start(t)
	send(t, c, []string{"a@example.com"}, message("Subject: s\n", "x\n"))
	m := c.Messages()[0]
	m.To[0], m.Raw[0] = "mallory@example.com", '!'
	again, _ := c.Message(m.ID)
	if again.To[0] != "a@example.com" || again.Raw[0] == '!' {
		t.Error("changing a returned message changed the stored one")
	}
}

func TestRefusesOversizedMail(t *testing.T) {
	c := start(t)
	t.Run("message size", func(t *testing.T) {
		big := message("Subject: big\n", strings.Repeat(strings.Repeat("a", 998)+"\n", 11<<10))
		if err := smtp.SendMail(c.Addr(), nil, "k@example.com", []string{"a@example.com"}, []byte(big)); err == nil {
			t.Error("an 11 MiB message was accepted")
		}
	})
	t.Run("recipients", func(t *testing.T) {
		to := make([]string, 101)
		for i := range to {
			to[i] = fmt.Sprintf("r%d@example.com", i)
		}
		if err := smtp.SendMail(c.Addr(), nil, "k@example.com", to, []byte(message("Subject: many\n", "x\n"))); err == nil {
			t.Error("101 recipients were accepted")
		}
	})
	if n := len(c.Messages()); n != 0 {
		t.Errorf("%d refused messages were stored", n)
	}
}

func TestStartRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:0"} {
		if c, err := mailcatcher.Start(context.Background(), addr); err == nil {
			_ = c.Close()
			t.Errorf("Start(%q) succeeded", addr)
		}
	}
}

func TestStopsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	c, err := mailcatcher.Start(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	waitErr := make(chan error, 1)
	go func() {
		_, err := c.WaitFor(context.Background(), func(Message) bool { return false })
		waitErr <- err
	}()
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		conn, err := net.Dial("tcp", c.Addr())
		if err != nil {
			break
		}
		_ = conn.Close()
		if time.Now().After(deadline) {
			t.Fatal("catcher still listening after its context ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := <-waitErr; err == nil {
		t.Error("WaitFor returned no error after the catcher closed")
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close after cancel: %v", err)
	}
}
