package views

import "time"

// The key lifecycle (issue 5): keyport-generated and
// tenant-imported keys, their versions, operations, drift, export,
// approvals and import requests.

// KeyLifecycle is the key page's section for keys whose material keyport
// holds; nil for customer-managed keys.
type KeyLifecycle struct {
	Mode, State, StoreID, StoreName, Alias string
	ValidDays                              int
	AutoReupload                           bool
	Held                                   bool // keyport keeps the material; there is no KMS key
	DeletionAt                             *time.Time
	Materials                              []MaterialRow
	Operations                             []OperationRow
	Drift                                  []DriftRow
	Approvals                              []ApprovalRow
	CanManage, CanExport, CanUndo          bool
}

// MaterialRow is one version of a key's material: never the material,
// only its fingerprint and where it lives.
type MaterialRow struct {
	ID, Source, Fingerprint, KMSKeyARN, State string
	Seq                                       int
	ValidTo                                   *time.Time
}

// OperationRow is a recorded lifecycle operation.
type OperationRow struct {
	ID, Kind, Step, State, Detail string
	At                            time.Time
}

// DriftRow is one difference between keyport's record and KMS, with the
// reconciliations it offers ("" = not offered).
type DriftRow struct {
	Field, Recorded, Actual, Adopt, Restore string
}

// ApprovalRow is a second-admin approval request.
type ApprovalRow struct {
	ID, Action, State, RequestedBy string
	Mine                           bool
	ExpiresAt                      time.Time
}

// DeleteKeyConfirm is the confirmation before a key's deletion.
type DeleteKeyConfirm struct {
	KeyID, KeyName, Alias string
	Versions              int64
	KMSKeys               []string
	WindowDays            string
	Errors                map[string]string
	NeedApproval          bool
	Approvals             []ApprovalRow
}

// OperatorLifecycle is the operator's list of drifted keys across
// tenants (ids only, never secrets) and the approval settings.
type OperatorLifecycle struct {
	Drift                        []OperatorDriftRow
	ApproveExport, ApproveDelete bool
	// ApproverMinHours: how long an approver must have been a member
	// before the request; ApproverMFA: approvers need a second factor.
	ApproverMinHours int
	ApproverMFA      bool
}

// OperatorDriftRow is one difference of one tenant's key.
type OperatorDriftRow struct {
	TenantID, KeyID, Field, Recorded, Actual string
	DetectedAt                               time.Time
}

// DriftActions words the reconciliations a drifted field offers ("" = not
// offered). field is keysvc's drift field (alias, state, material, expiry,
// origin, tags); keysvc decides which reconciliations a field allows, and
// this offers exactly those.
func DriftActions(field string) (adopt, restore string) {
	switch field {
	case "alias":
		return "", "Point the alias back at keyport's current KMS key"
	case "state":
		return "Make keyport's state match KMS", "Set the KMS key back to keyport's state"
	case "material":
		return "", "Re-upload the material"
	case "expiry":
		return "Record the expiry KMS has", "Re-upload with keyport's expiry policy"
	case "tags":
		return "", "Tag the KMS key again"
	}
	return "", ""
}
