package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"keyport/keysvc"
	"keyport/models"
)

// Usage of `keyport apikey` and `keyport apikey create`, printed for
// --help and -h before any configuration is read.
const (
	apikeyUsage = `usage: keyport apikey create --tenant ID --role admin|auditor --name NAME [--expires 90d]
`
	apikeyCreateUsage = `usage: keyport apikey create --tenant ID --role admin|auditor --name NAME [--expires 90d]

Creates a tenant API key for the management API (/api/manage/v1) and prints
it (kpa_...) alone on stdout, once: keyport keeps only its hash. Owners and
admins also create, list and revoke keys on the portal's API keys page.

  --tenant ID       the tenant the key acts for (tnt_...)
  --role ROLE       admin or auditor; no key is ever an owner
  --name NAME       what the key is for, e.g. the script's name
  --expires AGE     its lifetime: Nd days (1d to 365d) or hours like 12h
                    (at least 1h); default 90d

A key this command makes belongs to no member, so it cannot approve or deny
another admin's export or deletion request.
`
)

// apikeyCommand is `keyport apikey create`. The output is a contract:
// the key alone on stdout, nothing else.
func apikeyCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		return badUsage("apikey", "apikey: name a command")
	}
	if slices.ContainsFunc(args, func(a string) bool { return a == "--help" || a == "-help" || a == "-h" }) {
		u := apikeyUsage
		if args[0] == "create" {
			u = apikeyCreateUsage
		}
		_, err := io.WriteString(stdout, u)
		return err
	}
	if args[0] != "create" {
		return badUsage("apikey", "unknown apikey command %q", args[0])
	}
	return apikeyCreate(ctx, args[1:], getenv, stdout)
}

// apikeyCreate checks every argument before it opens the store, so bad
// input never needs (or touches) a database.
func apikeyCreate(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("keyport apikey create", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	tenant := fs.String("tenant", "", "the tenant the key acts for")
	role := fs.String("role", "", "admin or auditor")
	name := fs.String("name", "", "what the key is for")
	expires := fs.String("expires", "90d", "lifetime: Nd or hours")
	if err := fs.Parse(args); err != nil {
		return badUsage("apikey create", "apikey create: %v", err)
	}
	switch {
	case fs.NArg() > 0:
		return badUsage("apikey create", "apikey create: unexpected argument %q", fs.Arg(0))
	case *tenant == "":
		return badUsage("apikey create", "apikey create: --tenant is required")
	case *name == "":
		return badUsage("apikey create", "apikey create: --name is required")
	case *role != string(models.RoleAdmin) && *role != string(models.RoleAuditor):
		return badUsage("apikey create", "apikey create: --role must be admin or auditor, not %q", *role)
	}
	lifetime, err := parseLifetime(*expires)
	if err != nil {
		return badUsage("apikey create", "apikey create: --expires %v", err)
	}
	cfg, err := loadCommandConfig(getenv)
	if err != nil {
		return err
	}
	db, err := openStore(ctx, cfg, newLogger(cfg, io.Discard))
	if err != nil {
		return err
	}
	defer db.Close()
	by := keysvc.RequestBy{UserID: "keyport apikey create", Kind: models.ActorSystem}
	k, _, err := keysvc.NewService(keysvc.Deps{DB: db}).NewAPIKey(ctx, *tenant, by, *name, models.Role(*role), lifetime)
	if err != nil {
		return fmt.Errorf("apikey create: %w", err)
	}
	_, err = fmt.Fprintln(stdout, k)
	return err
}

// parseLifetime reads "90d" (days, 1 to 365) or a Go duration of at least
// an hour ("12h").
func parseLifetime(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 1 || n > 365 {
			return 0, fmt.Errorf("%q: give whole days from 1d to 365d", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Hour || d > keysvc.MaxAPIKeyLifetime {
		return 0, fmt.Errorf("%q: give days like 90d, or hours like 12h (1h to 365d)", s)
	}
	return d, nil
}
