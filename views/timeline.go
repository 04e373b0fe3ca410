package views

import (
	"strconv"
	"strings"
	"time"
)

// TimelineRow is one entry of a key's versions timeline (keysvc's
// TimelineEntry in the page's terms). Kind is keysvc's timeline kind.
type TimelineRow struct {
	At          time.Time
	Kind        string
	Version     int64 // data-key version made, 0 = none
	Material    int   // material number, 0 = none
	Fingerprint string
	KMSKeyARN   string
	Detail      string
	Current     bool
}

// VersionLabel is the version a tenant quotes: "v7" ("" for an entry that
// made no data-key version).
func (r TimelineRow) VersionLabel() string {
	if r.Version <= 0 {
		return ""
	}
	return "v" + strconv.FormatInt(r.Version, 10)
}

// MaterialLabel names the material and its KMS key: "material 3 (KMS key
// 1234abcd-…)"; just the KMS key for a key without keyport material.
func (r TimelineRow) MaterialLabel() string {
	kms := ""
	if r.KMSKeyARN != "" {
		kms = "KMS key " + KMSKeyID(r.KMSKeyARN)
	}
	switch {
	case r.Material > 0 && kms != "":
		return "material " + strconv.Itoa(r.Material) + " (" + kms + ")"
	case r.Material > 0:
		return "material " + strconv.Itoa(r.Material)
	}
	return kms
}

// KMSKeyID is the key id at the end of a KMS key ARN (the ARN itself when
// it has none).
func KMSKeyID(arn string) string {
	if i := strings.LastIndexByte(arn, '/'); i >= 0 && i < len(arn)-1 {
		return arn[i+1:]
	}
	return arn
}

// What says in plain words what the entry was.
func (r TimelineRow) What() string {
	switch r.Kind {
	case "created":
		return "Key created: keyport generated material and imported it into a new KMS key in your account."
	case "imported":
		return "Key created from the material you imported, in a new KMS key in your account."
	case "registered":
		return "Your KMS key registered; first data key made under it."
	case "data_key":
		how := "on request (Rotate now)"
		switch r.Detail {
		case "scheduled":
			how = "as scheduled"
		case "retired", "":
			how = ""
		}
		return strings.TrimSpace("New data key under the same KMS key, " + how + "; nothing changed in KMS.")
	case "tenant_key":
		return "Data key you supplied, wrapped by your KMS key."
	case "renewal":
		return "Renewed: new material in a new KMS key; the alias moved to it. The previous KMS key stays enabled."
	case "undo":
		return "Renewal undone: the alias moved back to the KMS key the renewal had replaced."
	case "in_place":
		return "Material rotated in place: new material imported into the same KMS key (same ARN and alias)."
	case "reupload":
		return "Material re-uploaded: the same material imported again into its KMS key."
	case "kms_rotated":
		s := "KMS rotated the material of your KMS key on demand (same ARN and alias)"
		if r.Detail != "" {
			s += " in " + r.Detail
		}
		return s + "."
	case "kms_auto":
		s := "KMS-managed automatic rotation turned on"
		if r.Detail != "" {
			s += ", " + r.Detail
		}
		return s + "."
	case "failed":
		return "A " + opWord(r.Detail) + " failed and was rolled back; nothing changed."
	case "running":
		return "A " + opWord(r.Detail) + " is under way."
	}
	return r.Kind
}

// opWord names a lifecycle operation kind.
func opWord(kind string) string {
	switch kind {
	case "renew":
		return "renewal"
	case "undo":
		return "undo of a renewal"
	case "rotate":
		return "rotation of the material in place"
	case "reupload":
		return "re-upload"
	case "create":
		return "creation"
	}
	return kind
}
