package web_test

import (
	"context"
	"crypto/sha256"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"keyport/models"
)

// TestAuditLogCompactNamed: issue 14 #6. Each event is one row whose long
// details expand in a <details>; people show by name and email (also a
// former member), API keys and service tokens by their name, never their
// ids; rows are numbered by the tenant's own sequence, without the gaps
// another tenant's events would leave.
func TestAuditLogCompactNamed(t *testing.T) {
	s := newStack(t, nil)
	b := newBrowser(t)
	s.signIn(t, b, dana)
	ctx := context.Background()
	tenant := s.tenantOf(t, dana)
	danaID := s.userID(t, dana)
	seed := newListSeed(t, s, tenant)
	keyID := seed.add(t, "orders", s.Clock.Now())

	// Another tenant's events interleave with this one's in the shared log.
	other, err := s.DB.CreateTenantWithOwner(ctx, "other.test", danaID, models.AuditInput{Actor: danaID, Action: "tenant.created"})
	if err != nil {
		t.Fatal(err)
	}
	otherSeed := newListSeed(t, s, other.ID)
	otherSeed.add(t, "theirs", s.Clock.Now())

	sum := sha256.Sum256([]byte("not a real secret"))
	ak := &models.APIKey{TenantID: tenant, Name: "deploy bot", Role: models.RoleAdmin, SecretHash: sum[:]}
	if err := s.DB.CreateAPIKey(ctx, ak, models.AuditInput{Actor: danaID, Action: "api_key.created"}); err != nil {
		t.Fatal(err)
	}
	tok := &models.ServiceToken{TenantID: tenant, Name: "ingest pipeline", SecretHash: sum[:]}
	if err := s.DB.CreateServiceToken(ctx, tok, models.AuditInput{Actor: danaID, Action: "token.created"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB.RenameKey(ctx, tenant, keyID, "orders eu", models.AuditInput{Actor: ak.ID, ActorKind: models.ActorAPIKey, Action: "key.renamed"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB.RenameKey(ctx, tenant, keyID, "orders europe and the rest of the world, every region we run", models.AuditInput{Actor: tok.ID, ActorKind: models.ActorServiceToken, Action: "key.renamed"}); err != nil {
		t.Fatal(err)
	}
	// A former member: a user who acted in the tenant and holds no membership.
	gone, _, err := s.DB.UpsertOIDCUser(ctx, s.IdP.Issuer(), "sub-gone", "gone@rotation.test", "Gus Gone")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB.RenameKey(ctx, tenant, keyID, "orders", models.AuditInput{Actor: gone.ID, Action: "key.renamed"}); err != nil {
		t.Fatal(err)
	}

	_, page := b.get(t, s.URL+"/audit")
	if !strings.Contains(page, `data-testid="audit-table"`) {
		t.Fatal("no audit table")
	}
	rows := strings.Split(page, `data-testid="audit-row"`)[1:]
	if len(rows) < 6 {
		t.Fatalf("%d audit rows", len(rows))
	}
	if regexp.MustCompile(`>\s*(usr|kak|tok)_`).MatchString(page) {
		t.Error("the audit log shows a user, API key or token id where a name belongs")
	}
	for _, want := range []string{">Dana Owner<", ">dana@rotation.test<", ">deploy bot<", ">ingest pipeline<", ">Gus Gone<", ">gone@rotation.test<"} {
		if !strings.Contains(page, want) {
			t.Errorf("the audit log does not show %s", want)
		}
	}
	if !strings.Contains(page, `data-testid="audit-details"`) || !strings.Contains(page, "<summary>") {
		t.Error("long details do not collapse into <details>")
	}
	// Numbered by the tenant's own chain: newest first, no gaps.
	seqRe := regexp.MustCompile(`data-seq="(\d+)"`)
	var seqs []int
	for _, r := range rows {
		m := seqRe.FindStringSubmatch(r)
		n, _ := strconv.Atoi(m[1])
		seqs = append(seqs, n)
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]-1 {
			t.Fatalf("tenant numbering has a gap or is not newest first: %v", seqs)
		}
	}
	if seqs[len(seqs)-1] != 1 {
		t.Errorf("the tenant's first event is numbered %d, want 1 (%v)", seqs[len(seqs)-1], seqs)
	}
}
