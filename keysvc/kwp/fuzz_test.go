package kwp

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
)

// FuzzUnwrap feeds arbitrary keys and wrapped keys to Unwrap: no panic,
// and anything that unwraps wraps back to the same bytes (so there is only
// one valid wrapping of each plaintext: no malleability).
func FuzzUnwrap(f *testing.F) {
	kek := bytes.Repeat([]byte{0x42}, 32)
	for _, pt := range [][]byte{{1}, bytes.Repeat([]byte{2}, 8), bytes.Repeat([]byte{3}, 32), bytes.Repeat([]byte{4}, 33)} {
		ct, err := Wrap(kek, pt)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(kek, ct)
	}
	f.Add(kek[:16], make([]byte, 16))
	f.Add(kek[:24], make([]byte, 7))
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, key, ct []byte) {
		pt, err := Unwrap(key, ct)
		if err != nil {
			return
		}
		back, err := Wrap(key, pt)
		if err != nil || !bytes.Equal(back, ct) {
			t.Fatalf("unwrapped %x from %x, but it wraps to %x (%v)", pt, ct, back, err)
		}
	})
}

// TestUnwrapAllocationBounded: Unwrap makes one copy of its input and a
// fixed number of small allocations (the cipher, a block), nothing that
// depends on a length read from the input.
func TestUnwrapAllocationBounded(t *testing.T) {
	kek := bytes.Repeat([]byte{0x42}, 32)
	for _, n := range []int{16, 4096, 1 << 20} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			ct := make([]byte, n)
			if a := testing.AllocsPerRun(5, func() { _, _ = Unwrap(kek, ct) }); a > 4 {
				t.Errorf("Unwrap of %d bytes made %.0f allocations, want at most 4", n, a)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, _ = Unwrap(kek, ct)
			runtime.ReadMemStats(&after)
			if got := after.TotalAlloc - before.TotalAlloc; got > uint64(n)+8<<10 {
				t.Errorf("Unwrap of %d bytes allocated %d bytes", n, got)
			}
		})
	}
}
