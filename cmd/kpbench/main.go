// Command kpbench is keyport's data-API load test. It starts the server in
// a second process (pinned to core 0 where taskset exists, the load
// generator on core 1), then measures, in interleaved A B B A blocks, the
// requests per second and tail latency of:
//
//   - warm-cache encrypt and decrypt through keyport's whole server
//     (web.New: every middleware, token, limits, counting, access log),
//     against a bare echo handler of the same JSON shape (echo.New(), no
//     middleware, no token check, no crypto; a request and a response of
//     the same size) on its own port in the same server process: target
//     ratio >= 0.80 and p99 <= 1.3x the baseline's (issue 18 target 1);
//   - encrypt and decrypt batches of 100 items against single-item
//     requests, in items per second: target >= 10x (issue 18 target 2);
//   - encrypt with per-key use counting on against counting off.
//
// The load generator is wrk (-t1, installed with apt-get when missing and
// possible); without it kpbench falls back to its own Go generator and
// says so (loadgen=go). Each comparison prints one METRIC line with
// medians over the blocks.
//
//	go run ./cmd/kpbench [-blocks 8] [-block 2s] [-conns 64] [-size 256] [-only REGEXP] [-cpuprofile FILE]
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
	"regexp"
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

// Targets of issue 18.
const (
	targetRatio      = 0.80 // keyport's req/s over the bare handler's
	targetP99Ratio   = 1.30 // keyport's p99 over the bare handler's
	targetBatchRatio = 10.0 // batch items/s over single-item req/s
	batchItems       = 100
)

// comparisonSpec is one METRIC line: variant a measured against variant b.
type comparisonSpec struct {
	name, a, b string
	kind       string // "baseline", "batch" or "plain" (no target)
}

var comparisons = []comparisonSpec{
	{"dataapi_encrypt", "encrypt", "baseline_encrypt", "baseline"},
	{"dataapi_decrypt", "decrypt", "baseline_decrypt", "baseline"},
	{"dataapi_batch_encrypt", "batch_encrypt", "encrypt", "batch"},
	{"dataapi_batch_decrypt", "batch_decrypt", "decrypt", "batch"},
	{"dataapi_counting", "encrypt", "encrypt_nocount", "plain"},
}

