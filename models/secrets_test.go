package models

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

func TestSealedSecrets(t *testing.T) {
	db, _ := openTestDB(t)
	ctx := context.Background()
	if _, err := db.GetSealedSecret(ctx, "audit-hmac-key"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetSealedSecret(missing) err = %v, want ErrNotFound", err)
	}
	first, err := db.PutSealedSecretIfAbsent(ctx, "audit-hmac-key", []byte{1, 2, 3})
	if err != nil || !bytes.Equal(first, []byte{1, 2, 3}) {
		t.Fatalf("first put = %x, %v", first, err)
	}
	second, err := db.PutSealedSecretIfAbsent(ctx, "audit-hmac-key", []byte{9, 9})
	if err != nil || !bytes.Equal(second, first) {
		t.Fatalf("second put = %x, %v; want the first blob %x", second, err, first)
	}
	got, err := db.GetSealedSecret(ctx, "audit-hmac-key")
	if err != nil || !bytes.Equal(got, first) {
		t.Errorf("GetSealedSecret = %x, %v; want %x", got, err, first)
	}
}

func TestPutSealedSecretValidation(t *testing.T) {
	db, _ := openTestDB(t)
	for _, tc := range []struct {
		name, secret string
		blob         []byte
		field        string
	}{
		{"empty name", "", []byte{1}, "name"},
		{"empty blob", "x", nil, "blob"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := db.PutSealedSecretIfAbsent(context.Background(), tc.secret, tc.blob)
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != tc.field {
				t.Errorf("err = %v, want ValidationError on %s", err, tc.field)
			}
		})
	}
}
