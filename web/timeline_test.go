package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"keyport/web/mailcatcher"
)

var timelineRowRE = regexp.MustCompile(`data-testid="timeline-row" data-kind="([a-z_]+)" data-version="(v[0-9]*)"`)

// timelineKinds reads the key page's timeline as "kind:version" entries.
func timelineKinds(page string) []string {
	var out []string
	for _, m := range timelineRowRE.FindAllStringSubmatch(page, -1) {
		out = append(out, m[1]+":"+m[2])
	}
	return out
}

// TestTimelineAndUndoOverHTTP is issue 14's undo sequence over HTTP:
// Create -> Renew -> Undo -> Rotate material in place, after which Undo
// renewal is neither offered nor accepted (it would bring back the KMS
// key the undo abandoned and discard the in-place rotation). The key
// page's timeline shows each step with its version and material, Rotate
// now makes a new data key (no KMS change) on a keyport key, and its email
// says so.
func TestTimelineAndUndoOverHTTP(t *testing.T) {
	s := lifecycleStack(t)
	b := newBrowser(t)
	s.signIn(t, b, erin)
	tenant := s.tenantOf(t, erin)
	ctx := context.Background()
	_, keyID := s.newStoreAndKey(t, b, "ledger")
	keyURL := s.URL + "/keys/" + keyID
	post := func(path string) (*http.Response, string) {
		t.Helper()
		_, pg := b.get(t, keyURL)
		return b.post(t, s.URL+path, url.Values{"csrf_token": {csrfToken(t, pg)}}, nil)
	}
	for _, step := range []struct{ path, done string }{{"/renew", "renew"}, {"/undo", "undo"}, {"/rotate-material", "rotate"}} {
		if res, _ := post("/keys/" + keyID + step.path); res.Request.URL.Query().Get("done") != step.done {
			t.Fatalf("%s: %d %s", step.path, res.StatusCode, res.Request.URL)
		}
	}
	regions, _ := s.DB.KeyRegions(ctx, tenant, keyID)
	arn := regions[0].KMSKeyARN
	_, page := b.get(t, keyURL)
	if strings.Contains(page, `data-testid="undo"`) {
		t.Fatal("Undo renewal is offered after Create, Renew, Undo, Rotate material in place")
	}
	// Refused by the service too, not only hidden: nothing changes.
	res, body := post("/keys/" + keyID + "/undo")
	if res.StatusCode < 400 || !strings.Contains(body, "no renewal to undo") {
		t.Fatalf("undo after an in-place rotation answered %d:\n%s", res.StatusCode, body)
	}
	k, _ := s.DB.GetKey(ctx, tenant, keyID)
	if regions, _ = s.DB.KeyRegions(ctx, tenant, keyID); regions[0].KMSKeyARN != arn || k.CurrentVersion != 4 {
		t.Fatalf("after the refused undo: KMS key %s (was %s), version %d (want 4)", regions[0].KMSKeyARN, arn, k.CurrentVersion)
	}
	_, rot := b.get(t, keyURL+"/rotate")
	if !strings.Contains(rot, `data-testid="option-undo-none"`) || strings.Contains(rot, `data-testid="option-undo-go"`) {
		t.Fatal("the Rotate page offers Undo renewal after the in-place rotation")
	}

	// Rotate now on a keyport key: a new data key, v5, under the same KMS key.
	res, _ = b.post(t, keyURL+"/rotate", url.Values{"csrf_token": {csrfToken(t, rot)}, "from_version": {"4"}}, nil)
	if res.StatusCode != http.StatusOK || res.Request.URL.Query().Get("done") != "rotated" {
		t.Fatalf("rotate now: %d %s", res.StatusCode, res.Request.URL)
	}
	mats, _ := s.DB.KeyMaterials(ctx, tenant, keyID)
	if regions, _ = s.DB.KeyRegions(ctx, tenant, keyID); regions[0].KMSKeyARN != arn || len(mats) != 3 {
		t.Fatalf("Rotate now changed KMS: key %s (was %s), %d materials (want 3)", regions[0].KMSKeyARN, arn, len(mats))
	}
	s.Jobs.RunDue(ctx)
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	m, err := s.Mail.WaitFor(wctx, func(m mailcatcher.Message) bool { return m.Subject == "Key ledger was rotated to version 5" })
	if err != nil || !strings.Contains(m.Text, "nothing changed in your AWS account") || strings.Contains(m.Text, "renewal") {
		t.Fatalf("rotated email: %v\n%s", err, m.Text)
	}

	_, page = b.get(t, keyURL)
	got := strings.Join(timelineKinds(page), " ")
	if want := "created:v1 renewal:v2 undo:v3 in_place:v4 data_key:v5"; got != want {
		t.Fatalf("timeline %q, want %q", got, want)
	}
	if !strings.Contains(page, `data-testid="quotable-current">v5<`) {
		t.Error("the page does not explain the quotable version v5")
	}
	// v1 and v3 are material 1 in the first KMS key; v4 and v5 material 3 in the same one.
	mat := regexp.MustCompile(`data-version="(v[0-9])"[^§]*?data-testid="timeline-material"><span title="[^"]*">([^<]*)<`)
	labels := map[string]string{}
	for _, x := range mat.FindAllStringSubmatch(page, -1) {
		labels[x[1]] = x[2]
	}
	if labels["v1"] != labels["v3"] || !strings.HasPrefix(labels["v1"], "material 1 (KMS key ") || !strings.HasPrefix(labels["v2"], "material 2 ") ||
		labels["v4"] != labels["v5"] || !strings.HasPrefix(labels["v4"], "material 3 (KMS key ") || labels["v4"][len("material 3"):] != labels["v1"][len("material 1"):] {
		t.Fatalf("timeline materials: %v", labels)
	}
}

// TestRotateOptionsPerKind: the Rotate page offers only what the key's
// kind allows, and explains the rest.
func TestRotateOptionsPerKind(t *testing.T) {
	s := lifecycleStack(t)
	b := newBrowser(t)
	s.signIn(t, b, erin)
	_, keyID := s.newStoreAndKey(t, b, "payroll")
	_, page := b.get(t, s.URL+"/keys/"+keyID+"/rotate")
	for _, want := range []string{`data-testid="option-rotate-go"`, `data-testid="option-renew-go"`, `data-testid="option-rotate-material-go"`,
		`data-testid="option-undo-none"`, "What it costs in AWS", "Can it be undone"} {
		if !strings.Contains(page, want) {
			t.Errorf("the Rotate page of a keyport key lacks %s", want)
		}
	}
	for _, absent := range []string{`data-testid="option-kms-material-go"`, `data-testid="option-kms-auto-go"`, `data-testid="option-undo-go"`} {
		if strings.Contains(page, absent) {
			t.Errorf("the Rotate page of a keyport key offers %s", absent)
		}
	}
	if strings.Count(page, `data-testid="option-not-offered"`) != 2 {
		t.Errorf("want the two KMS-only options explained as not available")
	}
	_, key := b.get(t, s.URL+"/keys/"+keyID)
	_, _ = b.post(t, s.URL+"/keys/"+keyID+"/renew", url.Values{"csrf_token": {csrfToken(t, key)}}, nil)
	if _, page = b.get(t, s.URL+"/keys/"+keyID+"/rotate"); !strings.Contains(page, `data-testid="option-undo-go"`) {
		t.Error("after a renewal the Rotate page does not offer Undo renewal")
	}
}
