package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestCalendarTokenNeverLogged plants a live calendar feed token and asks
// for addresses that carry it but match no route (they fall through to
// /*): the access log must show the path with the token replaced, never
// the token (issue 17 #10).
func TestCalendarTokenNeverLogged(t *testing.T) {
	s := newStack(t, nil)
	b := newBrowser(t)
	s.signIn(t, b, dana)
	_, page := b.get(t, s.URL+"/rotations")
	_, page = b.post(t, s.URL+"/rotations/calendar", url.Values{"csrf_token": {csrfToken(t, page)}}, nil)
	m := feedTokenRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no calendar feed URL on the page")
	}
	token := m[1]
	if strings.Contains(s.Logs.String(), token) {
		t.Fatal("the token is in the log before the test asked for it")
	}

	for _, path := range []string{
		"/calendar/" + token + "/rotations.ics", // the route itself
		"/calendar/" + token,
		"/calendar/" + token + "/",
		"/calendar/" + token + "/rotations.ical",
		"/calendar/" + token + "/rotations.ics/more",
		"/calendar//" + token + "/rotations.ics",
		"/Calendar/" + token + "/rotations.ics",
	} {
		res, err := http.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	logs := s.Logs.String()
	if strings.Contains(logs, token) {
		for _, line := range strings.Split(logs, "\n") {
			if strings.Contains(line, token) {
				t.Errorf("token logged: %s", line)
			}
		}
	}
	// The lines are there, with the token's place marked.
	for _, want := range []string{`path=/calendar/:feed_token/rotations.ics route=/calendar/:feed_token/rotations.ics status=200`,
		`path=/calendar/:feed_token route=/* status=404`, `path=/calendar/:feed_token/rotations.ics/more route=/* status=404`,
		`path=/Calendar/:feed_token/rotations.ics route=/* status=404`} {
		if !regexp.MustCompile(regexp.QuoteMeta(want)).MatchString(logs) {
			t.Errorf("no access log line with %q", want)
		}
	}
}
