package views

// HealthCount is how many keys have one health, with what it means.
type HealthCount struct {
	Health string
	Label  string
	Advice string
	Count  int
	OK     bool
}

// HealthAdvice says in a tenant's words what a key's health means and what
// to do about it. health is keysvc's health value (OK, ACCESS_DENIED, ...);
// views spells the values out because it imports nothing of keyport.
func HealthAdvice(health string) (label, advice string) {
	switch health {
	case "OK":
		return "Healthy", "keyport can use the key in every registered region."
	case "ACCESS_DENIED":
		return "Access denied", "KMS refuses keyport: the key policy or IAM no longer allows it. If you revoked access on purpose, nothing to do; otherwise restore the key policy statement for keyport and press Check now."
	case "KMS_DISABLED":
		return "Disabled in KMS", "The KMS key is disabled in your AWS account. Enable it (aws kms enable-key) and press Check now."
	case "PENDING_DELETION":
		return "Pending deletion in KMS", "The KMS key is scheduled for deletion. Cancel the deletion (aws kms cancel-key-deletion), enable the key, and press Check now, or data it protects will be lost."
	case "PENDING_IMPORT":
		return "Waiting for key material", "The KMS key has no key material. Import the key material into KMS and press Check now."
	case "MATERIAL_EXPIRED":
		return "Key material expired", "The imported key material expired or was deleted. Re-import the same material and press Check now."
	case "DRIFT":
		return "Does not match", "The key in KMS no longer matches what keyport registered (type, account or replicas). See the failed checks below."
	case "PRIMARY_REVOKED":
		return "Primary revoked, serving from replica", "The primary region's KMS key refuses keyport (revoked, disabled or scheduled for deletion) and your provider lets keyport decrypt through a replica, which it does (the detail below names the region). To cut keyport off, revoke every region's key; to end this, restore the primary and press Check now."
	case "UNREACHABLE":
		return "Unreachable", "keyport could not reach KMS or KMS was throttling. keyport retries; if it lasts, tell your provider."
	}
	return "Not checked yet", "keyport has not validated this key yet. Press Check now."
}
