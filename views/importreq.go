package views

import "time"

// ImportRequestsPage lists import requests (mode 3), with the form for a
// new one and, once, the new one's token.
type ImportRequestsPage struct {
	Requests  []ImportRequestRow
	Stores    []Option
	StoreID   string
	KeyName   string
	Errors    map[string]string
	CanManage bool
	New       *NewImportShown
	Held      bool // the provider keeps imported keys with keyport instead of importing them into KMS
	// Wrapping is the chosen RSA-OAEP wrapping; Wrappings the offered ones.
	Wrapping  string
	Wrappings []Option
	// ReimportKeys are the keys whose material the tenant may re-import
	// from its backup; ReimportKeyID the one chosen.
	ReimportKeys  []Option
	ReimportKeyID string
}

// ImportRequestRow is one import request.
type ImportRequestRow struct {
	ID, KeyName, State, KeyID string
	Wrapping                  string
	Reimport                  bool
	ExpiresAt                 time.Time
}

// NewImportShown is a new import request shown once: the token is never
// shown again.
type NewImportShown struct {
	ID, PublicKeyPEM, Token, Commands string
	ExpiresAt                         time.Time
	Wrapping, NodeCommands            string
	ReimportKeyName                   string // "" for a new key
}

// ImportUploadPage is the upload form of an import request.
type ImportUploadPage struct {
	ID, KeyName, State, PublicKeyPEM, Commands string
	ExpiresAt                                  time.Time
	Alias, ValidDays                           string
	Errors                                     map[string]string
	Held                                       bool // as on ImportRequestsPage
	Wrapping, NodeCommands                     string
	// A re-import: the key and the fingerprints its material has.
	ReimportKeyID, ReimportFingerprints string
}

// wrappingError is the wrapping's error for the new-key form, or for the
// re-import form (reimport): the one that was sent.
func (m ImportRequestsPage) wrappingError(reimport bool) string {
	if (m.ReimportKeyID != "") != reimport {
		return ""
	}
	return m.Errors["wrapping"]
}
