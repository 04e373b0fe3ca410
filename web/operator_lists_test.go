package web_test

import (
	"context"
	"strings"
	"testing"

	"keyport/handlers"
	"keyport/models"
	"keyport/web/devidp"
)

// TestOperatorListsTellTenantsApart: issue 14 #8. Three tenants of one
// company (names are unique ignoring case, but alike) show their owner's
// email and their id in All tenants, in the service-token form's tenant
// choice and in the operator audit filter.
func TestOperatorListsTellTenantsApart(t *testing.T) {
	s := newStack(t, func(c *handlers.Config) { c.Operators = []string{"ops@keyport.test"} })
	ctx := context.Background()
	var ids []string
	names := []string{"acme.example", "acme-example", "acme.example.eu"}
	for i, owner := range []string{"ann@acme.example", "bob@acme.example", "cy@acme.example"} {
		tn, err := s.DB.CreateTenantForOwner(ctx, names[i], owner, models.AuditInput{Actor: "keyport tenant create"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tn.ID)
	}
	// The first owner has signed in (an owner membership), the others are
	// bound emails still waiting: both are shown.
	s.signIn(t, newBrowser(t), devidp.Identity{Email: "ann@acme.example", Name: "Ann", EmailVerified: true})

	b := newBrowser(t)
	s.signIn(t, b, devidp.Identity{Email: "ops@keyport.test", Name: "Ops", EmailVerified: true})
	_, all := b.get(t, s.URL+"/operator")
	_, tokens := b.get(t, s.URL+"/provider/tokens")
	_, audit := b.get(t, s.URL+"/operator/audit")
	for i, owner := range []string{"ann@acme.example", "bob@acme.example", "cy@acme.example"} {
		row := strings.Split(strings.Split(all, `data-tenant="`+ids[i]+`"`)[1], "</tr>")[0]
		if !strings.Contains(row, `data-testid="tenant-owner">`+owner+`<`) || !strings.Contains(row, `data-testid="tenant-id">`+ids[i]+`<`) {
			t.Errorf("All tenants row of %s does not show its owner and id: %s", owner, row)
		}
		want := `value="` + ids[i] + `">` + names[i] + ` — ` + owner + ` (` + ids[i] + `)<`
		if !strings.Contains(tokens, want) {
			t.Errorf("the token form's tenant choice has no %s", want)
		}
		if !strings.Contains(audit, want) {
			t.Errorf("the operator audit filter has no %s", want)
		}
	}
}
