package keysvc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestServiceTokens(t *testing.T) {
	ctx := context.Background()
	db, tenant, owner := testStore(t)
	s := NewService(Deps{DB: db})
	replica := NewService(Deps{DB: db}) // a second process on the same database

	tok, row, err := s.NewServiceToken(ctx, tenant.ID, "billing service", owner.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, "kpt_tok_") || len(tok) < 60 {
		t.Fatalf("token shape %q", tok[:12])
	}
	for _, svc := range []*Service{s, replica} {
		info, err := svc.Authenticate(ctx, tok)
		if err != nil || info.TenantID != tenant.ID || info.ID != row.ID {
			t.Fatalf("authenticate: %+v %v", info, err)
		}
	}

	bad := []string{"", "kpt_", "Bearer " + tok, tok[:len(tok)-1] + "x", strings.Replace(tok, row.ID, "tok_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 1), tok + "extra"}
	for _, b := range bad {
		if _, err := s.Authenticate(ctx, b); !errors.Is(err, ErrTokenInvalid) {
			t.Errorf("authenticate(%.20q…) = %v, want ErrTokenInvalid", b, err)
		}
	}

	if err := s.RevokeServiceToken(ctx, row.ID, owner.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, tok); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("revoked token on the revoking replica: %v", err)
	}
	// The other replica learns of it at its next refresh.
	if err := replica.tokens.refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := replica.Authenticate(ctx, tok); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("revoked token on the other replica: %v", err)
	}

	events, _ := db.ListAudit(ctx, tenant.ID, 10)
	var actions []string
	for _, e := range events {
		actions = append(actions, e.Action)
	}
	if got := strings.Join(actions, ","); !strings.Contains(got, "service_token.created") || !strings.Contains(got, "service_token.revoked") {
		t.Errorf("audit = %s", got)
	}
	for _, e := range events {
		if strings.Contains(e.Details, tok[len(tok)-43:]) {
			t.Error("token secret in the audit log")
		}
	}
}

func TestTokenTenantScope(t *testing.T) {
	tenantTok := TokenInfo{ID: "tok_a", TenantID: "tnt_a"}
	providerTok := TokenInfo{ID: "tok_p"}
	tests := []struct {
		tok     TokenInfo
		req     string
		want    string
		wantErr error
	}{
		{tenantTok, "", "tnt_a", nil},
		{tenantTok, "tnt_a", "tnt_a", nil},
		{tenantTok, "tnt_b", "", ErrTokenScope},
		{providerTok, "tnt_b", "tnt_b", nil},
	}
	for _, tt := range tests {
		got, err := tt.tok.TenantFor(tt.req)
		if got != tt.want || !errors.Is(err, tt.wantErr) {
			t.Errorf("%+v.TenantFor(%q) = %q, %v", tt.tok, tt.req, got, err)
		}
	}
	var ve *ValidationError
	if _, err := providerTok.TenantFor(""); !errors.As(err, &ve) {
		t.Errorf("provider-wide token without tenant: %v", err)
	}
}

// TestUnknownTokenIDsAreRemembered: a made-up token id costs one database
// read, not one per request (the second attempt below would otherwise fail
// on the closed database instead of answering "invalid").
func TestUnknownTokenIDsAreRemembered(t *testing.T) {
	ctx := context.Background()
	db, _, _ := testStore(t)
	s := NewService(Deps{DB: db})
	made := "kpt_tok_aaaaaaaaaaaaaaaaaaaaaaaaaa_" + strings.Repeat("b", 43)
	if _, err := s.Authenticate(ctx, made); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("first: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, made); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("second: %v, want ErrTokenInvalid without a database read", err)
	}
	if _, err := s.Authenticate(ctx, strings.Replace(made, "aaaa", "cccc", 1)); errors.Is(err, ErrTokenInvalid) || err == nil {
		t.Errorf("another unknown id did not reach the (closed) database: %v", err)
	}
}

// TestCompleteTokenTableNeedsNoReadForUnknownIDs: once the token table has
// read every token, any number of made-up ids is refused from memory (the
// database below is closed, so a read would fail differently), while real
// tokens still authenticate and a token made on another replica arrives
// with the next refresh (issue 17 #8).
func TestCompleteTokenTableNeedsNoReadForUnknownIDs(t *testing.T) {
	ctx := context.Background()
	db, tenant, owner := testStore(t)
	s, other := NewService(Deps{DB: db}), NewService(Deps{DB: db})
	tok, _, err := other.NewServiceToken(ctx, tenant.ID, "made before the warm-up", owner.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Warm(ctx); err != nil {
		t.Fatal(err)
	}
	late, _, err := other.NewServiceToken(ctx, tenant.ID, "made on another replica", owner.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, late); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("a token the table has not heard of yet: %v, want ErrTokenInvalid", err)
	}
	if err := s.tokens.refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, good := range []string{tok, late} {
		if _, err := s.Authenticate(ctx, good); err != nil {
			t.Errorf("a known token with the database closed: %v", err)
		}
	}
	for i := range 50 {
		made := fmt.Sprintf("kpt_tok_%026d_%s", i, strings.Repeat("b", 43))
		if _, err := s.Authenticate(ctx, made); !errors.Is(err, ErrTokenInvalid) {
			t.Fatalf("made-up id %d: %v, want ErrTokenInvalid without a database read", i, err)
		}
	}
}

// The token check runs on every data API request: it allocates nothing
// (the constant-time compare of the secret's hash stays).
func TestAuthenticateAllocatesNothing(t *testing.T) {
	ctx := context.Background()
	db, tenant, owner := testStore(t)
	s := NewService(Deps{DB: db})
	tok, _, err := s.NewServiceToken(ctx, tenant.ID, "alloc", owner.ID)
	if err != nil {
		t.Fatal(err)
	}
	if allocs := testing.AllocsPerRun(100, func() {
		if _, err := s.Authenticate(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Errorf("Authenticate allocates %.0f times per call, want 0", allocs)
	}
}
