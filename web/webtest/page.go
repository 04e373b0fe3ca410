package webtest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Page drives a browser tab for one test: named steps that save a
// screenshot (Prefix + name) and stop the test when they fail, and reads of
// what the page shows.
type Page struct {
	T      testing.TB
	Ctx    context.Context
	Prefix string
}

// Step runs acts within 30 seconds.
func (p Page) Step(name string, acts ...chromedp.Action[chromedp.Void]) {
	p.T.Helper()
	sctx, cancel := context.WithTimeout(p.Ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, acts...); err != nil {
		Screenshot(p.T, p.Ctx, p.Prefix+name)
		p.T.Fatalf("%s: %v", name, err)
	}
}

// Text is the trimmed text of the first element matching sel.
func (p Page) Text(sel string) string {
	p.T.Helper()
	s, err := chromedp.Run(p.Ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		p.T.Fatalf("read %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// Count is the number of elements matching sel.
func (p Page) Count(sel string) int {
	p.T.Helper()
	n, err := chromedp.Run(p.Ctx, chromedp.Evaluate[int](`document.querySelectorAll(`+jsString(sel)+`).length`))
	if err != nil {
		p.T.Fatalf("count %s: %v", sel, err)
	}
	return n
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`).Replace(s) + "'"
}
