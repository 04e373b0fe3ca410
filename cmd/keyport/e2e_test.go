package main

import (
	"bufio"
	"context"
	"image/png"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"keyport/web/webtest"
)

// startDev runs `keyport dev` in-process, exactly as `make run` does, on a
// free port with its own data directory, and returns the printed URL.
func startDev(t *testing.T, env map[string]string) string {
	t.Helper()
	return startDevLines(t, env)[runningAt]
}

const runningAt = "keyport is running at "

// startDevLines is startDev returning the lines it printed up to and
// including runningAt, by prefix ("keyport metrics at ", runningAt, and
// each "demo NAME=" line).
func startDevLines(t *testing.T, env map[string]string) map[string]string {
	t.Helper()
	lines, _ := runDev(t, env)
	return lines
}

// runDev is startDevLines that also returns a function stopping keyport
// dev and waiting for it, for tests that restart it (it also stops at the
// end of the test).
func runDev(t *testing.T, env map[string]string) (map[string]string, func()) {
	t.Helper()
	vars := map[string]string{"KEYPORT_ADDR": "127.0.0.1:0", "KEYPORT_DATA_DIR": t.TempDir(), "KEYPORT_LOG_LEVEL": "warn"}
	for k, v := range env {
		vars[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"dev"}, envOf(vars), pw)
		pw.Close()
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("keyport dev stopped with: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	found := make(chan map[string]string, 1)
	go func() {
		lines := map[string]string{}
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			for _, prefix := range []string{"keyport metrics at ", runningAt} {
				if v, ok := strings.CutPrefix(sc.Text(), prefix); ok {
					lines[prefix] = v
				}
			}
			if strings.HasPrefix(sc.Text(), "demo ") {
				if name, v, ok := strings.Cut(sc.Text(), "="); ok {
					lines[name+"="] = v
				}
			}
			if lines[runningAt] != "" {
				found <- lines
				break
			}
		}
		io.Copy(io.Discard, pr)
	}()
	select {
	case l := <-found:
		return l, stop
	case err := <-done:
		t.Fatalf("keyport dev exited before serving: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("keyport dev did not print its URL within 30s")
	}
	return nil, stop
}

func TestBrowserSignIn(t *testing.T) {
	ctx := webtest.Browser(t, 90*time.Second)
	base := startDev(t, nil)

	var tenant, location, mail string
	err := chromedp.Do(ctx,
		chromedp.Navigate(base),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="signin-page"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="signin"]`)),
		// The development IdP's form: a real OIDC provider on another port.
		chromedp.WaitVisible(chromedp.CSS(`#email`)),
		chromedp.SendKeys(chromedp.CSS(`#email`), "carol@acme.test"),
		chromedp.SendKeys(chromedp.CSS(`#name`), "Carol Owner"),
		chromedp.Click(chromedp.CSS(`#signin`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="dashboard"]`)),
	)
	if err != nil {
		webtest.Screenshot(t, ctx, "signin-failed")
		t.Fatalf("sign in through the development IdP: %v", err)
	}
	tenant, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`[data-testid="tenant-name"]`)))
	if err != nil || tenant != "acme.test" {
		t.Errorf("tenant shown = %q, %v; want acme.test", tenant, err)
	}
	location, _ = chromedp.Run(ctx, chromedp.Location())
	if !strings.HasPrefix(location, base+"/dashboard") {
		t.Errorf("landed on %s", location)
	}
	path := webtest.Screenshot(t, ctx, "dashboard")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil || img.Bounds().Dx() < 800 {
		t.Errorf("screenshot is not a page-sized PNG: %v", err)
	}

	// The mail catcher page is there in development, empty so far.
	err = chromedp.Do(ctx,
		chromedp.Navigate(base+"/dev/mail"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="mail-empty"]`)),
	)
	if err != nil {
		t.Errorf("mail catcher page: %v", err)
	}

	// Sign out ends the session; the dashboard then asks to sign in again.
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="signout"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="signed-out"]`)),
		chromedp.Navigate(base+"/dashboard"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="signin-page"]`)),
	)
	if err != nil {
		webtest.Screenshot(t, ctx, "signout-failed")
		t.Errorf("sign out: %v", err)
	}
	mail, _ = chromedp.Run(ctx, chromedp.Location())
	if !strings.Contains(mail, "return_to=%2Fdashboard") {
		t.Errorf("after sign-out the dashboard went to %s", mail)
	}
}
