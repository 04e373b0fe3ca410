package views

import "time"

// ApprovalNotice: the email every owner of a tenant gets when a second
// admin's approval of an export or a deletion is requested (decided ""),
// approved or denied. event is "pending", "approved" or "denied".
func ApprovalNotice(tenant, key, keyURL, action, event, requester, decider string, expires time.Time) Notice {
	what := "export the key material of"
	if action == "delete" {
		what = "delete"
	}
	n := Notice{keyName: key, linkLabel: "Key page", linkURL: keyURL,
		footer: "You receive this as an owner, a possible approver or the requester on " + tenant + " on keyport. Approval emails go to every owner, to the admins who can decide a request and to its requester, and cannot be turned off: a second person's approval only protects the key if the owners see it."}
	switch event {
	case "approved":
		n.subject = "Approved: " + requester + " may " + what + " key " + key
		n.paragraphs = []string{decider + " approved the request of " + requester + " to " + what + " the key " + key + " of " + tenant + ".",
			"The approval can be used once, until " + noticeDate(expires) + ". If you do not know of this, open the key's page and review its members and audit log now."}
	case "denied":
		n.subject = "Denied: " + requester + "'s request to " + what + " key " + key
		n.paragraphs = []string{decider + " denied the request of " + requester + " to " + what + " the key " + key + " of " + tenant + "."}
	default:
		n.subject = "Approval requested: " + requester + " wants to " + what + " key " + key
		n.paragraphs = []string{requester + " asked for a second admin's approval to " + what + " the key " + key + " of " + tenant + ".",
			"Another admin or owner who has been a member long enough can approve or deny it on the key's page until " + noticeDate(expires) + ". If you do not expect this, deny it."}
	}
	return n
}
