package web_test

import (
	"context"
	"testing"

	"keyport/keysvc"
	"keyport/models"
)

// TestDataKeyFetchNamesTokenAndRequest: issue 17 #25. A data-key fetch
// the data API caused is recorded under the service token that made the
// request (kind service_token, actor its id) with the request's id, the
// one the response's X-Request-Id names.
func TestDataKeyFetchNamesTokenAndRequest(t *testing.T) {
	s := newAPIStack(t, keysvc.Config{})
	ctx := context.Background()
	k := s.Key(t, "orders")
	all, err := s.DB.ListServiceTokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var tokID string
	for _, tok := range all {
		if tok.TenantID == s.Tenant.ID {
			tokID = tok.ID
		}
	}
	s.Service.PurgeKey(s.Tenant.ID, k.ID) // a cold cache: the encrypt fetches
	st, enc, hdr := s.call(t, "POST", "/api/v1/encrypt", s.TenantToken, map[string]any{"key_id": k.ID, "plaintext": b64("x")})
	if st != 200 {
		t.Fatalf("encrypt: %d %v", st, enc)
	}
	reqID := hdr.Get("X-Request-Id")
	if reqID == "" {
		t.Fatal("no X-Request-Id")
	}
	evs, err := s.DB.ListAudit(ctx, s.Tenant.ID, 50)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range evs {
		if e.Action != "key.datakey_fetch" || e.RequestID != reqID {
			continue
		}
		n++
		if e.ActorKind != models.ActorServiceToken || e.Actor != tokID {
			t.Errorf("fetch event by %s %q, want service_token %q", e.ActorKind, e.Actor, tokID)
		}
	}
	if n == 0 {
		for _, e := range evs {
			t.Logf("%s %s %s %q", e.Action, e.ActorKind, e.Actor, e.RequestID)
		}
		t.Fatalf("no key.datakey_fetch event with request id %q", reqID)
	}
}
