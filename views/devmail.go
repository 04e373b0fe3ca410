package views

import "time"

// MailSummary is one caught message in the development mail list.
type MailSummary struct {
	ID         string
	ReceivedAt time.Time
	From       string
	To         string
	Subject    string
}

// Mail is one caught message in full.
type Mail struct {
	MailSummary
	Text string
	HTML string
}
