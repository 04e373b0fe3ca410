package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"keyport/models"
)

// tenantCommand is `keyport tenant create --name NAME --owner EMAIL` and
// `keyport tenant list`. Their output is a contract: create prints the id
// alone, list prints aligned ID NAME OWNER columns under a header.
func tenantCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		return badUsage("tenant", "usage: keyport tenant create --name NAME --owner EMAIL | keyport tenant list")
	}
	switch args[0] {
	case "create":
		return tenantCreate(ctx, args[1:], getenv, stdout)
	case "list":
		if len(args) != 1 {
			return badUsage("tenant list", "tenant list: takes no arguments, got %q", args[1:])
		}
		return tenantList(ctx, getenv, stdout)
	}
	return badUsage("tenant", "unknown tenant command %q", args[0])
}

// tenantCreate checks every argument before it opens the store, so bad
// input never needs (or touches) a database.
func tenantCreate(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("keyport tenant create", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	name := fs.String("name", "", "the tenant's name")
	owner := fs.String("owner", "", "email of its first owner")
	if err := fs.Parse(args); err != nil {
		return badUsage("tenant create", "tenant create: %v", err)
	}
	switch {
	case fs.NArg() > 0:
		return badUsage("tenant create", "tenant create: unexpected argument %q", fs.Arg(0))
	case *name == "":
		return badUsage("tenant create", "tenant create: --name is required")
	case *owner == "":
		return badUsage("tenant create", "tenant create: --owner is required")
	}
	if _, err := models.NormalizeEmail(*owner); err != nil {
		return badUsage("tenant create", "tenant create: --owner %q is not an email address like name@example.com", *owner)
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
	t, err := db.CreateTenantForOwner(ctx, *name, *owner, models.AuditInput{Actor: "keyport tenant create", Action: "tenant.created"})
	var taken *models.OwnerBindingTaken
	var invalid *models.ValidationError
	switch {
	case errors.Is(err, models.ErrTenantNameTaken):
		return badUsage("tenant create", "tenant create: --name %q is already the name of another tenant (names are compared ignoring case); see keyport tenant list", *name)
	case errors.As(err, &taken):
		return badUsage("tenant create", "tenant create: --owner %s is already waiting to become the owner of tenant %s; they become its owner at their first sign-in", *owner, taken.TenantID)
	case errors.As(err, &invalid):
		return badUsage("tenant create", "tenant create: --%s %s", invalid.Field, invalid.Message)
	case err != nil:
		return fmt.Errorf("tenant create: %w", err)
	}
	_, err = fmt.Fprintln(stdout, t.ID)
	return err
}

// tenantList prints every tenant and records that the list was read: it
// names every tenant's owners.
func tenantList(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := loadCommandConfig(getenv)
	if err != nil {
		return err
	}
	db, err := openStore(ctx, cfg, newLogger(cfg, io.Discard))
	if err != nil {
		return err
	}
	defer db.Close()
	ts, err := db.ListTenantsWithOwners(ctx)
	if err != nil {
		return fmt.Errorf("tenant list: %w", err)
	}
	if _, err := db.AppendAudit(ctx, models.AuditInput{Actor: "keyport tenant list", Action: "tenant.listed",
		Details: map[string]string{"tenants": fmt.Sprint(len(ts))}}); err != nil {
		return fmt.Errorf("tenant list: record audit event: %w", err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tOWNER")
	for _, t := range ts {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", t.ID, t.Name, t.OwnerLabel())
	}
	return tw.Flush()
}
