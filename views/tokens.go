package views

import "time"

// TokensPage is the operator's service-token page.
type TokensPage struct {
	Form    TokenForm
	Created string // the new token, shown once
	Tenants []TenantInfo
	Tokens  []TokenRow
}

// TokenForm is the new-token form with its field errors.
type TokenForm struct {
	Name     string
	TenantID string
	Errors   map[string]string
}

// TokenRow is one service token in the list (never its secret).
type TokenRow struct {
	ID         string
	Name       string
	Scope      string
	CreatedAt  time.Time
	LastUsedAt *time.Time
	Revoked    bool
}
