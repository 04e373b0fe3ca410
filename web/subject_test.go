package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"keyport/handlers"
	"keyport/web/devidp"
)

// TestChangedSubjectNeverSilentlyBecomesANewUser is issue 17 #19: the same
// issuer and verified email with a new subject is refused by default (with
// whom to contact), or linked to the old user with an audit event.
func TestChangedSubjectNeverSilentlyBecomesANewUser(t *testing.T) {
	moved := alice
	moved.Subject = "dev-alice-recreated"
	for _, link := range []bool{false, true} {
		s := newStack(t, func(c *handlers.Config) {
			c.LinkChangedSubject = link
			c.Operators = []string{"ops@provider.test"}
		})
		s.signIn(t, newBrowser(t), alice)
		ctx := context.Background()
		old, err := s.DB.FindOIDCUser(ctx, s.IdP.Issuer(), devidp.Subject(alice.Email))
		if err != nil {
			t.Fatal(err)
		}
		tenants, _ := s.DB.TenantsForUser(ctx, old.ID)

		b := newBrowser(t)
		res, body := s.signIn(t, b, moved)
		got := strings.Join(s.auditActions(t, ""), "\n")
		if !link {
			if res.StatusCode != http.StatusForbidden || !strings.Contains(body, "ops@provider.test") || !strings.Contains(body, "different account id") {
				t.Errorf("refuse: %d", res.StatusCode)
			}
			if !strings.Contains(got, `auth.sign_in_failed:{"reason":"subject_changed"}`) {
				t.Errorf("audit lacks the refusal:\n%s", got)
			}
			if _, err := s.DB.FindOIDCUser(ctx, s.IdP.Issuer(), moved.Subject); err == nil {
				t.Error("a user was made for the new subject")
			}
			continue
		}
		if res.StatusCode != http.StatusOK || res.Request.URL.Path != "/dashboard" || !strings.Contains(body, "example.com") {
			t.Fatalf("link: %d at %s", res.StatusCode, res.Request.URL)
		}
		u, err := s.DB.FindOIDCUser(ctx, s.IdP.Issuer(), moved.Subject)
		if err != nil || u.ID != old.ID {
			t.Fatalf("new subject is user %v (%v), want the old user %s", u, err, old.ID)
		}
		if now, _ := s.DB.TenantsForUser(ctx, u.ID); len(now) != 1 || now[0].Tenant.ID != tenants[0].Tenant.ID {
			t.Errorf("tenants after linking: %+v", now)
		}
		tenantAudit := strings.Join(s.auditActions(t, tenants[0].Tenant.ID), "\n")
		if !strings.Contains(tenantAudit, "user.subject_linked:") || !strings.Contains(tenantAudit, moved.Subject) {
			t.Errorf("tenant audit lacks the link:\n%s", tenantAudit)
		}
	}
}
