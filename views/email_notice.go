package views

import (
	"strconv"
	"time"
)

// Notice is the words of one email about a key: its subject, paragraphs,
// link and footer. The constructors below compose it from the fields their
// kind of notice shows, passed as parameters: the notice data itself is
// keysvc's (NoticeMail), which views does not import, and this is not a
// second copy of it.
type Notice struct {
	subject    string
	paragraphs []string // shared by the text and HTML bodies so they never say different things
	keyName    string   // names the link in the text body
	linkLabel  string
	linkURL    string
	footer     string
}

// BeforeRotationNotice: the key rotates on at, leadDays from now; a key
// that does not rotate automatically waits for an owner or admin to
// confirm. renewal says the key's scheduled rotation is a renewal (a key
// whose material keyport holds): new material in a new KMS key.
func BeforeRotationNotice(tenant, key, scheduleURL string, at time.Time, leadDays int, automatic, renewal bool) Notice {
	n := rotationNotice(tenant, key, scheduleURL)
	if automatic {
		n.subject = "Key " + key + " rotates in " + days(leadDays)
		n.paragraphs = append(n.paragraphs, "keyport will rotate the key "+key+" of "+tenant+" on "+noticeDate(at)+", in "+days(leadDays)+".",
			rotationWhat(renewal))
	} else {
		n.subject = "Key " + key + " is due for rotation in " + days(leadDays) + " (needs your confirmation)"
		n.paragraphs = append(n.paragraphs, "The key "+key+" of "+tenant+" is due for rotation on "+noticeDate(at)+", in "+days(leadDays)+".",
			rotationWhat(renewal), confirmHow(renewal))
	}
	n.paragraphs = append(n.paragraphs, "To move the date (within the limit your provider sets) or change the schedule, open the key's rotation page.")
	return n
}

// ConfirmRotationNotice: the rotation due on at waits for an owner or
// admin to confirm it (renewal as in BeforeRotationNotice).
func ConfirmRotationNotice(tenant, key, scheduleURL string, at time.Time, renewal bool) Notice {
	n := rotationNotice(tenant, key, scheduleURL)
	n.subject = "Key " + key + " is due for rotation: confirm it in keyport"
	n.paragraphs = []string{"The key " + key + " of " + tenant + " was due for rotation on " + noticeDate(at) + ".",
		"Its policy asks an owner or admin to confirm each rotation, or to postpone it. " + confirmHow(renewal)}
	return n
}

// rotationWhat says what the key's scheduled rotation will do.
func rotationWhat(renewal bool) string {
	if renewal {
		return "For this key, whose material keyport holds, a scheduled rotation is a renewal: new material in a new KMS key in your AWS account " +
			"(billed by AWS like any customer-managed key), with the alias moved to it. The previous KMS key stays enabled, so data encrypted before stays readable, " +
			"and Undo renewal on the key's page can reverse it. Nothing needs to change in your applications."
	}
	return "Rotation makes a new data-key version for new encryptions; data encrypted before stays readable with the older versions. Nothing needs to change in your applications."
}

// confirmHow says how to confirm a due rotation.
func confirmHow(renewal bool) string {
	if renewal {
		return "Open the key's Rotate page: Rotate now makes a new data key under the same KMS key (nothing changes in KMS); Renew makes the new KMS key the schedule would."
	}
	return "On the date, use Rotate now on the key's rotation page."
}

