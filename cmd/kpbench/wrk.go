package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ensureWrk finds wrk, installing it with apt-get when it is missing and
// this process may (root, apt-get present).
func ensureWrk(ctx context.Context) (string, error) {
	if p, err := exec.LookPath("wrk"); err == nil {
		return p, nil
	}
	apt, err := exec.LookPath("apt-get")
	if err != nil || os.Geteuid() != 0 {
		return "", errors.New("wrk is not installed and cannot be installed here (needs root and apt-get)")
	}
	fmt.Fprintln(os.Stderr, "kpbench: installing wrk with apt-get")
	cmd := exec.CommandContext(ctx, apt, "install", "-y", "wrk")
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("apt-get install -y wrk: %v: %s", err, lastLine(out))
	}
	return exec.LookPath("wrk")
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// wrkGen runs wrk (one thread, pinned to core 1 where taskset exists) for
// each block, with a Lua script per variant that sets the method, body and
// headers.
type wrkGen struct {
	path, taskset string
	conns         int
	dir           string
	variants      map[string]variant
}

func newWrk(path string, conns int, variants map[string]variant, token string) (*wrkGen, error) {
	dir, err := os.MkdirTemp("", "kpbench-wrk-")
	if err != nil {
		return nil, err
	}
	w := &wrkGen{path: path, conns: conns, dir: dir, variants: variants}
	if ts, err := exec.LookPath("taskset"); err == nil {
		w.taskset = ts
	}
	for name, v := range variants {
		if err := os.WriteFile(filepath.Join(dir, name+".lua"), []byte(wrkScript(v.body, token)), 0o600); err != nil {
			w.close()
			return nil, err
		}
	}
	return w, nil
}

func (w *wrkGen) close() { os.RemoveAll(w.dir) }

func (w *wrkGen) name() string { return "wrk" }

// wrkScript is a wrk Lua script posting body with the data API's headers.
// The body and token are JSON and base64url: no "]==]" in them.
func wrkScript(body []byte, token string) string {
	return fmt.Sprintf("wrk.method = \"POST\"\nwrk.body = [==[%s]==]\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.headers[\"Authorization\"] = [==[Bearer %s]==]\n", body, token)
}

func (w *wrkGen) run(ctx context.Context, name string, d time.Duration) (blockResult, error) {
	v, ok := w.variants[name]
	if !ok {
		return blockResult{}, fmt.Errorf("no variant %q", name)
	}
	secs := max(1, int(d.Round(time.Second).Seconds()))
	argv := []string{w.path, "-t1", "-c" + strconv.Itoa(w.conns), "-d" + strconv.Itoa(secs) + "s", "--timeout", "10s", "--latency",
		"-s", filepath.Join(w.dir, name+".lua"), v.url}
	if w.taskset != "" {
		argv = append([]string{w.taskset, "-c", "1"}, argv...)
	}
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		if ctx.Err() != nil {
			return blockResult{}, ctx.Err()
		}
		return blockResult{}, fmt.Errorf("wrk %s: %v: %s", name, err, out)
	}
	r, err := parseWrk(string(out))
	if err != nil {
		return blockResult{}, fmt.Errorf("wrk %s: %w", name, err)
	}
	return r, nil
}

// parseWrk reads requests per second, the 50th and 99th latency
// percentiles (--latency) and the errors (non-2xx/3xx answers, socket
// errors) from wrk's report.
func parseWrk(out string) (blockResult, error) {
	var r blockResult
	var haveRPS, have50, have99 bool
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "Requests/sec:":
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return r, fmt.Errorf("bad requests/sec %q", f[1])
			}
			r.rps, haveRPS = v, true
		case len(f) == 2 && (f[0] == "50%" || f[0] == "99%"):
			v, err := wrkDuration(f[1])
			if err != nil {
				return r, err
			}
			if f[0] == "50%" {
				r.p50, have50 = v, true
			} else {
				r.p99, have99 = v, true
			}
		case len(f) >= 3 && f[1] == "requests" && f[2] == "in":
			r.requests, _ = strconv.Atoi(f[0])
		case len(f) == 5 && f[0] == "Non-2xx":
			n, _ := strconv.Atoi(f[4])
			r.errors += n
		case len(f) >= 3 && f[0] == "Socket" && f[1] == "errors:":
			// Socket errors: connect 0, read 0, write 0, timeout 0
			for i := 2; i+1 < len(f); i += 2 {
				n, _ := strconv.Atoi(strings.TrimSuffix(f[i+1], ","))
				r.errors += n
			}
		}
	}
	if !haveRPS || !have50 || !have99 {
		return r, fmt.Errorf("unexpected output (run with --latency?): %q", out)
	}
	return r, nil
}

// wrkDuration converts wrk's "812.00us", "1.23ms", "2.00s", "1.00m" to
// milliseconds.
func wrkDuration(s string) (float64, error) {
	for _, u := range []struct {
		suffix string
		ms     float64
	}{{"us", 1e-3}, {"ms", 1}, {"m", 60e3}, {"s", 1e3}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, fmt.Errorf("bad latency %q", s)
			}
			return f * u.ms, nil
		}
	}
	return 0, fmt.Errorf("bad latency %q", s)
}
