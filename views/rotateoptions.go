package views

// RotateOptions is a key's "Rotate..." page: every way to rotate that
// key's kind allows, in plain words, with what it costs in AWS and whether
// it can be undone.
type RotateOptions struct {
	KeyID, KeyName string
	// Kind is "cmk" (your KMS key, registered), "generated" or "imported"
	// (material keyport holds, in a KMS key it made), or "held" (material
	// keyport keeps outside KMS).
	Kind           string
	Enabled        bool // the key is ENABLED: the actions can run
	CanManage      bool // the viewer may act (owners and admins)
	TenantDataKeys bool // the tenant supplies the data keys: no "Rotate now"
	CanUndo        bool // a renewal can be undone now
	CurrentVersion int64
	// Schedule: the policy's period (0 = unknown) and what a scheduled
	// rotation does for this kind ("renewal" or "data_key").
	PeriodDays    int
	ScheduledDoes string
}

// RotateOption is one way to rotate, for the page's table.
type RotateOption struct {
	ID, Name, Does, Cost, Undo string
	Offered                    bool
	Why                        string // why it is not offered
}

// Options lists the ways to rotate the key, in the page's order; those not
// valid for the key's kind say why.
func (o RotateOptions) Options() []RotateOption {
	managed := o.Kind == "generated" || o.Kind == "imported"
	out := []RotateOption{{ID: "rotate", Name: "New data key (Rotate now)", Offered: !o.TenantDataKeys,
		Does: "keyport makes a new data-key version under the key's current KMS key; new data is encrypted under it and every older version keeps decrypting. Nothing changes in KMS.",
		Cost: "one KMS request (AWS bills about 0.03 USD per 10,000 requests).",
		Undo: "not needed: nothing in KMS changed and older versions keep decrypting.",
		Why:  "this key uses data keys you supply: upload the next encrypted data key on the key's page instead."}}
	out = append(out, RotateOption{ID: "renew", Name: "Renew", Offered: managed,
		Does: "keyport generates new key material, creates a new KMS key in your AWS account, imports the material into it and moves the key's alias to it. The previous KMS key is kept enabled, so older data still decrypts.",
		Cost: "a new KMS key, billed by AWS like any customer-managed key (about 1 USD a month) for as long as it exists; the previous KMS key stays and is billed too.",
		Undo: "yes: Undo renewal moves the alias back to the previous KMS key, as long as the key's material has not changed in another way since (an in-place rotation ends it).",
		Why:  notManaged(o.Kind)})
	out = append(out, RotateOption{ID: "rotate-material", Name: "New material in place", Offered: managed,
		Does: "keyport generates new key material and imports it into the same KMS key, then has KMS make it current: the key ARN and the alias stay the same, and KMS keeps the earlier material to decrypt older data.",
		Cost: "the KMS requests; AWS bills each additional material of a KMS key like a rotation (about 1 USD a month each for the first two).",
		Undo: "no: KMS keeps the new material current. Renew or rotate again instead. It also ends any Undo renewal.",
		Why:  notManaged(o.Kind)})
	kms := RotateOption{ID: "kms-material", Name: "KMS rotates its own material now", Offered: o.Kind == "cmk",
		Does: "AWS KMS makes new key material inside your KMS key on demand (RotateKeyOnDemand); the ARN and alias stay, KMS keeps the earlier material, and keyport starts a new data-key version wrapped under it.",
		Cost: "AWS bills each rotated material (about 1 USD a month each for the first two) and limits on-demand rotations per key.",
		Undo: "no: KMS cannot go back to earlier material; older data keeps decrypting.",
		Why:  "keyport holds this key's material: use New material in place instead."}
	auto := RotateOption{ID: "kms-auto", Name: "KMS-managed automatic rotation", Offered: o.Kind == "cmk",
		Does: "AWS KMS rotates the material of your KMS key by itself every period you choose (90 to 2,560 days); the ARN and alias stay, and keyport keeps working without a change.",
		Cost: "as for each rotation above, billed by AWS.",
		Undo: "it can be turned off in KMS; rotations already made stay.",
		Why:  "AWS does not rotate keys with imported material automatically; keyport's schedule renews them instead."}
	if o.Kind == "held" {
		kms.Why = "keyport keeps this key's material outside KMS: there is no KMS key to rotate."
		auto.Why = kms.Why
	}
	return append(out, kms, auto)
}

// notManaged says why renewal does not apply to a key of kind.
func notManaged(kind string) string {
	if kind == "held" {
		return "keyport keeps this key's material outside KMS: there is no KMS key to renew."
	}
	return "keyport does not hold this key's material: it is your KMS key, which only you (or KMS) can change."
}

// ScheduleSentence says what the key's scheduled rotation does.
func (o RotateOptions) ScheduleSentence() string {
	s := "Each scheduled rotation of this key"
	if o.PeriodDays > 0 {
		s = "This key's schedule rotates it every " + days(o.PeriodDays) + "; each scheduled rotation"
	}
	if o.ScheduledDoes == "renewal" {
		return s + " is a renewal (new KMS key, alias moved, can be undone), because keyport holds the material. Rotate now is always a new data key."
	}
	return s + " makes a new data key, the same as Rotate now."
}
