package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestMakeBenchFailsOnMissedTarget runs the Makefile's bench-check (the last
// step of make bench) on sample output: a METRIC line that missed its target,
// or that names a target without judging it, fails; the rest passes. It
// also checks that bench no longer swallows failures with "|| true".
func TestMakeBenchFailsOnMissedTarget(t *testing.T) {
	mk := readRepoFile(t, "Makefile")
	bench := regexp.MustCompile(`(?ms)^bench:\n(.*?)\n\n`).FindStringSubmatch(mk)
	if bench == nil {
		t.Fatal("Makefile has no bench target")
	}
	if strings.Contains(bench[1], "|| true") || !strings.Contains(bench[1], "bench-check") {
		t.Fatalf("make bench must end in bench-check and not ignore failures:\n%s", bench[1])
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	tests := []struct {
		name, log string
		ok        bool
	}{
		{"all targets met", "METRIC a p99_ms=3 target_p99_ms=5 target_met=true\nMETRIC b n=1\nok  \tkeyport/x\t1.0s\n", true},
		{"no targets", "METRIC b n=1\n", true},
		{"one target missed", "METRIC a target_met=true\nMETRIC cold_miss p99_ms=70 target_p99_ms=60 target_met=false\n", false},
		{"missed at end of line", "METRIC cache_memory bytes_per_entry=2000 target_bytes=1024 target_met=false", false},
		{"target not judged", "METRIC cold_miss p99_ms=70 target_p99_ms=60\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := filepath.Join(t.TempDir(), "bench.log")
			if err := os.WriteFile(log, []byte(tt.log), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("make", "-s", "-C", filepath.Join("..", ".."), "bench-check", "BENCH_LOG="+log).CombinedOutput()
			var exit *exec.ExitError
			switch {
			case tt.ok && err != nil:
				t.Fatalf("bench-check failed: %v\n%s", err, out)
			case !tt.ok && !errors.As(err, &exit):
				t.Fatalf("bench-check passed a missed target (err %v)\n%s", err, out)
			case !tt.ok && !strings.Contains(string(out), "make bench: target"):
				t.Fatalf("bench-check gave no reason:\n%s", out)
			}
		})
	}
}

// TestMetricLinesWithTargetsJudgeThem reads every METRIC format string in the
// repository's tests: one that names a target_ field must also print
// target_met=, so bench-check can fail on it.
func TestMetricLinesWithTargetsJudgeThem(t *testing.T) {
	metric := regexp.MustCompile(`(?:Printf|Sprintf)\("METRIC [^"]*"`)
	root := filepath.Join("..", "..")
	n := 0
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, line := range metric.FindAllString(string(b), -1) {
			if !strings.Contains(line, " target_") {
				continue
			}
			n++
			if !strings.Contains(line, "target_met=") {
				t.Errorf("%s: METRIC line names a target but prints no target_met=: %s", path, line)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("found no METRIC line with a target; the scan is broken")
	}
}
