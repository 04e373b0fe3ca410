package cli

import (
	"context"
	"flag"
	"net/http"
	"net/url"
	"strconv"
)

// resources is every resource kpctl knows, with its verbs and table columns.
var resources map[string]resource

func init() {
	resources = map[string]resource{
		"connections": {path: "/connections", columns: []string{"id", "name", "kind", "account_id", "region", "last_test"},
			verbs: map[string]verbFunc{"list": listVerb(), "get": getVerb, "create": createConnection, "update": updateConnection,
				"test": postVerb("test", "ok", "checks"), "delete": deleteVerb()}},
		"keys": {path: "/keys", columns: []string{"id", "name", "kind", "state", "health", "current_version"},
			verbs: map[string]verbFunc{"list": listVerb("q"), "get": getVerb, "register": registerKey, "update": updateKey,
				"validate": postVerb("validate", "ok", "checks"), "versions": keyVersions,
				"rotate": postVerb("rotate"), "deactivate": postVerb("deactivate"), "activate": postVerb("activate"),
				"renew": postVerb("renew"), "undo": postVerb("undo"), "rotate-material": postVerb("rotate-material"),
				"delete": deleteVerb("window_days")}},
		"stores": {path: "/stores", columns: []string{"id", "name", "region", "connection_id"},
			verbs: map[string]verbFunc{"list": listVerb(), "get": getVerb, "create": createStore, "delete": deleteVerb()}},
		"members": {path: "/members", columns: []string{"user_id", "email", "name", "role"},
			verbs: map[string]verbFunc{"list": listVerb()}},
		"invitations": {path: "/invitations", columns: []string{"id", "email", "role", "expires_at"},
			verbs: map[string]verbFunc{"list": listVerb(), "create": createInvitation}},
		"audit": {path: "/audit", columns: []string{"seq", "time", "actor", "action", "target_type", "target_id"},
			verbs: map[string]verbFunc{"list": listVerb("action"), "verify": verifyAudit}},
		"api-keys": {path: "/api-keys", columns: []string{"id", "name", "role", "created_at", "last_used_at", "expires_at"},
			verbs: map[string]verbFunc{"list": listVerb(), "create": createAPIKey, "revoke": deleteVerb()}},
		"webhooks": {path: "/webhooks", columns: []string{"id", "url", "events", "enabled"},
			verbs: map[string]verbFunc{"list": listVerb(), "get": getVerb, "delete": deleteVerb(), "test": postVerb("test")}},
	}
}

// secretFromEnv reads a secret from the environment variable named.
func (x *cmd) secretFromEnv(flagName, name string) (string, error) {
	if name == "" {
		return "", nil
	}
	v := x.getenv(name)
	if v == "" {
		return "", usagef("%s names %s, which is not set in the environment", flagName, name)
	}
	return v, nil
}

func createConnection(ctx context.Context, x *cmd, r resource, args []string) error {
	var name, akid, secretEnv, role, acct, region string
	if _, err := flags(args, 0, func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "", "")
		fs.StringVar(&akid, "access-key-id", "", "")
		fs.StringVar(&secretEnv, "secret-env", "", "")
		fs.StringVar(&role, "role-arn", "", "")
		fs.StringVar(&acct, "account-id", "", "")
		fs.StringVar(&region, "region", "", "")
	}); err != nil {
		return err
	}
	body := map[string]any{"name": name}
	switch {
	case role != "" && akid == "":
		body["kind"], body["role_arn"] = "role", role
	case akid != "" && role == "":
		secret, err := x.secretFromEnv("--secret-env", secretEnv)
		if err != nil {
			return err
		}
		if secret == "" {
			return usagef("an access-key connection needs --secret-env VAR, the environment variable holding the secret access key")
		}
		body["kind"], body["access_key_id"], body["secret_access_key"] = "access_key", akid, secret
	default:
		return usagef("give either --role-arn, or --access-key-id with --secret-env")
	}
	if acct != "" {
		body["account_id"] = acct
	}
	if region != "" {
		body["region"] = region
	}
	var obj map[string]any
	if err := x.c.do(ctx, http.MethodPost, r.path, body, &obj); err != nil {
		return err
	}
	return x.printOne(obj, append(r.columns, "external_id"))
}

func updateConnection(ctx context.Context, x *cmd, r resource, args []string) error {
	var name, akid, secretEnv, role string
	pos, err := flags(args, 1, func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "", "")
		fs.StringVar(&akid, "access-key-id", "", "")
		fs.StringVar(&secretEnv, "secret-env", "", "")
		fs.StringVar(&role, "role-arn", "", "")
	})
	if err != nil {
		return err
	}
	body := map[string]any{}
	if name != "" {
		body["name"] = name
	}
	if role != "" {
		body["role_arn"] = role
	}
	if akid != "" {
		body["access_key_id"] = akid
	}
	if secretEnv != "" {
		secret, err := x.secretFromEnv("--secret-env", secretEnv)
		if err != nil {
			return err
		}
		body["secret_access_key"] = secret
	}
	if len(body) == 0 {
		return usagef("nothing to change: give --name, --role-arn, or --secret-env (with --access-key-id for a new access key)")
	}
	var obj map[string]any
	if err := x.c.do(ctx, http.MethodPatch, r.path+"/"+url.PathEscape(pos[0]), body, &obj); err != nil {
		return err
	}
	return x.printOne(obj, r.columns)
}