// RotatedNotice: the key rotated from version from to version to at
// rotatedAt, on request (manual) or as scheduled; kmsDetail ("" = none)
// says what happened to the KMS key material. An automatic policy of
// periodDays (0 = none) names the next rotation, next. renewal says the
// rotation was a renewal (new material in a new KMS key, alias moved: a
// scheduled rotation of a key keyport made or imported), which Undo
// renewal can reverse; otherwise it was a new data-key version under the
// same KMS key ("Rotate now" on every kind of key), which needs no undo.
func RotatedNotice(tenant, key, scheduleURL string, manual bool, rotatedAt time.Time, from, to int64, kmsDetail string,
	automatic bool, periodDays int, next time.Time, renewal bool) Notice {
	n := rotationNotice(tenant, key, scheduleURL)
	n.subject = "Key " + key + " was rotated to version " + strconv.FormatInt(to, 10)
	how := "as scheduled"
	if manual {
		how = "on request"
	}
	n.paragraphs = []string{"keyport rotated the key " + key + " of " + tenant + " " + how + " on " + noticeDate(rotatedAt) +
		": new encryptions now use data-key version v" + strconv.FormatInt(to, 10) + " instead of v" + strconv.FormatInt(from, 10) + "."}
	if renewal {
		n.paragraphs = append(n.paragraphs, "This rotation was a renewal: keyport generated new key material, created a new KMS key in your AWS account "+
			"(billed by AWS like any customer-managed key) and moved the key's alias to it. The previous KMS key stays enabled, so data encrypted "+
			"before stays readable; nothing needs to change in your applications.",
			"A renewal can be undone with Undo renewal on the key's page, as long as the key's material has not changed in another way since.")
	} else {
		n.paragraphs = append(n.paragraphs, "This rotation made a new data key under the same KMS key: nothing changed in your AWS account. "+
			"Data encrypted under earlier versions stays readable; nothing needs to change in your applications. "+
			"There is nothing to undo: every older version keeps decrypting.")
	}
	if kmsDetail != "" {
		n.paragraphs = append(n.paragraphs, kmsDetail)
	}
	if periodDays > 0 && automatic {
		n.paragraphs = append(n.paragraphs, "The next rotation is planned for "+noticeDate(next)+" (every "+days(periodDays)+").")
	}
	return n
}

// HealthNotice: keyport can no longer use the key; health is keysvc's
// health value (ACCESS_DENIED, ...), detail ("" = none) what the last
// check saw.
func HealthNotice(tenant, key, scheduleURL, health, detail string) Notice {
	n := rotationNotice(tenant, key, scheduleURL)
	n.subject = "Action needed: key " + key + " cannot be used"
	n.paragraphs = []string{"keyport can no longer use the key " + key + " of " + tenant + ": " + healthPhrase(health) + "."}
	if detail != "" {
		n.paragraphs = append(n.paragraphs, detail)
	}
	n.paragraphs = append(n.paragraphs, "Until this is fixed, the provider's services cannot encrypt or decrypt with this key once cached data keys expire. If you did this on purpose, no action is needed.")
	return n
}

// MaterialExpiringNotice: the key material of version (fingerprint "" =
// unknown; active: the key's current material) expires in KMS at validTo,
// leadDays from now; autoReupload: keyport re-uploads it by itself.
func MaterialExpiringNotice(tenant, key, keyURL string, version int, fingerprint string, active bool, validTo time.Time,
	leadDays int, autoReupload bool) Notice {
	n := materialNotice(tenant, key, keyURL)
	n.subject = "Key material of " + key + materialVersion(version, active) + " expires in " + days(leadDays)
	n.paragraphs = []string{"The key material" + materialWhich(version, fingerprint, active) + " of the key " + key + " of " + tenant +
		" expires in AWS KMS on " + noticeDate(validTo) + ", in " + days(leadDays) + ".",
		materialConsequence(active, "After that date, ")}
	if autoReupload {
		n.paragraphs = append(n.paragraphs, "This key re-uploads its material by itself a week before it expires: keyport imports the same material again with a new expiry. You will hear from keyport again only if that did not happen.")
	} else {
		n.paragraphs = append(n.paragraphs, "To keep it usable, use Re-upload on the key's page before that date: keyport imports the same material again into the same KMS key with a new expiry. Nothing changes for your applications.")
	}
	return n
}

