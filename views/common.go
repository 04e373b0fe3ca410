package views

// Link is a labelled href.
type Link struct {
	Label string
	Href  string
}

// CheckRow is one connection-test or key-validation check.
type CheckRow struct {
	Name     string
	Detail   string
	OK       bool
	Required bool
	Skipped  bool
	// Unverifiable names the KMS action the tenant did not grant that the
	// check needed: shown as "not verifiable without kms:X".
	Unverifiable string
}

// Option is one choice of a select box.
type Option struct {
	Value string
	Label string
}
