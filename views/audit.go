package views

import "time"

// AuditLog is the audit page of a tenant, or of every tenant for operators.
type AuditLog struct {
	Operator     bool   // the all-tenants view: tenant column, no links into tenants
	Base         string // the page's path, where the filter form goes
	Filter       AuditFilterForm
	Actors       []Option // filter choices ("" = anyone)
	Actions      []Option
	Keys         []Option
	Tenants      []Option // operator view only
	Rows         []AuditRow
	Newest       string             // href of the first page with the same filters
	Older        string             // href of the next older page, "" when none
	Newer        string             // href of the next newer page, "" when none
	Verification *ChainVerification // after "Verify chain"
	VerifyAction string             // where the verify button posts
	VerifyNotice string             // why no verification ran ("" = none)
}

// AuditFilterForm is the audit page's filter form as typed, with errors.
type AuditFilterForm struct {
	From     string // YYYY-MM-DD, UTC
	To       string // YYYY-MM-DD, inclusive
	Actor    string
	Action   string
	KeyID    string
	TenantID string // operator view only
	Errors   map[string]string
}

// AuditRow is one audit event on the audit page.
type AuditRow struct {
	Seq        int64
	At         time.Time
	TenantName string // operator view only
	ActorKind  string // user, service_token, api_key or system
	Actor      string // a person's name, an API key's or token's name, or the id
	ActorEmail string // a person's email, beside their name
	ActorHref  string // "" when the actor is not a member to link to
	Action     string
	Target     string
	TargetHref string
	Details    string
	RequestID  string
}

// ChainVerification is the outcome of verifying an audit chain: the
// tenant's own (rows numbered by its own sequence) or, for operators,
// every chain.
type ChainVerification struct {
	OK             bool   `json:"ok"`
	Checked        int64  `json:"rows_checked"`
	FirstBrokenSeq int64  `json:"first_broken_seq,omitempty"`
	Reason         string `json:"reason,omitempty"`
	Head           string `json:"verified_head,omitempty"` // hex hash of the last row that verified
	// In a report: when the chain was last verified (nil: never) and by
	// whom; reports do not verify.
	VerifiedAt *time.Time `json:"verified_at,omitempty"`
	VerifiedBy string     `json:"verified_by,omitempty"`
}

// actorKindLabel names an actor kind on the audit page.
func actorKindLabel(kind string) string {
	switch kind {
	case "user":
		return "member"
	case "service_token":
		return "service token"
	case "api_key":
		return "API key"
	case "system":
		return "keyport"
	}
	return kind
}

// detailsSummaryLen is how much of an event's details its compact row shows
// before "Details" expands.
const detailsSummaryLen = 48

// DetailsSummary is the start of long details for the compact row; "" when
// the details are short enough to show whole.
func (r AuditRow) DetailsSummary() string {
	rs := []rune(r.Details)
	if len(rs) <= detailsSummaryLen {
		return ""
	}
	return string(rs[:detailsSummaryLen]) + "…"
}
