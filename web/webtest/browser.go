// Package webtest holds helpers for keyport's browser tests: a headless
// Debian Chromium driven through chromedp, with the flags this machine needs.
package webtest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath finds Debian's chromium.
func chromiumPath() string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Browser starts a fresh headless Chromium (new user data directory) and
// returns a chromedp context for one tab, cancelled at the end of the test.
// Without Chromium the test is skipped with a clear message, or fails when
// KEYPORT_E2E=1 (as in CI), so a missing browser cannot pass silently.
func Browser(tb testing.TB, timeout time.Duration) context.Context {
	tb.Helper()
	path := chromiumPath()
	if path == "" {
		if os.Getenv("KEYPORT_E2E") == "1" {
			tb.Fatal("browser test: chromium not found and KEYPORT_E2E=1; install it with 'apt-get install -y chromium'")
		}
		tb.Skip("browser test skipped: chromium not found (apt-get install -y chromium; set KEYPORT_E2E=1 to make this a failure)")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(tb.TempDir()),
		chromedp.WindowSize(1366, 900),
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	tb.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	tb.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	tb.Cleanup(bcancel)
	// Start the browser now, on this context: chromedp ties the browser to
	// the context of its first run, and a caller's shorter per-step timeout
	// must not take the whole browser down with it.
	if err := chromedp.Do(bctx); err != nil {
		tb.Fatalf("start chromium: %v", err)
	}
	return bctx
}

// Screenshot saves a full-page PNG under KEYPORT_SCREENSHOTS (default
// screenshots/ in the system temp directory) and returns its path.
func Screenshot(tb testing.TB, ctx context.Context, name string) string {
	tb.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100 gives PNG; lower qualities give JPEG
	if err != nil {
		tb.Fatalf("screenshot %s: %v", name, err)
	}
	dir := os.Getenv("KEYPORT_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "keyport-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("screenshot: %s (%d bytes)", path, len(png))
	return path
}