func registerKey(ctx context.Context, x *cmd, r resource, args []string) error {
	var name, conn, edk string
	var arns multi
	if _, err := flags(args, 0, func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "", "")
		fs.StringVar(&conn, "connection", "", "")
		fs.Var(&arns, "arn", "")
		fs.StringVar(&edk, "encrypted-data-key", "", "")
	}); err != nil {
		return err
	}
	if name == "" || conn == "" || len(arns) == 0 {
		return usagef("keys register needs --name, --connection and at least one --arn")
	}
	body := map[string]any{"name": name, "connection_id": conn, "key_arns": []string(arns)}
	if edk != "" {
		body["encrypted_data_key"] = edk
	}
	var obj map[string]any
	if err := x.c.do(ctx, http.MethodPost, r.path, body, &obj); err != nil {
		return err
	}
	return x.printOne(obj, []string{"id", "state", "health"})
}

func updateKey(ctx context.Context, x *cmd, r resource, args []string) error {
	var name string
	var minVersion int64
	pos, err := flags(args, 1, func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "", "")
		fs.Int64Var(&minVersion, "min-decryption-version", 0, "")
	})
	if err != nil {
		return err
	}
	body := map[string]any{}
	if name != "" {
		body["name"] = name
	}
	if minVersion > 0 {
		body["min_decryption_version"] = minVersion
	}
	if len(body) == 0 {
		return usagef("nothing to change: give --name or --min-decryption-version")
	}
	var obj map[string]any
	if err := x.c.do(ctx, http.MethodPatch, r.path+"/"+url.PathEscape(pos[0]), body, &obj); err != nil {
		return err
	}
	return x.printOne(obj, r.columns)
}

func keyVersions(ctx context.Context, x *cmd, r resource, args []string) error {
	pos, err := flags(args, 1, nil)
	if err != nil {
		return err
	}
	items, err := x.c.list(ctx, r.path+"/"+url.PathEscape(pos[0])+"/versions")
	if err != nil {
		return err
	}
	return x.print(items, []string{"version", "created_at", "encrypts", "decrypts", "last_used_at"})
}

func createStore(ctx context.Context, x *cmd, r resource, args []string) error {
	var name, conn, region string
	if _, err := flags(args, 0, func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "", "")
		fs.StringVar(&conn, "connection", "", "")
		fs.StringVar(&region, "region", "", "")
	}); err != nil {
		return err
	}
	var obj map[string]any
	if err := x.c.do(ctx, http.MethodPost, r.path, map[string]any{"name": name, "connection_id": conn, "region": region}, &obj); err != nil {
		return err
	}
	return x.printOne(obj, r.columns)
}

func createInvitation(ctx context.Context, x *cmd, r resource, args []string) error {
	var email, role string
	if _, err := flags(args, 0, func(fs *flag.FlagSet) {
		fs.StringVar(&email, "email", "", "")
		fs.StringVar(&role, "role", "", "")
	}); err != nil {
		return err
	}
	var obj map[string]any
	if err := x.c.do(ctx, http.MethodPost, r.path, map[string]any{"email": email, "role": role}, &obj); err != nil {
		return err
	}
	return x.printOne(obj, r.columns)
}

func verifyAudit(ctx context.Context, x *cmd, r resource, args []string) error {
	if _, err := flags(args, 0, nil); err != nil {
		return err
	}
	var obj map[string]any
	if err := x.c.do(ctx, http.MethodGet, r.path+"/verify", nil, &obj); err != nil {
		return err
	}
	if err := x.printOne(obj, []string{"ok", "events_checked"}); err != nil {
		return err
	}
	if obj["ok"] != true {
		return &apiError{Status: http.StatusConflict, Code: "audit_chain_broken", Message: "the audit chain does not verify"}
	}
	return nil
}

func createAPIKey(ctx context.Context, x *cmd, r resource, args []string) error {
	var name, role string
	var days int
	if _, err := flags(args, 0, func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "", "")
		fs.StringVar(&role, "role", "", "")
		fs.IntVar(&days, "expires-in-days", 0, "")
	}); err != nil {
		return err
	}
	body := map[string]any{"name": name, "role": role}
	if days > 0 {
		body["expires_in_days"] = days
	}
	var obj map[string]any
	if err := x.c.do(ctx, http.MethodPost, r.path, body, &obj); err != nil {
		return err
	}
	if x.json {
		return x.printOne(obj, r.columns)
	}
	// The key is shown once: alone on stdout, so a script can capture it.
	return x.done(obj, cell(obj["api_key"]))
}

// itoa formats an int64 for messages.
func itoa(n int64) string { return strconv.FormatInt(n, 10) }