// MaterialExpiredNotice: the key material of version (as in
// MaterialExpiringNotice) expired in KMS at validTo.
func MaterialExpiredNotice(tenant, key, keyURL string, version int, fingerprint string, active bool, validTo time.Time) Notice {
	n := materialNotice(tenant, key, keyURL)
	n.subject = "Action needed: key material of " + key + materialVersion(version, active) + " expired"
	n.paragraphs = []string{"The key material" + materialWhich(version, fingerprint, active) + " of the key " + key + " of " + tenant +
		" expired in AWS KMS on " + noticeDate(validTo) + ".",
		materialConsequence(active, "Since then, "),
		"Use Re-upload on the key's page: keyport still holds the material sealed and imports the same material again into the same KMS key, so nothing is lost."}
	return n
}

// KeyNotice is a notice of a kind with no words of its own: a subject
// naming the key and the link to its rotation schedule.
func KeyNotice(tenant, key, scheduleURL string) Notice {
	n := rotationNotice(tenant, key, scheduleURL)
	n.subject = "About key " + key
	return n
}

// rotationNotice starts a notice that links to the rotation schedule and
// belongs with the rotation notices in the recipient's settings.
func rotationNotice(tenant, key, scheduleURL string) Notice {
	return Notice{keyName: key, linkLabel: "Rotation schedule", linkURL: scheduleURL,
		footer: noticeFooter(tenant, "Notices before and after rotations")}
}

// materialNotice starts a notice about key material: it links to the
// key's page and belongs with the expiry reminders.
func materialNotice(tenant, key, keyURL string) Notice {
	return Notice{keyName: key, linkLabel: "Key page", linkURL: keyURL,
		footer: noticeFooter(tenant, "Reminders before key material expires")}
}

// noticeFooter says why the recipient got the notice and what they can
// turn off.
func noticeFooter(tenant, what string) string {
	return "You receive this as an owner or admin of " + tenant + " on keyport. " + what + " can be turned off in your notification settings; notices about keys that cannot be used cannot."
}

// noticeDate is how dates appear in notice emails: unambiguous in any locale.
func noticeDate(t time.Time) string {
	return t.UTC().Format("Monday 2 January 2006 at 15:04") + " UTC"
}

func days(n int) string { return pluralize(n, "day", "days") }

// DayCount is "1 day" or "n days", for handlers that word a period.
func DayCount(n int) string { return days(n) }

// healthPhrase says what a key's health means, for people.
func healthPhrase(h string) string {
	switch h {
	case "ACCESS_DENIED":
		return "keyport's access to it was revoked in AWS KMS"
	case "KMS_DISABLED":
		return "it is disabled in AWS KMS"
	case "PRIMARY_REVOKED":
		return "its primary region's KMS key was revoked and keyport is serving from a replica"
	case "PENDING_DELETION":
		return "it is scheduled for deletion in AWS KMS"
	case "MATERIAL_EXPIRED":
		return "its key material expired"
	case "DRIFT":
		return "it no longer matches what keyport registered"
	}
	return "it cannot be used (" + h + ")"
}

// materialVersion names an earlier material in a subject ("" for the
// active one).
func materialVersion(version int, active bool) string {
	if active {
		return ""
	}
	return " (version " + strconv.Itoa(version) + ")"
}

// materialWhich says which material a notice is about.
func materialWhich(version int, fingerprint string, active bool) string {
	w := " (version " + strconv.Itoa(version)
	if fingerprint != "" {
		w += ", fingerprint " + fingerprint
	}
	if !active {
		w += ", an earlier version kept so older data decrypts"
	}
	return w + ")"
}

// materialConsequence says what an expired material stops.
func materialConsequence(active bool, when string) string {
	if active {
		return when + "AWS KMS refuses to use it: the provider's services cannot encrypt or decrypt with this key once cached data keys expire."
	}
	return when + "AWS KMS refuses to use it: data encrypted before the key's last renewal cannot be decrypted. New encryptions are not affected."
}
