package webhooks_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"keyport/keysvc/webhooks"
	"keyport/models"
)

func TestDeliverySignedToTLSReceiver(t *testing.T) {
	rc := newReceiver(t)
	w := newWorld(t, webhooks.Options{Dev: true, RootCAs: rc.pool()})
	ctx := context.Background()
	ep, secret, err := w.svc.CreateEndpoint(ctx, w.tenant, w.by, rc.srv.URL+"/hooks", []string{models.WebhookMemberAdded, models.WebhookMemberRemoved})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, "whsec_") || !strings.HasPrefix(ep.ID, "whe_") {
		t.Fatalf("secret %q... id %q", secret[:6], ep.ID)
	}
	if raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_")); err != nil || len(raw) != 32 {
		t.Fatalf("secret is not base64 of 32 bytes: %v", err)
	}
	rc.secret = secret
	// The secret is never readable again: not in the endpoint, not in
	// its log form, not in the audit log.
	got, _ := w.svc.Get(ctx, w.tenant, ep.ID)
	evs, _ := w.db.ListAudit(ctx, w.tenant, 50)
	blob, _ := json.Marshal(evs)
	for _, s := range []string{got.String(), string(got.SecretSealed), string(blob)} {
		if strings.Contains(s, strings.TrimPrefix(secret, "whsec_")) {
			t.Fatal("the secret is readable after creation")
		}
	}

	// A test event and a real change (a member added, through the store
	// path the members page uses) both arrive, signed.
	if err := w.svc.SendTest(ctx, w.tenant, w.by, ep.ID); err != nil {
		t.Fatal(err)
	}
	u, _, err := w.db.UpsertOIDCUser(ctx, "https://idp.test", "bob", "bob@acme.test", "Bob")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.db.AddMember(ctx, w.tenant, u.ID, models.RoleAuditor, w.owner, models.AuditInput{Actor: w.owner}); err != nil {
		t.Fatal(err)
	}
	w.run(t)
	if rc.badSigs != 0 || len(rc.got) != 2 {
		t.Fatalf("receiver got %d verified messages, %d with bad signatures; want 2 and 0", len(rc.got), rc.badSigs)
	}
	types := map[string]received{}
	for _, m := range rc.got {
		types[m.Body["type"].(string)] = m
		if !strings.HasPrefix(m.ID, "msg_") {
			t.Errorf("webhook-id %q", m.ID)
		}
	}
	added, ok := types[models.WebhookMemberAdded]
	if !ok || types[models.WebhookTest].ID == "" {
		t.Fatalf("got types %v, want member.added and webhook.test", types)
	}
	data := added.Body["data"].(map[string]any)
	if data["target_id"] != u.ID || data["tenant_id"] != w.tenant || data["action"] != "member.added" {
		t.Errorf("member.added data = %v", data)
	}
	ds := w.deliveries(t, ep.ID)
	if len(ds) != 2 {
		t.Fatalf("%d deliveries, want 2", len(ds))
	}
	for _, d := range ds {
		if d.State != models.WebhookDelivered || len(d.AttemptList) != 1 || d.AttemptList[0].StatusCode != http.StatusNoContent {
			t.Errorf("delivery %s: state %s, attempts %+v", d.EventType, d.State, d.AttemptList)
		}
	}

	// After rotation the old secret no longer verifies, the new one does.
	secret2, err := w.svc.RotateSecret(ctx, w.tenant, w.by, ep.ID)
	if err != nil || secret2 == secret {
		t.Fatalf("rotate: %v", err)
	}
	if err := w.db.RemoveMember(ctx, w.tenant, u.ID, false, models.AuditInput{Actor: w.owner}); err != nil {
		t.Fatal(err)
	}
	w.run(t)
	if rc.badSigs != 1 {
		t.Fatalf("with the old secret the receiver refused %d, want 1", rc.badSigs)
	}
	rc.secret = secret2
	w.clk.Advance(10 * time.Second) // past the first retry's backoff
	w.run(t)
	if len(rc.got) != 3 || rc.got[2].Body["type"] != models.WebhookMemberRemoved {
		t.Fatalf("after rotation got %d messages", len(rc.got))
	}
}

