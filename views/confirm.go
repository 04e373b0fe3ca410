package views

import "strconv"

// ConfirmAction is the page that asks before an action that causes an
// outage, costs money in AWS or cannot be undone: it names the action's
// target and consequence, and posts the action's own form. It is plain
// HTML, so it works without scripts under the CSP.
type ConfirmAction struct {
	Heading     string
	Consequence []string // paragraphs, in order
	Cost        string   // what it costs in AWS; "" when nothing
	Undo        string   // whether and how it can be undone
	Action      string   // the form's action URL
	Button      string
	Danger      bool
	Hidden      []Option // hidden fields besides the CSRF token (Value is the name, Label the value)
	TypeName    string   // when set, the user must type this name to confirm
	Errors      map[string]string
	Back        Link
	TestID      string // the confirm button's data-testid
}

// ConfirmField is the field of a confirmation that wants the target's
// name typed.
const ConfirmField = "confirm_name"

// KeyActionConfirm is the confirmation of one action on a key: renew,
// undo, rotate-material, rotate (a new data-key version, or a renewal for a
// keyport key) and deactivate. mode is the key's mode (cmk, generated,
// imported); held is true when keyport keeps the material outside KMS.
// ok is false for an action that has no confirmation.
func KeyActionConfirm(action, keyID, keyName, mode string, held bool, currentVersion int64) (d ConfirmAction, ok bool) {
	base := "/keys/" + keyID
	from := []Option{{Value: "from_version", Label: itoa64(currentVersion)}}
	d = ConfirmAction{Back: Link{Label: "Cancel, back to the key", Href: base}, Hidden: from, TestID: "confirm-" + action}
	switch action {
	case "renew":
		d.Heading, d.Button, d.Action = "Renew "+keyName+"?", "Renew the key", base+"/renew"
		d.Consequence = []string{"keyport generates new key material, creates a new KMS key in your AWS account, imports the material into it and moves the key's alias to it. New data is encrypted under the new KMS key; the previous KMS key stays enabled, so data under older versions still decrypts."}
		d.Cost = "a new KMS key, billed by AWS as a customer-managed key (about 1 USD a month) for as long as it exists, plus the previous key, which stays."
		d.Undo = "possible until the key's material changes in another way (an in-place rotation): Undo renewal moves the alias back to the previous KMS key."
	case "undo":
		d.Heading, d.Button, d.Action = "Undo the renewal of "+keyName+"?", "Undo the renewal", base+"/undo"
		d.Consequence = []string{"keyport checks that the previous KMS key still works, then moves the alias back to it and makes a new data-key version under it. The KMS key of the renewal stays in your account (disable or delete it in KMS if you no longer want it)."}
	case "rotate-material":
		d.Heading, d.Button, d.Action = "Rotate the material of "+keyName+" in place?", "Rotate the material", base+"/rotate-material"
		d.Consequence = []string{"keyport generates new material and imports it into the same KMS key, then has KMS rotate to it: the key ARN and the alias stay the same, and the earlier material still decrypts."}
		d.Cost = "none beyond the KMS requests."
		d.Undo = "not possible: KMS keeps the new material current. Renew or rotate again instead. An earlier renewal can no longer be undone after it."
	case "rotate":
		// "Rotate now" is the same for every kind of key: a new data-key
		// version under the current KMS key (renewal and the in-place
		// rotation of the material are actions of their own).
		d.Heading, d.Button, d.Action = "Rotate "+keyName+" now?", "Rotate now", base+"/rotate"
		d.Consequence = []string{"keyport makes a new data key under the key's current KMS key and a new data-key version, v" + itoa64(currentVersion+1) +
			"; new data is encrypted under it, older data still decrypts. Nothing changes in KMS or in your AWS account."}
		if mode != "cmk" && !held {
			d.Consequence = append(d.Consequence, "To change the key material or the KMS key, use Renew or Rotate material in place on the Rotate page instead.")
		}
		d.Cost = "none beyond one KMS request."
		d.Undo = "not needed: older versions keep decrypting; a new version cannot be removed."
	case "deactivate":
		d.Heading, d.Button, d.Action, d.Danger = "Deactivate "+keyName+"?", "Deactivate the key", base+"/deactivate", true
		if held {
			d.Consequence = []string{"keyport refuses every encrypt and decrypt under this key at once, on every replica: the provider's services cannot read or write the data it protects until you activate the key again. Nothing is deleted."}
		} else {
			d.Consequence = []string{"keyport refuses every encrypt and decrypt under this key at once, on every replica, and disables its KMS keys in your account: the provider's services cannot read or write the data it protects until you activate the key again. Nothing is deleted."}
		}
		d.Undo = "Activate on the key's page enables it again."
		d.TypeName = keyName
	default:
		return ConfirmAction{}, false
	}
	return d, true
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }
