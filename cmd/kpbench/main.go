// Command kpbench is keyport's data-API load test. It starts the server in
// a second process (pinned to one core where taskset exists, the load
// generator on the other), then measures, in interleaved A B B A blocks, the
// requests per second and tail latency of:
//
//   - warm-cache encrypt and decrypt against a baseline echo handler with the
//     same JSON request and response shape but no crypto and no token check;
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

func main() {
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		if err := serve(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "kpbench serve:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "serve-soak" {
		if err := serveSoak(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "kpbench serve-soak:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "soak" {
		if err := soak(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "kpbench soak:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "kpbench:", err)
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

	srv, err := startServer(ctx, *size)
	if err != nil {
		return err
	}
	defer srv.stop()
	pinSelf()

	lg := newLoad(srv.info, *conns, *size)
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

// server is the child process serving the data API.
type server struct {
	cmd    *exec.Cmd
	info   serverInfo
	pinned bool
}

// startServer re-executes this binary as "kpbench serve", pinned to CPU 0
// when taskset is available, and reads the line that says it is ready.
func startServer(ctx context.Context, size int) (*server, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{self, "serve", fmt.Sprint(size)}
	s := &server{}
	if ts, err := exec.LookPath("taskset"); err == nil {
		args = append([]string{ts, "-c", "0"}, args...)
		s.pinned = true
	}
	s.cmd = exec.CommandContext(ctx, args[0], args[1:]...)
	s.cmd.Stderr = os.Stderr
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		s.stop()
		return nil, fmt.Errorf("server did not start: %w", err)
	}
	go io.Copy(io.Discard, out)
	if s.info, err = parseInfo(strings.TrimSpace(line)); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

func (s *server) stop() {
	if s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGTERM)
		s.cmd.Wait()
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
