package models

// migration42OwnerBindings records the owner email a tenant created by
// `keyport tenant create --owner EMAIL` waits for: the first sign-in with
// that verified email becomes the tenant's owner and the row goes. The
// email is stored lowercased and is unique, so one person is never the
// pending owner of two tenants.
var migration42OwnerBindings = migration{
	version: 42,
	name:    "create tenant owner bindings",
	stmts: []string{
		`CREATE TABLE tenant_owner_bindings (
			tenant_id varchar(64) PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
			email text NOT NULL,
			created_at {{time}} NOT NULL,
			CONSTRAINT tenant_owner_bindings_email_key UNIQUE (email)
		)`,
	},
}
