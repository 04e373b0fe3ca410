package views

import (
	"strconv"
	"time"
)

// DataKeyRequestedNotice: the rotation of a key whose data keys the tenant
// supplies was due on at; keyport does not make the next data key itself
// and asks for one, uploaded on the key page (keyURL) with the command
// shown there.
func DataKeyRequestedNotice(tenant, key, keyURL string, at time.Time, current int64) Notice {
	n := Notice{keyName: key, linkLabel: "Key page", linkURL: keyURL,
		footer: "You receive this as an owner or admin of " + tenant + " on keyport. Requests that need you to act are always sent."}
	n.subject = "Action needed: upload a new data key for key " + key
	n.paragraphs = []string{
		"The key " + key + " of " + tenant + " was due for rotation on " + noticeDate(at) + ".",
		"You supply this key's data keys, so keyport does not replace data-key version " + strconv.FormatInt(current, 10) + " by itself. " +
			"Generate a new one under your KMS key (aws kms generate-data-key-without-plaintext --key-id YOUR_KEY_ARN --key-spec AES_256) " +
			"and upload its CiphertextBlob on the key's page: once KMS decrypts it in every region, it becomes version " + strconv.FormatInt(current+1, 10) + ".",
		"Until then keyport keeps encrypting with version " + strconv.FormatInt(current, 10) + "; data encrypted before stays readable either way.",
	}
	return n
}

// BeforeDataKeyRequestNotice: the rotation of a key whose data keys the
// tenant supplies is due on at, leadDays from now; keyport will then ask for
// a new data key, which may be uploaded already.
func BeforeDataKeyRequestNotice(tenant, key, keyURL string, at time.Time, leadDays int) Notice {
	n := Notice{keyName: key, linkLabel: "Key page", linkURL: keyURL,
		footer: noticeFooter(tenant, "Notices before and after rotations")}
	n.subject = "Key " + key + " needs a new data key in " + days(leadDays)
	n.paragraphs = []string{
		"The key " + key + " of " + tenant + " is due for rotation on " + noticeDate(at) + ", in " + days(leadDays) + ".",
		"You supply this key's data keys, so keyport will not make one: on that date it asks owners and admins for a new one. " +
			"You can upload it already on the key's page (aws kms generate-data-key-without-plaintext --key-id YOUR_KEY_ARN --key-spec AES_256).",
	}
	return n
}
