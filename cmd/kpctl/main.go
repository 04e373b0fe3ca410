// Command kpctl is keyport's command-line client: it drives the
// management API (/api/manage/v1) with a tenant API key, for scripts and
// for declaring a tenant's setup in a file (kpctl plan/apply).
//
//	kpctl [--url URL] [--api-key KEY] [-o table|json] <resource> <verb> [args]
//
// Run `kpctl help` for the resources, verbs and exit codes.
package main

import (
	"context"
	"os"
	"os/signal"

	"keyport/cmd/kpctl/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := cli.Run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
