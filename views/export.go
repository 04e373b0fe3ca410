package views

// ExportPage is the export form of a key.
type ExportPage struct {
	KeyID, KeyName, Fingerprint string
	Version                     int
	Materials                   []MaterialRow
	PublicKeyPEM, Algorithm     string
	Errors                      map[string]string
	NeedApproval                bool
	Approvals                   []ApprovalRow
	RSAOpen, JWEOpen, FPCommand string
}
