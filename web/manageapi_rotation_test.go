package web_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// Rotation policies, postponement and notices over the management API.
func TestManageAPIRotationPoliciesAndNotices(t *testing.T) {
	w := newManageKeysWorld(t)
	connA := w.accessKeyConnection(t, w.adminA, "Prod user")
	keyID, _ := w.registerAPIKey(t, w.adminA, connA, "ledger")
	path := "/keys/" + keyID + "/rotation-policy"

	def := w.call(t, http.MethodGet, path, w.auditorA, nil).want(t, http.StatusOK, "")
	if def.str("key_id") != keyID || def.Body["period_days"] != float64(365) || len(def.Body["notice_days"].([]any)) != 3 {
		t.Fatalf("default policy: %s", def.Raw)
	}

	policy := map[string]any{"period_days": 90, "notice_days": []int{3, 14}, "automatic": true, "window_start_hour": 3, "window_hours": 2}
	w.call(t, http.MethodPut, path, w.adminA, `{"period_days":90`).want(t, http.StatusBadRequest, "invalid_json")
	w.call(t, http.MethodPut, path, w.adminA, map[string]any{"period_days": 90, "notice_days": []int{}, "automatic": true, "cron": "x"}).
		want(t, http.StatusBadRequest, "invalid_json")
	w.call(t, http.MethodPut, path, w.adminA, map[string]any{"period_days": 0, "notice_days": []int{}, "automatic": true}).
		want(t, http.StatusBadRequest, "invalid_request")
	w.call(t, http.MethodPut, path, w.adminA, map[string]any{"period_days": 90, "notice_days": []int{120}, "automatic": true}).
		want(t, http.StatusBadRequest, "invalid_request")
	w.call(t, http.MethodPut, path, w.auditorA, policy).want(t, http.StatusForbidden, "forbidden")
	set := w.call(t, http.MethodPut, path, w.adminA, policy).want(t, http.StatusOK, "")
	nd, _ := set.Body["notice_days"].([]any)
	if set.Body["period_days"] != float64(90) || len(nd) != 2 || nd[0] != float64(14) || set.Body["window_start_hour"] != float64(3) ||
		set.Body["window_hours"] != float64(2) || set.Body["automatic"] != true {
		t.Fatalf("saved policy: %s", set.Raw)
	}
	// PUT is idempotent: the same policy again is the same answer.
	if again := w.call(t, http.MethodPut, path, w.adminA, policy).want(t, http.StatusOK, ""); string(again.Raw) != string(set.Raw) {
		t.Fatalf("the same PUT answered\n%s\nthen\n%s", set.Raw, again.Raw)
	}

	// Postpone within the provider's bound.
	w.call(t, http.MethodPost, "/keys/"+keyID+"/postpone", w.auditorA, map[string]any{"days": 5}).want(t, http.StatusForbidden, "forbidden")
	w.call(t, http.MethodPost, "/keys/"+keyID+"/postpone", w.adminA, map[string]any{"days": 400}).want(t, http.StatusBadRequest, "invalid_request")
	post := w.call(t, http.MethodPost, "/keys/"+keyID+"/postpone", w.adminA, map[string]any{"days": 5}).want(t, http.StatusOK, "")
	t0, _ := time.Parse(time.RFC3339, set.str("next_rotation_at"))
	t1, _ := time.Parse(time.RFC3339, post.str("next_rotation_at"))
	if post.Body["postponed_days"] != float64(5) || t1.Sub(t0) != 5*24*time.Hour || post.Body["max_postpone_days"] != set.Body["max_postpone_days"].(float64)-5 {
		t.Fatalf("postponed: %s (before %s)", post.Raw, set.Raw)
	}

	// Open notices: the two planned before the rotation, then the
	// "rotated" notice a rotation sends.
	planned := w.call(t, http.MethodGet, "/notices?state=planned", w.auditorA, nil).want(t, http.StatusOK, "").items()
	if len(planned) != 2 || planned[0]["lead_days"] != float64(14) || planned[0]["key_id"] != keyID {
		t.Fatalf("planned notices: %v", planned)
	}
	w.call(t, http.MethodGet, "/notices?state=cancelled", w.adminA, nil).want(t, http.StatusBadRequest, "invalid_request")
	w.call(t, http.MethodPost, "/keys/"+keyID+"/rotate", w.adminA, nil).want(t, http.StatusOK, "")
	sent := w.call(t, http.MethodGet, "/notices?state=sent", w.adminA, nil).want(t, http.StatusOK, "").items()
	if len(sent) != 1 || sent[0]["kind"] != "rotated" || sent[0]["sent_at"] == nil || sent[0]["acknowledged_at"] != nil {
		t.Fatalf("sent notices: %v", sent)
	}
	noticeID, _ := sent[0]["id"].(string)

	// Tenant B: none of A's notices or policies, and cannot touch them.
	before := w.call(t, http.MethodGet, path, w.adminA, nil).want(t, http.StatusOK, "")
	if got := w.call(t, http.MethodGet, "/notices", w.adminB, nil).want(t, http.StatusOK, "").items(); len(got) != 0 {
		t.Fatalf("tenant B sees notices: %v", got)
	}
	missing := w.call(t, http.MethodGet, "/keys/key_doesnotexist/rotation-policy", w.adminB, nil).want(t, http.StatusNotFound, "not_found")
	sameAnswer(t, "another tenant's policy", w.call(t, http.MethodGet, path, w.adminB, nil), missing)
	w.call(t, http.MethodPut, path, w.adminB, policy).want(t, http.StatusNotFound, "not_found")
	w.call(t, http.MethodPost, "/keys/"+keyID+"/postpone", w.adminB, map[string]any{"days": 1}).want(t, http.StatusNotFound, "not_found")
	w.call(t, http.MethodPost, "/notices/"+noticeID+"/acknowledge", w.adminB, nil).want(t, http.StatusNotFound, "not_found")
	w.call(t, http.MethodPost, "/notices/ntc_doesnotexist/acknowledge", w.adminA, nil).want(t, http.StatusNotFound, "not_found")
	cur := w.call(t, http.MethodGet, path, w.adminA, nil).want(t, http.StatusOK, "")
	if string(cur.Raw) != string(before.Raw) {
		t.Fatalf("tenant B changed A's policy:\n%s\n%s", before.Raw, cur.Raw)
	}

	// Acknowledging closes the notice; again changes nothing.
	w.call(t, http.MethodPost, "/notices/"+noticeID+"/acknowledge", w.auditorA, nil).want(t, http.StatusForbidden, "forbidden")
	ack := w.call(t, http.MethodPost, "/notices/"+noticeID+"/acknowledge", w.adminA, nil).want(t, http.StatusOK, "")
	if ack.Body["acknowledged_at"] == nil || ack.str("id") != noticeID {
		t.Fatalf("acknowledged: %s", ack.Raw)
	}
	if again := w.call(t, http.MethodPost, "/notices/"+noticeID+"/acknowledge", w.adminA, nil).want(t, http.StatusOK, ""); string(again.Raw) != string(ack.Raw) {
		t.Fatalf("second acknowledgement: %s", again.Raw)
	}
	for _, n := range w.call(t, http.MethodGet, "/notices", w.adminA, nil).items() {
		if n["id"] == noticeID {
			t.Fatal("an acknowledged notice is still open")
		}
	}

	acts := strings.Join(w.s.auditActions(t, w.tenantA), "\n")
	for _, a := range []string{"key.rotation_policy_set", "key.rotation_postponed", "key.notice_acknowledged"} {
		if strings.Count(acts, a) < 1 {
			t.Errorf("no %s in the audit log", a)
		}
	}
	if n := strings.Count(acts, "key.notice_acknowledged"); n != 1 {
		t.Errorf("%d acknowledgement events, want 1", n)
	}
}
