// Command kmslocal serves the keysvc/kmslocal stand-in for AWS KMS and STS
// on a loopback address, for make run, the AWS CLI (--endpoint-url) and
// other SDKs. It is a development tool: never point it at production data.
//
// Usage:
//
//	kmslocal -addr 127.0.0.1:4599 [-config FILE] [-data FILE] [-latency D] [-allow-remote]
//
// It prints "kmslocal listening on http://ADDR" once ready and stops
// cleanly on SIGTERM or interrupt.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"keyport/keysvc/kmslocal"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "kmslocal:", err)
		}
		os.Exit(2)
	}
}

// run is main without the process exit, so tests can drive the real flag
// handling, startup line and shutdown.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kmslocal", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:4599", "listen address (loopback only unless -allow-remote)")
	configFile := fs.String("config", "", "JSON file with defaultAccount, principals and roles; without it any credentials act as the root of account "+kmslocal.DefaultAccount)
	dataFile := fs.String("data", "", "JSON file to keep keys in across restarts (key material in the clear: development only)")
	allowRemote := fs.Bool("allow-remote", false, "allow a non-loopback -addr; anyone who can reach it can use every key")
	latency := fs.Duration("latency", 0, "delay every request by this much (e.g. 50ms), to try keyport against a distant KMS")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}

	var cfg kmslocal.Config
	if *configFile != "" {
		var err error
		if cfg, err = kmslocal.LoadConfigFile(*configFile); err != nil {
			return err
		}
	}
	cfg.DataFile = *dataFile
	cfg.AllowRemote = *allowRemote

	if *latency < 0 || *latency > time.Minute {
		return fmt.Errorf("-latency must be between 0 and 1m, not %s", *latency)
	}
	srv, err := kmslocal.New(cfg)
	if err != nil {
		return err
	}
	srv.SetLatency(*latency)
	// Register for signals before announcing readiness, so a supervisor that
	// sends SIGTERM right after the line never kills us mid-startup.
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := srv.Start(*addr); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "kmslocal listening on %s\n", srv.URL())
	<-ctx.Done()
	if err := srv.Close(); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}
