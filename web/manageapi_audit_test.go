package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestManageAPIAudit(t *testing.T) {
	w := newManageWorld(t)
	// Some events in both tenants.
	for i := range 3 {
		w.call(t, http.MethodPost, "/connections", w.adminA, map[string]any{"name": "A" + string(rune('0'+i)), "kind": "role", "role_arn": awsRoleARN}).
			want(t, http.StatusCreated, "")
	}
	w.call(t, http.MethodPost, "/connections", w.adminB, map[string]any{"name": "B secret name", "kind": "role", "role_arn": awsRoleARN}).
		want(t, http.StatusCreated, "")

	all := w.call(t, http.MethodGet, "/audit", w.auditorA, nil).want(t, http.StatusOK, "")
	if strings.Contains(string(all.Raw), "B secret name") || strings.Contains(string(all.Raw), w.tenantB) {
		t.Fatalf("tenant A's log shows tenant B: %s", all.Raw)
	}
	items := all.items()
	if len(items) < 5 || items[0]["action"] != "connection.created" || items[0]["actor_kind"] != "api_key" {
		t.Fatalf("audit: %s", all.Raw)
	}
	// seq is the tenant's own numbering: newest first, no gaps.
	for i := 1; i < len(items); i++ {
		if items[i-1]["seq"].(float64) != items[i]["seq"].(float64)+1 {
			t.Fatalf("seq not consecutive: %s", all.Raw)
		}
	}

	// Filters: action, actor, target, period.
	f := w.call(t, http.MethodGet, "/audit?action=connection.created&actor="+keyID(w.adminA), w.adminA, nil).want(t, http.StatusOK, "")
	if len(f.items()) != 3 {
		t.Fatalf("filtered: %s", f.Raw)
	}
	target := f.items()[0]["target_id"].(string)
	if g := w.call(t, http.MethodGet, "/audit?target_type=connection&target_id="+target, w.adminA, nil).want(t, http.StatusOK, ""); len(g.items()) != 1 {
		t.Fatalf("by target: %s", g.Raw)
	}
	day := w.s.Clock.Now().UTC().Format(time.DateOnly)
	if g := w.call(t, http.MethodGet, "/audit?from="+day+"&to="+day, w.adminA, nil).want(t, http.StatusOK, ""); len(g.items()) != len(items) {
		t.Fatalf("today: %d of %d", len(g.items()), len(items))
	}
	tomorrow := w.s.Clock.Now().UTC().Add(24 * time.Hour).Format(time.DateOnly)
	if g := w.call(t, http.MethodGet, "/audit?from="+tomorrow, w.adminA, nil).want(t, http.StatusOK, ""); len(g.items()) != 0 {
		t.Fatalf("tomorrow: %s", g.Raw)
	}
	w.call(t, http.MethodGet, "/audit?from=yesterday", w.adminA, nil).want(t, http.StatusBadRequest, "invalid_request")
	w.call(t, http.MethodGet, "/audit?cursor=!!", w.adminA, nil).want(t, http.StatusBadRequest, "invalid_request")

	// The cursor walks every event once.
	seen, cursor, pages := map[float64]bool{}, "", 0
	for {
		q := url.Values{"limit": {"2"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		p := w.call(t, http.MethodGet, "/audit?"+q.Encode(), w.adminA, nil).want(t, http.StatusOK, "")
		pages++
		for _, it := range p.items() {
			if seen[it["seq"].(float64)] {
				t.Fatalf("seq %v twice", it["seq"])
			}
			seen[it["seq"].(float64)] = true
		}
		if cursor = p.str("next_cursor"); cursor == "" || pages > 20 {
			break
		}
	}
	if len(seen) < len(items) {
		t.Fatalf("paging saw %d events, the list %d", len(seen), len(items))
	}

	// Verification covers this tenant's events only, once per 30 s.
	v := w.call(t, http.MethodGet, "/audit/verify", w.auditorA, nil).want(t, http.StatusOK, "")
	checked := v.Body["events_checked"].(float64)
	if v.Body["ok"] != true || checked < float64(len(items)) {
		t.Fatalf("verify: %s (list has %d)", v.Raw, len(items))
	}
	w.call(t, http.MethodGet, "/audit/verify", w.auditorA, nil).want(t, http.StatusTooManyRequests, "rate_limited")
	vb := w.call(t, http.MethodGet, "/audit/verify", w.adminB, nil).want(t, http.StatusOK, "")
	if vb.Body["events_checked"].(float64) >= checked {
		t.Fatalf("tenant B checked %v events, A %v: not its own chain only", vb.Body["events_checked"], checked)
	}
	w.s.Clock.Advance(31 * time.Second)
	w.call(t, http.MethodGet, "/audit/verify", w.adminA, nil).want(t, http.StatusOK, "")
	if _, ok := w.keyEvents(t, w.tenantA, w.auditorA)["audit.chain_verified"]; !ok {
		t.Error("the verification is not in the audit log")
	}
}

func TestManageAPIReports(t *testing.T) {
	w := newManageWorld(t)
	keyA := w.generatedKey(t, w.tenantA, w.ownerA, "Alpha reported")
	w.generatedKey(t, w.tenantB, w.ownerB, "Beta unreported")

	inv := w.call(t, http.MethodGet, "/reports/inventory", w.auditorA, nil).want(t, http.StatusOK, "")
	keys, _ := inv.Body["keys"].([]any)
	if len(keys) != 1 || keys[0].(map[string]any)["id"] != keyA || strings.Contains(string(inv.Raw), "Beta unreported") {
		t.Fatalf("inventory: %s", inv.Raw)
	}
	val := w.call(t, http.MethodGet, "/reports/validation", w.auditorA, nil).want(t, http.StatusOK, "")
	if val.str("verdict") == "" || strings.Contains(string(val.Raw), "Beta unreported") {
		t.Fatalf("validation: %s", val.Raw)
	}
	act := w.call(t, http.MethodGet, "/reports/activity", w.adminA, nil).want(t, http.StatusOK, "")
	evs, _ := act.Body["events"].([]any)
	if len(evs) == 0 || strings.Contains(string(act.Raw), w.tenantB) {
		t.Fatalf("activity: %s", act.Raw)
	}
	w.call(t, http.MethodGet, "/reports/activity?from=2026-13-01", w.adminA, nil).want(t, http.StatusBadRequest, "invalid_request")
	w.call(t, http.MethodGet, "/reports/activity?from=2026-02-02&to=2026-02-01", w.adminA, nil).want(t, http.StatusBadRequest, "invalid_request")
	day := w.s.Clock.Now().UTC().Format(time.DateOnly)
	if a := w.call(t, http.MethodGet, "/reports/activity?from="+day+"&to="+day, w.adminA, nil).want(t, http.StatusOK, ""); len(a.Body["events"].([]any)) == 0 {
		t.Fatalf("today's activity: %s", a.Raw)
	}
	// Tenant B's reports hold only B.
	b := w.call(t, http.MethodGet, "/reports/inventory", w.adminB, nil).want(t, http.StatusOK, "")
	if strings.Contains(string(b.Raw), keyA) || strings.Contains(string(b.Raw), "Alpha reported") {
		t.Fatalf("tenant B's inventory shows A: %s", b.Raw)
	}
	if _, ok := w.keyEvents(t, w.tenantA, w.auditorA)["report.downloaded"]; !ok {
		t.Error("the report request is not in the audit log")
	}
}
