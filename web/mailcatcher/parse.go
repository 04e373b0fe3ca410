package mailcatcher

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
)

// maxDepth bounds multipart nesting; real mail rarely goes past 3
// (mixed > related > alternative).
const maxDepth = 8

// parse fills Subject, Text and HTML from a raw message. Anything it cannot
// understand is left empty: Raw always has the truth.
func parse(raw []byte) Message {
	var m Message
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return m
	}
	m.Subject = decodeHeader(msg.Header.Get("Subject"))
	var b bodies
	b.walk(textproto.MIMEHeader(msg.Header), msg.Body, 0)
	m.Text, m.HTML = b.text, b.html
	return m
}

// decodeHeader decodes RFC 2047 encoded words, falling back to the raw
// value for charsets Go does not know.
func decodeHeader(s string) string {
	var d mime.WordDecoder
	if out, err := d.DecodeHeader(s); err == nil {
		return out
	}
	return s
}

// bodies collects the first text/plain and text/html parts found.
type bodies struct {
	text, html         string
	haveText, haveHTML bool
}

func (b *bodies) walk(h textproto.MIMEHeader, body io.Reader, depth int) {
	mediaType, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		// RFC 2045: no (or an unreadable) Content-Type means plain text.
		mediaType, params = "text/plain", nil
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		if depth >= maxDepth || params["boundary"] == "" {
			return
		}
		mr := multipart.NewReader(body, params["boundary"])
		for {
			// NextRawPart, because NextPart decodes quoted-printable but not
			// base64; decoding both here keeps one path.
			part, err := mr.NextRawPart()
			if err != nil {
				return
			}
			b.walk(part.Header, part, depth+1)
		}
	}
	if disp, _, _ := mime.ParseMediaType(h.Get("Content-Disposition")); disp == "attachment" {
		return
	}
	switch {
	case mediaType == "text/plain" && !b.haveText:
		b.text, b.haveText = decodeBody(h, params, body), true
	case mediaType == "text/html" && !b.haveHTML:
		b.html, b.haveHTML = decodeBody(h, params, body), true
	}
}

// decodeBody removes the transfer encoding and converts to UTF-8. What was
// decoded before an encoding error is kept: a half-readable body helps more
// than none.
func decodeBody(h textproto.MIMEHeader, params map[string]string, body io.Reader) string {
	switch strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		// The decoder skips the line breaks base64 bodies are wrapped with.
		body = base64.NewDecoder(base64.StdEncoding, body)
	}
	data, _ := io.ReadAll(body)
	switch strings.ToLower(params["charset"]) {
	case "iso-8859-1", "latin1", "l1":
		// Latin-1 bytes are the first 256 code points.
		runes := make([]rune, len(data))
		for i, c := range data {
			runes[i] = rune(c)
		}
		return string(runes)
	}
	return strings.ToValidUTF8(string(data), "\uFFFD")
}
