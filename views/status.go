package views

import "time"

// KeyStatus is the one status a key shows on its page, in the keys list and
// in the dashboard's counts. It is derived from the key's state (what the
// tenant asked for) and its health (what keyport last saw in KMS): the
// state wins, so a deactivated key or one scheduled for deletion never
// reads as healthy.
type KeyStatus struct {
	Code   string // active, deactivated, deletion_scheduled, deleted, creating, access_revoked, ...
	Label  string
	Advice string
	Tone   string // ok, warn, bad, muted
}

// OK reports whether the key is usable and nothing needs doing.
func (s KeyStatus) OK() bool { return s.Tone == "ok" }

// ExpiryWarning is how long before its material expires in KMS a key
// shows as Expiring.
const ExpiryWarning = 30 * 24 * time.Hour

// StatusOf derives a key's status. state and health are models' values
// (ENABLED, DISABLED, ...; OK, ACCESS_DENIED, ...): views spells them out
// because it imports nothing of keyport. expiresAt is when the key's
// current material expires in KMS (nil: never, or not a keyport key);
// now is the page's clock.
func StatusOf(state, health string, expiresAt *time.Time, now time.Time) KeyStatus {
	switch state {
	case "DELETED":
		return KeyStatus{"deleted", "Deleted", "The key is deleted: data it protected can no longer be decrypted.", "muted"}
	case "PENDING_DELETION":
		return KeyStatus{"deletion_scheduled", "Deletion scheduled", "keyport no longer uses the key: encrypt and decrypt are refused. Cancel the deletion before the date shown to keep it.", "bad"}
	case "DISABLED":
		return KeyStatus{"deactivated", "Deactivated", "You deactivated the key: keyport refuses every encrypt and decrypt under it until you activate it again.", "warn"}
	case "PENDING":
		return KeyStatus{"creating", "Being created", "keyport is still creating the key; it becomes usable when the operation completes.", "muted"}
	}
	switch health {
	case "OK":
		if expiresAt != nil && expiresAt.Sub(now) < ExpiryWarning {
			return KeyStatus{"expiring", "Expiring", "The key material expires in KMS on " + expiresAt.UTC().Format("2006-01-02") + ". Renew the key or re-upload the material before then, or KMS stops using it.", "warn"}
		}
		return KeyStatus{"active", "Active", "keyport can use the key in every registered region.", "ok"}
	case "ACCESS_DENIED":
		return KeyStatus{"access_revoked", "Access revoked", "KMS refuses keyport: the key policy or IAM no longer allows it. If you revoked access on purpose, nothing to do; otherwise restore the key policy statement for keyport and press Check now.", "bad"}
	case "KMS_DISABLED":
		return KeyStatus{"disabled_in_kms", "Disabled in KMS", "The KMS key is disabled in your AWS account. Enable it (aws kms enable-key) and press Check now.", "bad"}
	case "PENDING_DELETION":
		return KeyStatus{"deletion_scheduled_in_kms", "Deletion scheduled in KMS", "The KMS key is scheduled for deletion in your AWS account. Cancel the deletion (aws kms cancel-key-deletion), enable the key, and press Check now, or data it protects will be lost.", "bad"}
	case "PENDING_IMPORT":
		return KeyStatus{"waiting_for_material", "Waiting for key material", "The KMS key has no key material. Import the key material into KMS and press Check now.", "bad"}
	case "MATERIAL_EXPIRED":
		return KeyStatus{"material_expired", "Material expired", "The imported key material expired or was deleted in KMS. Re-upload the same material and press Check now.", "bad"}
	case "DRIFT":
		return KeyStatus{"drift", "Does not match KMS", "The key in KMS no longer matches what keyport registered (type, account or replicas). See the failed checks below.", "bad"}
	case "PRIMARY_REVOKED":
		return KeyStatus{"primary_revoked", "Primary revoked, serving from replica", "The primary region's KMS key refuses keyport (revoked, disabled or scheduled for deletion) and your provider lets keyport decrypt through a replica, which it does (the detail below names the region). To cut keyport off, revoke every region's key; to end this, restore the primary and press Check now.", "bad"}
	case "UNREACHABLE":
		return KeyStatus{"unreachable", "Unreachable", "keyport could not reach KMS or KMS was throttling. keyport retries; if it lasts, tell your provider.", "bad"}
	}
	return KeyStatus{"not_checked", "Not checked yet", "keyport has not validated this key yet. Press Check now.", "warn"}
}
