// Command kpbench is keyport's data-API load test. It starts the server in
// a second process (pinned to one core where taskset exists, the load
// generator on the other), then measures, in interleaved A B B A blocks, the
// requests per second and tail latency of:
//
//   - warm-cache encrypt and decrypt, through keyport's whole server
//     (web.New), against a bare net/http handler with the same JSON request
//     and response shape but no middleware, no crypto and no token check;
//   - encrypt with per-key use counting (the audit record of cached use) on
//     against the same path with counting off.
//
// Each comparison prints one METRIC line with medians over the blocks.
//
//	go run ./cmd/kpbench [-blocks 8] [-block 2s] [-conns 64] [-size 256]
//
// "kpbench soak" is the long run instead (see soak.go): many tenants, a
// short cache TTL, minutes of load, and the server's heap, goroutines and
// cache sampled to show they level off.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// subcommands are the modes other than the default comparison; "serve"
// and "serve-soak" are the server processes the others start.
var subcommands = map[string]func([]string) error{"serve": serve, "serve-soak": serveSoak, "soak": soak}

func main() {
	name, cmd, args := "kpbench", run, os.Args[1:]
	if len(args) > 0 && subcommands[args[0]] != nil {
		name, cmd, args = "kpbench "+args[0], subcommands[args[0]], args[1:]
	}
	if err := cmd(args); err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("kpbench", flag.ContinueOnError)
	blocks := fs.Int("blocks", 8, "blocks per variant (at least 8), run as A B B A")
	block := fs.Duration("block", 2*time.Second, "length of one block")
	conns := fs.Int("conns", 64, "concurrent connections")
	size := fs.Int("size", 256, "plaintext bytes per request")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *blocks < 8 || *blocks%2 != 0 {
		return errors.New("-blocks must be an even number, at least 8")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	srv, line, err := startChild(ctx, true, "serve", fmt.Sprint(*size))
	if err != nil {
		return err
	}
	defer srv.stop()
	info, err := parseInfo(strings.TrimSpace(string(line)))
	if err != nil {
		return err
	}
	pinSelf()

	lg := newLoad(info, *conns, *size)
	comparisons := []struct{ name, a, b string }{
		{"dataapi_encrypt", "encrypt", "baseline_encrypt"},
		{"dataapi_decrypt", "decrypt", "baseline_decrypt"},
		{"dataapi_counting", "encrypt", "encrypt_nocount"},
	}
	lg.run(ctx, "encrypt", *block) // warm-up: connections, caches, JIT-free but page-cache warm
	lg.run(ctx, "baseline_encrypt", *block)
	for _, cmp := range comparisons {
		res, err := lg.compare(ctx, cmp.a, cmp.b, *blocks, *block)
		if err != nil {
			return err
		}
		fmt.Printf("METRIC %s conns=%d size=%d blocks=%d block_s=%.1f rps=%.0f baseline_rps=%.0f ratio_vs_baseline=%.3f p50_ms=%.2f p99_ms=%.2f baseline_p99_ms=%.2f p99_ratio=%.2f errors=%d baseline_errors=%d\n",
			cmp.name, *conns, *size, *blocks, block.Seconds(), res.a.rps, res.b.rps, res.a.rps/res.b.rps,
			res.a.p50, res.a.p99, res.b.p99, res.a.p99/res.b.p99, res.a.errors, res.b.errors)
	}
	fmt.Printf("METRIC dataapi_server peak_rss_mb=%.1f pinned=%v\n", float64(peakRSS(srv.cmd.Process.Pid))/1024, srv.pinned)
	return nil
}

// child is this binary re-executed as a server process.
type child struct {
	cmd    *exec.Cmd
	pinned bool
}

// startChild runs this binary with args (pinned to CPU 0 when pin is set
// and taskset exists) and returns it with the first line it printed, which
// says it is ready and how to reach it.
func startChild(ctx context.Context, pin bool, args ...string) (*child, []byte, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	argv := append([]string{self}, args...)
	c := &child{}
	if ts, err := exec.LookPath("taskset"); pin && err == nil {
		argv = append([]string{ts, "-c", "0"}, argv...)
		c.pinned = true
	}
	c.cmd = exec.CommandContext(ctx, argv[0], argv[1:]...)
	c.cmd.Stderr = os.Stderr
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := c.cmd.Start(); err != nil {
		return nil, nil, err
	}
	line, err := bufio.NewReader(out).ReadBytes('\n')
	if err != nil {
		c.stop()
		return nil, nil, fmt.Errorf("server did not start: %w", err)
	}
	go io.Copy(io.Discard, out)
	return c, line, nil
}

func (c *child) stop() {
	if c.cmd.Process != nil {
		c.cmd.Process.Signal(syscall.SIGTERM)
		c.cmd.Wait()
	}
}

// pinSelf moves the load generator to CPU 1, away from the server.
func pinSelf() {
	if ts, err := exec.LookPath("taskset"); err == nil {
		_ = exec.Command(ts, "-a", "-p", "-c", "1", fmt.Sprint(os.Getpid())).Run()
	}
}

// peakRSS reads a process's peak resident set (kB) from /proc.
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			return kb
		}
	}
	return 0
}
