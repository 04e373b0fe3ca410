package seal

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"

	"keyport/models"
	"keyport/models/modelstest"
)

// openStore opens a migrated store on path.
func openStore(tb testing.TB, path string) *models.DB {
	tb.Helper()
	db, err := models.Open(context.Background(), path, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return db
}

func TestAuditKeyStable(t *testing.T) {
	ctx := context.Background()
	path := modelstest.DSN(t)
	store := openStore(t, path)
	s := newTestSealer(t, testKEK())

	first, err := AuditKey(ctx, store, s)
	if err != nil || len(first) != 32 {
		t.Fatalf("AuditKey = %x, %v; want 32 bytes", first, err)
	}
	second, err := AuditKey(ctx, store, s)
	if err != nil || !bytes.Equal(first, second) {
		t.Fatalf("second AuditKey = %x, %v; want %x", second, err, first)
	}
	blob, err := store.GetSealedSecret(ctx, AuditKeySecret)
	if err != nil || bytes.Contains(blob, first) {
		t.Fatalf("stored blob: %v (or it contains the plaintext key)", err)
	}

	t.Run("restart with the same kek", func(t *testing.T) {
		restarted := newTestSealer(t, testKEK())
		got, err := AuditKey(ctx, openStore(t, path), restarted)
		if err != nil || !bytes.Equal(got, first) {
			t.Errorf("after restart AuditKey = %x, %v; want %x", got, err, first)
		}
	})
	t.Run("restart with another kek", func(t *testing.T) {
		wrong := newTestSealer(t, bytes.Repeat([]byte{9}, 32))
		if _, err := AuditKey(ctx, store, wrong); !errors.Is(err, ErrWrongKEK) {
			t.Errorf("err = %v, want ErrWrongKEK", err)
		}
	})
}

func TestAuditKeyConcurrentFirstStart(t *testing.T) {
	store := openStore(t, modelstest.DSN(t))
	s := newTestSealer(t, testKEK())
	keys := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := AuditKey(context.Background(), store, s)
			if err != nil {
				t.Errorf("AuditKey: %v", err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for i, k := range keys {
		if !bytes.Equal(k, keys[0]) {
			t.Errorf("caller %d got another key", i)
		}
	}
}

// racingStore reports the secret missing once, then answers the put with a
// blob another process stored first.
type racingStore struct{ winner []byte }

func (r *racingStore) GetSealedSecret(context.Context, string) ([]byte, error) {
	return nil, models.ErrNotFound
}

func (r *racingStore) PutSealedSecretIfAbsent(context.Context, string, []byte) ([]byte, error) {
	return r.winner, nil
}

func TestAuditKeyUsesWinnersBlob(t *testing.T) {
	s := newTestSealer(t, testKEK())
	winnerKey := bytes.Repeat([]byte{0x77}, 32)
	store := &racingStore{winner: mustSeal(t, s, AuditKeySecret, winnerKey)}
	got, err := AuditKey(context.Background(), store, s)
	if err != nil || !bytes.Equal(got, winnerKey) {
		t.Errorf("AuditKey = %x, %v; want the winner's key", got, err)
	}
}

func TestAuditKeyRejectsBadBlobs(t *testing.T) {
	s := newTestSealer(t, testKEK())
	for _, tc := range []struct {
		name string
		blob []byte
	}{
		{"wrong purpose", mustSeal(t, s, "iam-secret/conn_x", bytes.Repeat([]byte{1}, 32))},
		{"wrong length", mustSeal(t, s, AuditKeySecret, []byte("short"))},
		{"garbage", []byte("not a sealed blob at all, really not")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := &racingStore{winner: tc.blob}
			if _, err := AuditKey(context.Background(), store, s); !errors.Is(err, ErrSealedCorrupt) {
				t.Errorf("err = %v, want ErrSealedCorrupt", err)
			}
		})
	}
}
