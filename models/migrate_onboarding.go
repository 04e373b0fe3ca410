package models

// Getting started (issue 14 #9): a member who dismissed the dashboard's
// getting-started steps does not see them again in that tenant.
var migration49OnboardingDismissed = migration{
	version: 49,
	name:    "remember who dismissed getting started",
	stmts: []string{
		`ALTER TABLE memberships ADD COLUMN onboarding_dismissed_at {{time}} NULL`,
	},
}
