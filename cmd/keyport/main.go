// Command keyport runs the keyport BYOK portal and key service.
//
//	keyport serve          run the server (production configuration)
//	keyport dev            run with local stand-ins: dev IdP, mail catcher
//	keyport migrate        apply database migrations and exit
//	keyport audit verify   verify the audit log's hash chain
//	keyport kek rotate     re-seal every sealed secret under the current KEK
//	keyport backup PATH    write a consistent SQLite snapshot to PATH
//	keyport healthcheck    exit 0 if the local keyport answers /healthz
//	keyport token create   create a data-API service token
//	keyport tenant create  create a tenant bound to its first owner's email
//	keyport tenant list    list tenants with their owners
//
// Every command answers --help, -h and `keyport help COMMAND` without
// reading any configuration. Refused input exits 2, other failures 1.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "keyport: "+err.Error())
		var u *usageError
		if errors.As(err, &u) && u.usage != "" {
			// The synopsis only; `keyport help COMMAND` has the rest.
			synopsis, _, _ := strings.Cut(u.usage, "\n\n")
			fmt.Fprintln(os.Stderr, strings.TrimRight(synopsis, "\n"))
		}
		os.Exit(exitCode(err))
	}
}

const usage = `usage: keyport <command>

commands:
  serve          run the server (configuration from KEYPORT_* variables)
  dev            run with local stand-ins for the IdP and mail (make run)
  migrate        apply database migrations and exit
  audit verify   verify the audit log's hash chain and print the first broken row
  kek rotate     re-seal every sealed secret under KEYPORT_KEK_FILE, opening old
                 ones with KEYPORT_KEK_PREVIOUS_FILE (see docs/operations.md)
  backup PATH    write a consistent snapshot of the SQLite database to PATH
  healthcheck    exit 0 if the keyport at KEYPORT_ADDR answers /healthz (containers)
  token create --tenant ID --name NAME [--provider-wide]
                 create a data-API service token (printed once)
  token revoke TOKEN_ID
  tenant create --name NAME --owner EMAIL
                 create a tenant owned by the first sign-in of EMAIL; prints its id
  tenant list    list tenants: id, name, owner
  apikey create --tenant ID --role admin|auditor --name NAME [--expires 90d]
                 create a tenant API key for the management API (printed once)
  help COMMAND   print a command's usage (so do COMMAND --help and -h)
`

// run is main without the process: tests call it with their own arguments,
// environment and output.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	// Help first: it needs no configuration at all.
	if ok, err := helpFor(args, stdout); ok {
		return err
	}
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "serve", "dev":
		cfg, err := loadConfig(getenv, cmd == "dev")
		if err != nil {
			return err
		}
		return serve(ctx, cfg, stdout)
	case "migrate":
		cfg, err := loadCommandConfig(getenv)
		if err != nil {
			return err
		}
		return migrate(ctx, cfg, stdout)
	case "audit":
		if len(args) != 2 || args[1] != "verify" {
			return badUsage("audit", "usage: keyport audit verify")
		}
		cfg, err := loadCommandConfig(getenv)
		if err != nil {
			return err
		}
		return auditVerify(ctx, cfg, stdout)
	case "token":
		return tokenCommand(ctx, args[1:], getenv, stdout)
	case "tenant":
		return tenantCommand(ctx, args[1:], getenv, stdout)
	case "apikey":
		return apikeyCommand(ctx, args[1:], getenv, stdout)
	case "kek":
		return kekCommand(ctx, args[1:], getenv, stdout)
	case "backup":
		return backupCommand(ctx, args[1:], getenv, stdout)
	case "healthcheck":
		return healthcheck(ctx, getenv, stdout)
	}
	return &usageError{msg: fmt.Sprintf("unknown command %q; run 'keyport help'", cmd), usage: usage}
}

// newLogger writes structured logs: text in development, JSON otherwise.
func newLogger(cfg *config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel)) // validated in loadConfig
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
