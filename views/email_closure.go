package views

import "time"

// ClosureNotice: the email every member of a tenant gets when an owner
// asks to close it (event "requested") and when an owner cancels that
// ("cancelled"). A closure is the end of every key of the tenant, so
// nobody may be surprised by it, and an unexpected one can be cancelled in
// time. It cannot be turned off.
func ClosureNotice(tenant, pageURL, event, by string, closeAt time.Time) Notice {
	n := Notice{linkLabel: "Open keyport", linkURL: pageURL,
		footer: "You receive this as a member of " + tenant + " on keyport. Emails about closing the tenant go to every member and cannot be turned off."}
	if event == "cancelled" {
		n.subject = "Cancelled: " + tenant + " will not be closed"
		n.paragraphs = []string{by + " cancelled the closure of " + tenant + ". Nothing changes: its keys, members and service tokens stay as they are."}
		return n
	}
	n.subject = tenant + " closes on " + closeAt.UTC().Format("2 January 2006") + " (asked by " + by + ")"
	n.paragraphs = []string{
		by + " asked to close " + tenant + " on keyport. On " + noticeDate(closeAt) + " every member loses access, the tenant's service tokens stop working, the KMS keys keyport made in your AWS accounts are scheduled for deletion, and every key material and secret keyport holds for the tenant is erased.",
		"Until then the tenant works as before. Download the audit log and the reports you need to keep before that date. If you do not expect this, ask an owner to cancel the closure in keyport (Members, Close this tenant) now.",
	}
	return n
}
