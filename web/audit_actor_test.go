package web_test

import (
	"context"
	"strings"
	"testing"

	"keyport/models"
)

// TestAuditActorScheme: issue 17 #25. Events carry an actor kind, an actor
// id and a request id in one scheme: a data-API import request names the
// service token that asked (not a shared "data API" name), a member's
// change names the user.
func TestAuditActorScheme(t *testing.T) {
	s, storeID := importAPIStack(t)
	ctx := context.Background()
	s.newImportRequest(t, storeID, "attributed")
	evs, err := s.DB.AuditEvents(ctx, models.TenantScope(s.Tenant.ID), models.AuditFilter{Action: "import_request.created"})
	if err != nil || len(evs) != 1 {
		t.Fatalf("import_request.created events: %v, %v", evs, err)
	}
	e := evs[0]
	if e.ActorKind != models.ActorServiceToken || !strings.HasPrefix(e.Actor, "tok_") || e.RequestID == "" {
		t.Errorf("data-API import attributed to kind %q, actor %q, request %q; want the service token and the request id", e.ActorKind, e.Actor, e.RequestID)
	}
	all, err := s.DB.AuditEvents(ctx, models.AllTenants(""), models.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range all {
		switch {
		case e.ActorKind == "":
			t.Errorf("event %d (%s) has no actor kind", e.Seq, e.Action)
		case e.ActorKind == models.ActorUser && !strings.HasPrefix(e.Actor, models.PrefixUser):
			t.Errorf("event %d (%s): user kind for actor %q", e.Seq, e.Action, e.Actor)
		}
	}
}
