package envelope

import (
	"bytes"
	"crypto/rand"
	"runtime"
	"testing"
)

// TestCiphertextParsingAllocationBounded: parsing never allocates from a
// length it read (the key-id length is one byte and checked against the
// input first), and opening garbage of any size allocates no more than the
// input's own size.
func TestCiphertextParsingAllocationBounded(t *testing.T) {
	k, err := NewDataKey("key_alloc", 1, bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	good, err := k.Seal(rand.Reader, "t", nil, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	maxLen := append([]byte{envelopeV1, 255}, make([]byte, minCiphertext)...)      // claims a 255-byte key id
	longID := append([]byte{envelopeV1, maxKeyIDLen}, make([]byte, 80)...)         // a 64-byte id, input too short for it
	bigGarbage := append(bytes.Clone(good[:len(good)-17]), make([]byte, 1<<20)...) // a valid header, 1 MiB of junk
	tests := []struct {
		name      string
		in        []byte
		maxAllocs float64
	}{
		{"key-id length over the limit", maxLen, 0},
		{"key-id length past the end", longID, 0},
		{"empty", nil, 0},
		{"valid", good, 2}, // the header struct and the key id string
		{"valid header, 1 MiB body", bigGarbage, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(20, func() { _, _ = ParseCiphertext(tt.in) }); n > tt.maxAllocs {
				t.Errorf("ParseCiphertext made %.0f allocations, want at most %.0f", n, tt.maxAllocs)
			}
		})
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := k.Open("t", nil, bigGarbage); err == nil {
		t.Fatal("junk opened")
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 2*uint64(len(bigGarbage)) {
		t.Errorf("opening %d bytes of junk allocated %d bytes", len(bigGarbage), got)
	}
}
