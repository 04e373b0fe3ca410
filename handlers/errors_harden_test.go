package handlers

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"keyport/keysvc/managed"
)

// TestImportRequestLimitAnswers: the import request limits (issue 17 #6)
// answer 429 with words the tenant can act on, on a page and in the API.
func TestImportRequestLimitAnswers(t *testing.T) {
	for _, c := range []struct {
		err        error
		page, code string
	}{
		{managed.ErrTooManyImportRequests, "wait for some to expire", "too_many_import_requests"},
		{managed.ErrImportRequestRate, "in the last hour", "import_request_rate"},
	} {
		err := fmt.Errorf("create import request: %w", c.err)
		if pr := problemFor(err); pr.Status != http.StatusTooManyRequests || !strings.Contains(pr.Message, c.page) {
			t.Errorf("%v: page %d %q", c.err, pr.Status, pr.Message)
		}
		if ae := APIErrorFor(err); ae.Status != http.StatusTooManyRequests || ae.Code != c.code {
			t.Errorf("%v: api %d %s", c.err, ae.Status, ae.Code)
		}
	}
}
