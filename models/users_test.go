package models

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestUpsertOIDCUser(t *testing.T) {
	db, clock := openTestDB(t)
	ctx := context.Background()

	u1, created, err := db.UpsertOIDCUser(ctx, "https://idp.example", "sub-1", "a@example.com", "Ann")
	if err != nil || !created {
		t.Fatalf("first sign-in: created=%v err=%v, want created", created, err)
	}
	if !strings.HasPrefix(u1.ID, PrefixUser) || u1.LastSignInAt == nil || !u1.LastSignInAt.Equal(clock.Now()) {
		t.Fatalf("first sign-in user = %+v", u1)
	}

	clock.Advance(time.Hour)
	u2, created, err := db.UpsertOIDCUser(ctx, "https://idp.example", "sub-1", "ann@example.com", "Ann B")
	if err != nil || created {
		t.Fatalf("second sign-in: created=%v err=%v, want an update", created, err)
	}
	if u2.ID != u1.ID || u2.Email != "ann@example.com" || u2.Name != "Ann B" || !u2.LastSignInAt.Equal(clock.Now()) {
		t.Fatalf("second sign-in user = %+v, want id %s with new email, name and sign-in time", u2, u1.ID)
	}

	got, err := db.GetUser(ctx, u1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Email != "ann@example.com" || !got.CreatedAt.Equal(u1.CreatedAt) || !got.LastSignInAt.Equal(clock.Now()) {
		t.Errorf("GetUser = %+v", got)
	}

	// The same subject at another issuer is another person.
	other, created, err := db.UpsertOIDCUser(ctx, "https://other-idp.example", "sub-1", "a@example.com", "Ann")
	if err != nil || !created || other.ID == u1.ID {
		t.Errorf("other issuer: user %+v created=%v err=%v, want a new user", other, created, err)
	}
}

func TestUpsertOIDCUserValidation(t *testing.T) {
	db, _ := openTestDB(t)
	for _, tc := range []struct {
		name, issuer, subject, email, field string
	}{
		{"no issuer", "", "s", "", "issuer"},
		{"no subject", "https://idp", "", "", "subject"},
		{"long subject", "https://idp", strings.Repeat("s", 256), "", "subject"},
		{"long email", "https://idp", "s", strings.Repeat("e", 321), "email"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := db.UpsertOIDCUser(context.Background(), tc.issuer, tc.subject, tc.email, "")
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != tc.field {
				t.Errorf("err = %v, want ValidationError on %s", err, tc.field)
			}
		})
	}
}

func TestGetUserNotFound(t *testing.T) {
	db, _ := openTestDB(t)
	if _, err := db.GetUser(context.Background(), "usr_missing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("err = %v, want ErrNotFound", err)
	}
}
