package kwp

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"
)

func unhex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// TestRFC5649Vectors pins the two worked examples of RFC 5649 section 6.
func TestRFC5649Vectors(t *testing.T) {
	kek := "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8"
	tests := []struct {
		name, key, wrapped string
	}{
		{"20 octets", "c37b7e6492584340bed12207808941155068f738", "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a"},
		{"7 octets", "466f7250617369", "afbeb0f07dfbf5419200f2ccb50bb24f"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Wrap(unhex(t, kek), unhex(t, tt.key))
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(got) != tt.wrapped {
				t.Fatalf("Wrap = %x, want %s", got, tt.wrapped)
			}
			back, err := Unwrap(unhex(t, kek), got)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(back, unhex(t, tt.key)) {
				t.Fatalf("Unwrap = %x, want %s", back, tt.key)
			}
		})
	}
}

func TestRoundTripLengths(t *testing.T) {
	kek := make([]byte, 32)
	if _, err := rand.Read(kek); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 8, 9, 16, 31, 32, 33, 64, 1000} {
		pt := make([]byte, n)
		if _, err := rand.Read(pt); err != nil {
			t.Fatal(err)
		}
		ct, err := Wrap(kek, pt)
		if err != nil {
			t.Fatalf("len %d: %v", n, err)
		}
		if want := (n+7)/8*8 + 8; len(ct) != want {
			t.Fatalf("len %d: wrapped length %d, want %d", n, len(ct), want)
		}
		back, err := Unwrap(kek, ct)
		if err != nil || !bytes.Equal(back, pt) {
			t.Fatalf("len %d: round trip failed: %v", n, err)
		}
	}
}

func TestUnwrapRejects(t *testing.T) {
	kek := unhex(t, "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8")
	good := unhex(t, "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a")
	flip := func(i int) []byte {
		c := bytes.Clone(good)
		c[i] ^= 1
		return c
	}
	otherKEK := bytes.Clone(kek)
	otherKEK[0] ^= 1
	tests := []struct {
		name string
		kek  []byte
		ct   []byte
	}{
		{"tampered first byte", kek, flip(0)},
		{"tampered last byte", kek, flip(len(good) - 1)},
		{"wrong kek", otherKEK, good},
		{"truncated", kek, good[:24]},
		{"not a multiple of 8", kek, good[:30]},
		{"too short", kek, good[:8]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Unwrap(tt.kek, tt.ct); !errors.Is(err, ErrUnwrap) {
				t.Fatalf("Unwrap error = %v, want ErrUnwrap", err)
			}
		})
	}
}

func TestWrapRejectsBadInput(t *testing.T) {
	if _, err := Wrap(make([]byte, 32), nil); err == nil {
		t.Fatal("Wrap of empty plaintext succeeded")
	}
	if _, err := Wrap(make([]byte, 17), []byte("x")); err == nil {
		t.Fatal("Wrap with a 17-byte KEK succeeded")
	}
}
