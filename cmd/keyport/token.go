package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"keyport/keysvc"
)

// tokenCommand is `keyport token create --tenant ID --name NAME
// [--provider-wide]` and `keyport token revoke ID`. The token is printed
// once and only its hash is kept.
func tokenCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		return badUsage("token", "usage: keyport token create --tenant ID --name NAME [--provider-wide] | keyport token revoke TOKEN_ID")
	}
	if args[0] != "create" && args[0] != "revoke" {
		return badUsage("token", "unknown token command %q", args[0])
	}
	cfg, err := loadCommandConfig(getenv)
	if err != nil {
		return err
	}
	switch args[0] {
	case "create":
		fs := flag.NewFlagSet("keyport token create", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		tenant := fs.String("tenant", "", "tenant id the token acts for")
		name := fs.String("name", "", "what the token is for, e.g. the service's name")
		wide := fs.Bool("provider-wide", false, "the token may act for any tenant named in each request")
		if err := fs.Parse(args[1:]); err != nil {
			return badUsage("token create", "token create: %v", err)
		}
		if *wide == (*tenant != "") {
			return badUsage("token create", "token create: give either --tenant ID or --provider-wide")
		}
		if *name == "" {
			return badUsage("token create", "token create: --name is required")
		}
		db, err := openStore(ctx, cfg, newLogger(cfg, io.Discard))
		if err != nil {
			return err
		}
		defer db.Close()
		svc := keysvc.NewService(keysvc.Deps{DB: db})
		tok, row, err := svc.NewServiceToken(ctx, *tenant, *name, "cli")
		if err != nil {
			return fmt.Errorf("token create: %w", err)
		}
		_, err = fmt.Fprintf(stdout, "%s\n\nThis is token %s (%q). Store it now: keyport keeps only its hash and cannot show it again.\n", tok, row.ID, row.Name)
		return err
	case "revoke":
		if len(args) != 2 {
			return badUsage("token revoke", "usage: keyport token revoke TOKEN_ID")
		}
		db, err := openStore(ctx, cfg, newLogger(cfg, io.Discard))
		if err != nil {
			return err
		}
		defer db.Close()
		if err := keysvc.NewService(keysvc.Deps{DB: db}).RevokeServiceToken(ctx, args[1], "cli"); err != nil {
			return fmt.Errorf("token revoke: %w", err)
		}
		_, err = fmt.Fprintf(stdout, "token %s revoked\n", args[1])
		return err
	}
	return badUsage("token", "unknown token command %q", args[0])
}