func run(args []string) error {
	fs := flag.NewFlagSet("kpbench", flag.ContinueOnError)
	blocks := fs.Int("blocks", 8, "blocks per variant (at least 8), run as A B B A")
	block := fs.Duration("block", 2*time.Second, "length of one block")
	conns := fs.Int("conns", 64, "concurrent connections")
	size := fs.Int("size", 256, "plaintext bytes per request")
	only := fs.String("only", "", "run only the comparisons whose METRIC name matches this regexp")
	cpuprofile := fs.String("cpuprofile", "", "write the server process's CPU profile to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *blocks < 8 || *blocks%2 != 0 {
		return errors.New("-blocks must be an even number, at least 8")
	}
	match, err := regexp.Compile(*only)
	if err != nil {
		return fmt.Errorf("-only: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var env []string
	if *cpuprofile != "" {
		env = append(env, "KPBENCH_CPUPROFILE="+*cpuprofile)
	}
	srv, line, err := startChild(ctx, true, env, "serve", fmt.Sprint(*size))
	if err != nil {
		return err
	}
	defer srv.stop()
	info, err := parseInfo(strings.TrimSpace(string(line)))
	if err != nil {
		return err
	}
	pinSelf()

	variants := newVariants(info, *size)
	var gen generator
	if path, err := ensureWrk(ctx); err == nil {
		w, err := newWrk(path, *conns, variants, info.Token)
		if err != nil {
			return err
		}
		defer w.close()
		gen = w
	} else {
		fmt.Fprintf(os.Stderr, "kpbench: wrk unavailable (%v); falling back to the Go load generator\n", err)
		gen = newLoad(info, *conns, variants)
	}

	// Warm-up: connections, caches, page cache; not counted.
	for _, v := range []string{"encrypt", "baseline_encrypt", "decrypt", "batch_encrypt"} {
		if _, err := gen.run(ctx, v, *block); err != nil {
			return err
		}
	}
	for _, cmp := range comparisons {
		if !match.MatchString(cmp.name) {
			continue
		}
		res, err := compare(ctx, gen, srv.cmd.Process.Pid, cmp.a, cmp.b, *blocks, *block)
		if err != nil {
			return err
		}
		fmt.Println(metricLine(cmp, res, gen.name(), *conns, *size, *blocks, *block, variants))
	}
	fmt.Printf("METRIC dataapi_server peak_rss_mb=%.1f pinned=%v\n", float64(peakRSS(srv.cmd.Process.Pid))/1024, srv.pinned)
	return nil // make bench-check fails the bench on target_met=false
}

// metricLine formats one comparison, judging its target if it has one
// (errors in either variant miss it too).
func metricLine(cmp comparisonSpec, res comparison, loadgen string, conns, size, blocks int, block time.Duration, vs map[string]variant) string {
	a, b := res.a, res.b
	// Each format opens with "METRIC": cmd/keyport's test finds the lines
	// that name a target and checks they judge it.
	head := []any{cmp.name, loadgen, conns, size, blocks, block.Seconds()}
	noErrors := a.errors == 0 && b.errors == 0
	switch cmp.kind {
	case "baseline":
		ratio, p99r := a.rps/b.rps, a.p99/b.p99
		ok := ratio >= targetRatio && p99r <= targetP99Ratio && noErrors
		return fmt.Sprintf("METRIC %s loadgen=%s conns=%d size=%d blocks=%d block_s=%.1f rps=%.0f baseline_rps=%.0f ratio_vs_baseline=%.3f p50_ms=%.2f p99_ms=%.2f baseline_p99_ms=%.2f p99_ratio=%.2f cpu_us_per_req=%.1f baseline_cpu_us_per_req=%.1f cpu_ratio=%.3f errors=%d baseline_errors=%d target_ratio=%.2f target_p99_ratio=%.2f target_met=%v",
			append(head, a.rps, b.rps, ratio, a.p50, a.p99, b.p99, p99r, a.cpuUS, b.cpuUS, b.cpuUS/a.cpuUS, a.errors, b.errors, targetRatio, targetP99Ratio, ok)...)
	case "batch":
		items := float64(vs[cmp.a].items)
		ratio := a.rps * items / b.rps
		ok := ratio >= targetBatchRatio && noErrors
		return fmt.Sprintf("METRIC %s loadgen=%s conns=%d size=%d blocks=%d block_s=%.1f items=%.0f batch_rps=%.0f items_per_s=%.0f single_rps=%.0f ratio_vs_single=%.2f batch_p99_ms=%.2f cpu_us_per_item=%.1f single_cpu_us_per_req=%.1f cpu_ratio=%.2f errors=%d single_errors=%d target_ratio=%.1f target_met=%v",
			append(head, items, a.rps, a.rps*items, b.rps, ratio, a.p99, a.cpuUS/items, b.cpuUS, b.cpuUS*items/a.cpuUS, a.errors, b.errors, targetBatchRatio, ok)...)
	}
	return fmt.Sprintf("METRIC %s loadgen=%s conns=%d size=%d blocks=%d block_s=%.1f rps=%.0f baseline_rps=%.0f ratio_vs_baseline=%.3f p50_ms=%.2f p99_ms=%.2f baseline_p99_ms=%.2f p99_ratio=%.2f cpu_us_per_req=%.1f baseline_cpu_us_per_req=%.1f errors=%d baseline_errors=%d",
		append(head, a.rps, b.rps, a.rps/b.rps, a.p50, a.p99, b.p99, a.p99/b.p99, a.cpuUS, b.cpuUS, a.errors, b.errors)...)
}

// child is this binary re-executed as a server process.
type child struct {
	cmd    *exec.Cmd
	pinned bool
}

// startChild runs this binary with args (pinned to CPU 0 when pin is set
// and taskset exists; env added to its environment) and returns it with
// the first line it printed, which says it is ready and how to reach it.
func startChild(ctx context.Context, pin bool, env []string, args ...string) (*child, []byte, error) {
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
	// Not CommandContext: the child gets SIGTERM (stop), so it can write
	// its profile and flush its log; a kill would lose both.
	c.cmd = exec.Command(argv[0], argv[1:]...)
	c.cmd.Env = append(os.Environ(), env...)
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