func TestRetriesAfter500sAndTimeouts(t *testing.T) {
	rc := newReceiver(t)
	// No backoff: each retry is due at once, so one RunDue makes them all.
	w := newWorld(t, webhooks.Options{Dev: true, RootCAs: rc.pool(), Backoff: []time.Duration{0}, AttemptTimeout: 300 * time.Millisecond})
	ctx := context.Background()
	ep, secret, err := w.svc.CreateEndpoint(ctx, w.tenant, w.by, rc.srv.URL, []string{models.WebhookTest})
	if err != nil {
		t.Fatal(err)
	}
	rc.secret = secret
	slow := func(w http.ResponseWriter, r *http.Request) {
		select { // longer than the attempt timeout: keyport gives up first
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}
	redirect := func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/elsewhere", http.StatusFound) }
	rc.script = append(rc.script, status(500), slow, redirect, status(503))
	if err := w.svc.SendTest(ctx, w.tenant, w.by, ep.ID); err != nil {
		t.Fatal(err)
	}
	w.run(t)
	ds := w.deliveries(t, ep.ID)
	if len(ds) != 1 {
		t.Fatalf("%d deliveries", len(ds))
	}
	d := ds[0]
	if d.State != models.WebhookDelivered || d.Attempts != 5 || len(d.AttemptList) != 5 {
		t.Fatalf("state %s after %d attempts (%+v), want delivered after 5", d.State, d.Attempts, d.AttemptList)
	}
	a := d.AttemptList
	// A redirect is not followed: it is a failed attempt like any non-2xx.
	if a[0].StatusCode != 500 || a[1].StatusCode != 0 || !strings.Contains(a[1].Error, "no answer within") ||
		a[2].StatusCode != http.StatusFound || a[3].StatusCode != 503 || a[4].StatusCode != 204 || a[4].Error != "" {
		t.Errorf("attempts = %+v", a)
	}
	if len(rc.got) != 1 || rc.got[0].ID != d.ID || rc.calls != 5 {
		t.Errorf("receiver verified %d messages of %d requests", len(rc.got), rc.calls)
	}
}

func TestGivesUpAfterTheWindow(t *testing.T) {
	rc := newReceiver(t)
	w := newWorld(t, webhooks.Options{Dev: true, RootCAs: rc.pool()})
	ctx := context.Background()
	ep, secret, err := w.svc.CreateEndpoint(ctx, w.tenant, w.by, rc.srv.URL, []string{models.WebhookTest})
	if err != nil {
		t.Fatal(err)
	}
	rc.secret = secret
	for range 10 {
		rc.script = append(rc.script, status(500))
	}
	if err := w.svc.SendTest(ctx, w.tenant, w.by, ep.ID); err != nil {
		t.Fatal(err)
	}
	w.run(t)
	d := w.deliveries(t, ep.ID)[0]
	if d.State != models.WebhookPending || d.Attempts != 1 || d.NextAttemptAt == nil || !d.NextAttemptAt.Equal(w.clk.Now().Add(5*time.Second)) {
		t.Fatalf("after one 500: %s, %d attempts, next %v (want now+5s)", d.State, d.Attempts, d.NextAttemptAt)
	}
	w.clk.Advance(24*time.Hour - 5*time.Second)
	w.run(t)
	d = w.deliveries(t, ep.ID)[0]
	if d.State != models.WebhookPending || d.NextAttemptAt == nil || !d.NextAttemptAt.Equal(d.CreatedAt.Add(24*time.Hour)) {
		t.Fatalf("5s before 24h: %s, next %v, want the last attempt at 24h", d.State, d.NextAttemptAt)
	}
	w.clk.Advance(5 * time.Second)
	w.run(t)
	d = w.deliveries(t, ep.ID)[0]
	if d.State != models.WebhookFailed || d.Attempts != 3 || d.FinishedAt == nil {
		t.Fatalf("after 24h: %s after %d attempts, want failed after 3", d.State, d.Attempts)
	}
	if j, err := w.db.JobByRunKey(ctx, "webhook:"+d.ID); err != nil || j.State != models.JobDone {
		t.Fatalf("job %+v, %v", j, err)
	}
}

func TestRegistrationRefusesPrivateAddresses(t *testing.T) {
	l := &lookups{names: map[string][]string{
		"public.test": {"93.184.215.14"}, "loop.test": {"127.0.0.1"}, "meta.test": {"169.254.169.254"},
		"ten.test": {"10.1.2.3"}, "home.test": {"192.168.1.10"}, "corp.test": {"172.20.0.1"}, "cgnat.test": {"100.64.1.1"},
		"v6loop.test": {"::1"}, "ula.test": {"fd12:3456::1"}, "ec2v6.test": {"fd00:ec2::254"}, "mapped.test": {"::ffff:127.0.0.1"},
		"mapped10.test": {"::ffff:10.0.0.1"}, "nat64.test": {"64:ff9b::a9fe:a9fe"}, "ll6.test": {"fe80::1"}, "zero.test": {"0.0.0.0"},
		"mcast.test": {"239.1.1.1"},
	}}
	w := newWorld(t, webhooks.Options{LookupIP: l.lookup})
	ctx := context.Background()
	refused := []string{
		"https://loop.test/hook", "https://meta.test/latest/meta-data", "https://ten.test/", "https://home.test/", "https://corp.test/",
		"https://cgnat.test/", "https://v6loop.test/", "https://ula.test/", "https://ec2v6.test/", "https://mapped.test/",
		"https://mapped10.test/", "https://nat64.test/", "https://ll6.test/", "https://zero.test/", "https://mcast.test/",
		"https://127.0.0.1/", "https://[::1]:8443/", "https://169.254.169.254/latest", "https://[::ffff:169.254.169.254]/",
		"https://[fd00:ec2::254]/", "https://10.0.0.1/",
		"http://public.test/hook",          // https only outside development
		"https://user:pw@public.test/hook", // no credentials in URLs
		"ftp://public.test/", "https://nowhere.test/", "not a url", "",
	}
	for _, u := range refused {
		_, _, err := w.svc.CreateEndpoint(ctx, w.tenant, w.by, u, []string{models.WebhookTest})
		var ve *models.ValidationError
		if !errors.As(err, &ve) || ve.Field != "url" {
			t.Errorf("CreateEndpoint(%q) = %v, want a refusal of the url", u, err)
		}
	}
	if _, _, err := w.svc.CreateEndpoint(ctx, w.tenant, w.by, "https://public.test/hook", []string{"key.made_up"}); err == nil {
		t.Error("an unknown event type was accepted")
	}
	ep, _, err := w.svc.CreateEndpoint(ctx, w.tenant, w.by, "https://public.test/hook", []string{models.WebhookKeyRotated})
	if err != nil {
		t.Fatalf("a public https endpoint was refused: %v", err)
	}
	// Changing the URL is checked the same way.
	bad := "https://meta.test/"
	if _, err := w.svc.Update(ctx, w.tenant, w.by, ep.ID, webhooks.Update{URL: &bad}); err == nil {
		t.Error("an update to a metadata address was accepted")
	}
	if eps, _ := w.svc.List(ctx, w.tenant); len(eps) != 1 || eps[0].URL != "https://public.test/hook" {
		t.Errorf("endpoints = %v", eps)
	}
}

func TestConnectTimeRefusesRebinding(t *testing.T) {
	rc := newReceiver(t)
	_, port, _ := strings.Cut(strings.TrimPrefix(rc.srv.URL, "https://"), ":")
	// Public when registered, loopback (where the receiver listens) when
	// keyport connects.
	l := &lookups{names: map[string][]string{"rebind.test": {"93.184.215.14", "127.0.0.1"}}}
	w := newWorld(t, webhooks.Options{LookupIP: l.lookup, RootCAs: rc.pool(), Backoff: []time.Duration{time.Hour}})
	ctx := context.Background()
	ep, secret, err := w.svc.CreateEndpoint(ctx, w.tenant, w.by, "https://rebind.test:"+port+"/hook", []string{models.WebhookTest})
	if err != nil {
		t.Fatal(err)
	}
	rc.secret = secret
	if err := w.svc.SendTest(ctx, w.tenant, w.by, ep.ID); err != nil {
		t.Fatal(err)
	}
	w.run(t)
	d := w.deliveries(t, ep.ID)[0]
	if rc.calls != 0 {
		t.Fatalf("the receiver on loopback was reached %d times", rc.calls)
	}
	if d.State != models.WebhookPending || len(d.AttemptList) != 1 || !strings.Contains(d.AttemptList[0].Error, "loopback address") {
		t.Fatalf("delivery %s, attempts %+v; want a refused attempt", d.State, d.AttemptList)
	}
	if strings.Contains(d.AttemptList[0].Error, "rebind.test") {
		t.Error("the attempt's error shows the URL")
	}
}

func TestDeleteEndsDeliveriesAndIsTenantScoped(t *testing.T) {
	rc := newReceiver(t)
	w := newWorld(t, webhooks.Options{Dev: true, RootCAs: rc.pool()})
	ctx := context.Background()
	ep, _, err := w.svc.CreateEndpoint(ctx, w.tenant, w.by, rc.srv.URL, []string{models.WebhookTest})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.svc.SendTest(ctx, "tnt_other", w.by, ep.ID); !errors.Is(err, models.ErrNotFound) {
		t.Errorf("another tenant's test: %v, want not found", err)
	}
	if _, err := w.svc.ListDeliveries(ctx, "tnt_other", ep.ID, 10); !errors.Is(err, models.ErrNotFound) {
		t.Errorf("another tenant's deliveries: %v", err)
	}
	if err := w.svc.Delete(ctx, "tnt_other", w.by, ep.ID); !errors.Is(err, models.ErrNotFound) {
		t.Errorf("another tenant's delete: %v", err)
	}
	if err := w.svc.SendTest(ctx, w.tenant, w.by, ep.ID); err != nil {
		t.Fatal(err)
	}
	if err := w.svc.Delete(ctx, w.tenant, w.by, ep.ID); err != nil {
		t.Fatal(err)
	}
	w.run(t)
	if rc.calls != 0 {
		t.Errorf("a deleted endpoint got %d requests", rc.calls)
	}
	evs, _ := w.db.ListAudit(ctx, w.tenant, 20)
	var actions []string
	for _, e := range evs {
		actions = append(actions, e.Action)
	}
	got := strings.Join(actions, " ")
	for _, a := range []string{"webhook.endpoint_created", "webhook.test_sent", "webhook.endpoint_deleted"} {
		if !strings.Contains(got, a) {
			t.Errorf("audit log %q lacks %s", got, a)
		}
	}
}

func TestDeliveriesPage(t *testing.T) {
	w := newWorld(t, webhooks.Options{Dev: true})
	ctx := context.Background()
	ep, _, err := w.svc.CreateEndpoint(ctx, w.tenant, w.by, "https://127.0.0.1:1/", []string{models.WebhookTest})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := w.svc.SendTest(ctx, w.tenant, w.by, ep.ID); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	cursor, pages := "", 0
	for {
		ds, next, err := w.svc.ListDeliveriesPage(ctx, w.tenant, ep.ID, cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, d := range ds {
			if seen[d.ID] {
				t.Fatalf("delivery %s on two pages", d.ID)
			}
			seen[d.ID] = true
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if len(seen) != 5 || pages != 3 {
		t.Errorf("%d deliveries over %d pages, want 5 over 3", len(seen), pages)
	}
	if _, _, err := w.svc.ListDeliveriesPage(ctx, "tnt_other", ep.ID, "", 2); !errors.Is(err, models.ErrNotFound) {
		t.Errorf("another tenant's page: %v", err)
	}
}
