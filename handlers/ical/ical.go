// Package ical writes iCalendar (RFC 5545) documents: the calendar feed of
// a tenant's key rotations. It holds the escaping and line folding the
// format needs and the mapping from upcoming rotations to events; the HTTP
// handler that serves the feed stays in handlers.
//
// It may import models and keysvc, never echo, web or views.
package ical

import (
	"strconv"
	"strings"
	"time"
)

// Calendar is one iCalendar document.
type Calendar struct {
	Name   string // X-WR-CALNAME
	Stamp  time.Time
	Events []Event
}

// Event is one VEVENT. Text fields are plain text; Encode escapes them.
type Event struct {
	UID         string
	Start, End  time.Time
	Summary     string
	Description string
	URL         string
	Alarms      []Alarm
}

// Alarm is a display reminder some whole days before an event.
type Alarm struct {
	DaysBefore  int
	Description string
}

const utcStamp = "20060102T150405Z"

// Encode renders the calendar with CRLF line ends and folded lines.
func (c Calendar) Encode() []byte {
	var b strings.Builder
	line := func(s string) { b.WriteString(fold(s) + "\r\n") }
	line("BEGIN:VCALENDAR")
	line("VERSION:2.0")
	line("PRODID:-//keyport//rotations//EN")
	line("CALSCALE:GREGORIAN")
	line("X-WR-CALNAME:" + Escape(c.Name))
	for _, e := range c.Events {
		line("BEGIN:VEVENT")
		line("UID:" + e.UID)
		line("DTSTAMP:" + c.Stamp.UTC().Format(utcStamp))
		line("DTSTART:" + e.Start.UTC().Format(utcStamp))
		line("DTEND:" + e.End.UTC().Format(utcStamp))
		line("SUMMARY:" + Escape(e.Summary))
		line("DESCRIPTION:" + Escape(e.Description))
		line("URL:" + e.URL)
		for _, a := range e.Alarms {
			line("BEGIN:VALARM")
			line("ACTION:DISPLAY")
			line("DESCRIPTION:" + Escape(a.Description))
			line("TRIGGER:-P" + strconv.Itoa(a.DaysBefore) + "D")
			line("END:VALARM")
		}
		line("END:VEVENT")
	}
	line("END:VCALENDAR")
	return []byte(b.String())
}

// text escapes TEXT values (RFC 5545 3.3.11); names are user input.
var text = strings.NewReplacer(`\`, `\\`, ";", `\;`, ",", `\,`, "\r\n", `\n`, "\n", `\n`, "\r", `\n`)

// Escape escapes a TEXT value.
func Escape(s string) string { return text.Replace(s) }

// fold folds a content line at 75 octets without splitting a UTF-8
// character.
func fold(s string) string {
	if len(s) <= 75 {
		return s
	}
	var b strings.Builder
	n := 0
	for _, r := range s {
		l := len(string(r))
		if n+l > 75 {
			b.WriteString("\r\n ")
			n = 1
		}
		b.WriteRune(r)
		n += l
	}
	return b.String()
}
