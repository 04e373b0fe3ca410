package seal

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// testKEK is 00 01 02 ... 1f.
func testKEK() []byte {
	k := make([]byte, 32)
	for i := range k {
		k[i] = byte(i)
	}
	return k
}

// newTestSealer returns a Sealer over kek, closed at the end of the test.
func newTestSealer(tb testing.TB, kek []byte) *Sealer {
	tb.Helper()
	s, err := NewSealer(kek)
	if err != nil {
		tb.Fatalf("NewSealer: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

// mustSeal seals or fails the test.
func mustSeal(tb testing.TB, s *Sealer, purpose string, plaintext []byte) []byte {
	tb.Helper()
	blob, err := s.Seal(purpose, plaintext)
	if err != nil {
		tb.Fatalf("Seal: %v", err)
	}
	return blob
}

// TestSealVector pins the sealed format. The expected values were computed
// independently (Python "cryptography" AESGCM) from the documented layout.
func TestSealVector(t *testing.T) {
	const (
		wantKeyID = "e6e1ba831b45456f"
		wantBlob  = "01e6e1ba831b45456fa0a1a2a3a4a5a6a7a8a9aaab8d7d055d2ab9769f1600f4a7270ca5bd04c32bc2037e9e236a928dd8bbd3a6bb53b6f6"
	)
	nonce := []byte{0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab}
	s, err := NewSealerWithRand(testKEK(), bytes.NewReader(nonce))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.KeyID(); got != wantKeyID {
		t.Errorf("KeyID = %s, want %s", got, wantKeyID)
	}
	blob, err := s.Seal("test-vector", []byte("keyport test vector"))
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(blob); got != wantBlob {
		t.Errorf("Seal = %s\nwant   %s", got, wantBlob)
	}
	frozen, _ := hex.DecodeString(wantBlob)
	pt, err := s.Open("test-vector", frozen)
	if err != nil || string(pt) != "keyport test vector" {
		t.Errorf("Open(frozen vector) = %q, %v", pt, err)
	}
}

func TestSealRoundTrip(t *testing.T) {
	s := newTestSealer(t, testKEK())
	for _, tc := range []struct {
		name      string
		plaintext []byte
	}{
		{"empty", nil},
		{"one byte", []byte{0}},
		{"key sized", bytes.Repeat([]byte{0x5a}, 32)},
		{"large", bytes.Repeat([]byte("x"), 1<<20)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			blob := mustSeal(t, s, "iam-secret/conn_x", tc.plaintext)
			if len(blob) != sealOverhead+len(tc.plaintext) {
				t.Errorf("blob is %d bytes, want %d", len(blob), sealOverhead+len(tc.plaintext))
			}
			got, err := s.Open("iam-secret/conn_x", blob)
			if err != nil || !bytes.Equal(got, tc.plaintext) {
				t.Errorf("Open = %d bytes, %v; want the plaintext back", len(got), err)
			}
		})
	}
	t.Run("fresh nonce per seal", func(t *testing.T) {
		a, b := mustSeal(t, s, "p", []byte("same")), mustSeal(t, s, "p", []byte("same"))
		if bytes.Equal(a, b) {
			t.Error("two seals of the same plaintext are equal")
		}
	})
}

func TestOpenWrongPurpose(t *testing.T) {
	s := newTestSealer(t, testKEK())
	blob := mustSeal(t, s, "iam-secret/conn_x", []byte("secret"))
	for _, purpose := range []string{"audit-hmac-key", "iam-secret/conn_y", "iam-secret/conn_x\x00", "iam-secret/conn_", ""} {
		if _, err := s.Open(purpose, blob); !errors.Is(err, ErrSealedCorrupt) {
			t.Errorf("Open(%q) err = %v, want ErrSealedCorrupt", purpose, err)
		}
	}
}

func TestSealEmptyPurpose(t *testing.T) {
	s := newTestSealer(t, testKEK())
	if _, err := s.Seal("", []byte("x")); err == nil {
		t.Error("Seal with an empty purpose succeeded")
	}
}

// TestOpenTampered flips one bit in every byte of the blob in turn.
func TestOpenTampered(t *testing.T) {
	s := newTestSealer(t, testKEK())
	blob := mustSeal(t, s, "p", []byte("sixteen byte msg"))
	region := func(i int) string {
		switch {
		case i == 0:
			return "version"
		case i < 1+kekIDSize:
			return "kek id"
		case i < sealHeader:
			return "nonce"
		case i < len(blob)-sealTagSize:
			return "ciphertext"
		}
		return "tag"
	}
	for i := range blob {
		t.Run(fmt.Sprintf("%s byte %d", region(i), i), func(t *testing.T) {
			bad := bytes.Clone(blob)
			bad[i] ^= 0x01
			_, err := s.Open("p", bad)
			if !errors.Is(err, ErrSealedCorrupt) {
				t.Fatalf("err = %v, want ErrSealedCorrupt", err)
			}
			if wantKEK := region(i) == "kek id"; errors.Is(err, ErrWrongKEK) != wantKEK {
				t.Errorf("errors.Is(err, ErrWrongKEK) = %v, want %v", !wantKEK, wantKEK)
			}
		})
	}
	t.Run("appended byte", func(t *testing.T) {
		if _, err := s.Open("p", append(bytes.Clone(blob), 0)); !errors.Is(err, ErrSealedCorrupt) {
			t.Errorf("err = %v, want ErrSealedCorrupt", err)
		}
	})
}

func TestOpenTruncated(t *testing.T) {
	s := newTestSealer(t, testKEK())
	blob := mustSeal(t, s, "p", []byte("secret"))
	for n := range len(blob) {
		if _, err := s.Open("p", blob[:n]); !errors.Is(err, ErrSealedCorrupt) {
			t.Errorf("Open(first %d of %d bytes) err = %v, want ErrSealedCorrupt", n, len(blob), err)
		}
	}
}

func TestOpenWrongKEK(t *testing.T) {
	s := newTestSealer(t, testKEK())
	other := newTestSealer(t, bytes.Repeat([]byte{0x42}, 32))
	blob := mustSeal(t, s, "p", []byte("secret"))
	_, err := other.Open("p", blob)
	if !errors.Is(err, ErrWrongKEK) || !errors.Is(err, ErrSealedCorrupt) {
		t.Fatalf("err = %v, want ErrWrongKEK and ErrSealedCorrupt", err)
	}
	if msg := err.Error(); !strings.Contains(msg, s.KeyID()) || !strings.Contains(msg, other.KeyID()) {
		t.Errorf("error %q should name both kek ids", msg)
	}
	// A blob whose kek id was rewritten to match still fails authentication.
	forged := bytes.Clone(blob)
	copy(forged[1:], other.kid[:])
	if _, err := other.Open("p", forged); !errors.Is(err, ErrSealedCorrupt) || errors.Is(err, ErrWrongKEK) {
		t.Errorf("forged kek id err = %v, want plain ErrSealedCorrupt", err)
	}
}

func TestNewSealerKeySize(t *testing.T) {
	for _, n := range []int{0, 16, 24, 31, 33, 64} {
		if _, err := NewSealer(make([]byte, n)); err == nil {
			t.Errorf("NewSealer(%d bytes) succeeded", n)
		}
	}
	if _, err := NewSealerWithRand(testKEK(), nil); err == nil {
		t.Error("NewSealerWithRand(nil reader) succeeded")
	}
}

func TestSealerCopiesAndZeroesKey(t *testing.T) {
	kek := testKEK()
	s := newTestSealer(t, kek)
	blob := mustSeal(t, s, "p", []byte("secret"))
	clear(kek) // the caller wiping its copy must not affect the sealer
	if _, err := s.Open("p", blob); err != nil {
		t.Fatalf("Open after caller cleared its key: %v", err)
	}
	inner := s.key
	s.Close()
	if !bytes.Equal(inner, make([]byte, 32)) {
		t.Error("Close did not zero the key")
	}
	if _, err := s.Seal("p", nil); !errors.Is(err, ErrSealerClosed) {
		t.Errorf("Seal after Close err = %v, want ErrSealerClosed", err)
	}
	if _, err := s.Open("p", blob); !errors.Is(err, ErrSealerClosed) {
		t.Errorf("Open after Close err = %v, want ErrSealerClosed", err)
	}
	s.Close() // idempotent
}

func TestKeyIDRevealsNothing(t *testing.T) {
	kek := testKEK()
	s := newTestSealer(t, kek)
	id := s.KeyID()
	if len(id) != 16 || strings.Contains(hex.EncodeToString(kek), id) {
		t.Errorf("KeyID = %q, want 16 hex characters not taken from the key", id)
	}
	for _, text := range []string{s.String(), s.LogValue().String(), fmt.Sprintf("%v", s)} {
		if strings.Contains(text, hex.EncodeToString(kek[:8])) || !strings.Contains(text, id) {
			t.Errorf("printed sealer %q leaks the key or lacks the id", text)
		}
	}
	if other := newTestSealer(t, bytes.Repeat([]byte{1}, 32)); other.KeyID() == id {
		t.Error("different keys have the same KeyID")
	}
}

func TestSealShortRandom(t *testing.T) {
	s, err := NewSealerWithRand(testKEK(), bytes.NewReader([]byte{1, 2, 3}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Seal("p", []byte("x")); err == nil {
		t.Error("Seal succeeded with a short nonce")
	}
}
