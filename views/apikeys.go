package views

import "time"

// APIKeysPage is a tenant's API keys page: the management API's keys.
type APIKeysPage struct {
	Form    APIKeyForm
	Created string // the new key, shown once on the creation answer
	// CreatedName names the new key beside it.
	CreatedName string
	Keys        []APIKeyRow
}

// APIKeyForm is the new-key form with its field errors.
type APIKeyForm struct {
	Name        string
	Role        string
	ExpiresDays string
	Errors      map[string]string
}

// APIKeyRow is one API key in the list (never its secret).
type APIKeyRow struct {
	ID         string
	Name       string
	Role       string
	State      string // active, expired, revoked
	CreatedAt  time.Time
	ExpiresAt  *time.Time
	LastUsedAt *time.Time
}
