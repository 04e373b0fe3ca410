package webtest_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"keyport/web/webtest"
)

// a11yGood has everything the check asks for.
const a11yGood = `<!DOCTYPE html><html lang="en"><head><title>Good</title></head><body>
<header><nav aria-label="Main"><a href="/">Home</a></nav></header>
<main><h1>Keys</h1><h2>Filter</h2>
<form><label for="q">Search</label><input id="q" name="q">
<input name="n" aria-label="Name"><button type="submit">Go</button></form>
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="logo">
<p style="color:#595959;background:#fff">Grey enough text.</p></main>
</body></html>`

// a11yBad breaks one rule per element: an unlabelled field, a nameless
// button, an image without alt, a skipped heading level, pale text, and no
// banner, navigation or main landmark.
const a11yBad = `<!DOCTYPE html><html lang="en"><head><title>Bad</title></head><body>
<div><h1>Keys</h1><h3>Filter</h3>
<form><input id="q" name="q"><button type="submit"></button></form>
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">
<p style="color:#aaa;background:#fff">Too pale text.</p></div>
</body></html>`

// TestCheckA11y proves the check finds each kind of failure it promises
// and passes a page without them, in the same Chromium the web tests use.
func TestCheckA11y(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		// keyport's own policy: the check must run under it.
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'")
		if r.URL.Path == "/bad" {
			w.Write([]byte(a11yBad))
			return
		}
		w.Write([]byte(a11yGood))
	}))
	defer srv.Close()
	ctx := webtest.Browser(t, 60*time.Second)
	p := webtest.Page{T: t, Ctx: ctx, Prefix: "a11y-self-"}

	p.Step("good page", chromedp.Navigate(srv.URL+"/good"))
	vs, err := webtest.CheckA11y(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 0 {
		t.Errorf("the good page has violations: %v", vs)
	}

	p.Step("bad page", chromedp.Navigate(srv.URL+"/bad"))
	vs, err = webtest.CheckA11y(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var rules []string
	for _, v := range vs {
		rules = append(rules, v.Rule)
	}
	for _, want := range []string{"label", "button-name", "image-alt", "heading-order", "color-contrast",
		"landmark-one-main", "region", "keyport-banner", "keyport-one-main"} {
		if !slices.Contains(rules, want) {
			t.Errorf("the bad page's violations miss %s: %v", want, vs)
		}
	}
}
