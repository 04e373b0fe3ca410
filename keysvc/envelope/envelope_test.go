package envelope

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"keyport/models"
	"strings"
	"testing"
)

func testDataKey(tb testing.TB, keyID string, version uint32, fill byte) *DataKey {
	tb.Helper()
	k, err := NewDataKey(keyID, version, bytes.Repeat([]byte{fill}, 32))
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// frozenVector was computed outside Go (Python's cryptography package, from
// the format documented in envelope.go), so it checks the format, not just
// that the code agrees with itself.
const frozenVector = "01086b65795f7465737400000003" +
	"e319603ccc5a34af0972fb2a71c6663af9664cba7f07a1d2b7c35ee7e0c50e95" +
	"070707070707070707070707" +
	"a159309b31d82f729e781b54dd2443b3d71b2c6cc9ad854425aef8"

// TestEnvelopeFrozenVector pins format v1: if this changes, every stored
// ciphertext in the field stops opening.
func TestEnvelopeFrozenVector(t *testing.T) {
	k := testDataKey(t, "key_test", 3, 0x42)
	nonce := bytes.NewReader(bytes.Repeat([]byte{0x07}, 12))
	ct, err := k.Seal(nonce, "tnt_a", map[string]string{"field": "ssn"}, []byte("123-45-6789"))
	if err != nil {
		t.Fatal(err)
	}
	got := hex.EncodeToString(ct)
	if got != frozenVector {
		t.Fatalf("format v1 vector changed:\n got %s\nwant %s", got, frozenVector)
	}
	pt, err := k.Open("tnt_a", map[string]string{"field": "ssn"}, ct)
	if err != nil || string(pt) != "123-45-6789" {
		t.Fatalf("open frozen vector: %q, %v", pt, err)
	}
}

func TestEnvelopeRoundTripAndBinding(t *testing.T) {
	k := testDataKey(t, "key_a", 1, 0x01)
	ctx := map[string]string{"field": "ssn", "table": "people"}
	ct, err := k.Seal(rand.Reader, "tnt_a", ctx, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := k.Open("tnt_a", map[string]string{"table": "people", "field": "ssn"}, ct); err != nil || string(pt) != "secret" {
		t.Fatalf("round trip: %q %v", pt, err)
	}
	h, err := ParseCiphertext(ct)
	if err != nil || h.KeyID != "key_a" || h.Version != 1 {
		t.Fatalf("header: %+v %v", h, err)
	}

	other := testDataKey(t, "key_a", 1, 0x02)   // same id and version, other key material
	renamed := testDataKey(t, "key_b", 1, 0x01) // same material, another key id
	tests := []struct {
		name   string
		key    *DataKey
		tenant string
		ctx    map[string]string
	}{
		{"other tenant", k, "tnt_b", ctx},
		{"missing context entry", k, "tnt_a", map[string]string{"field": "ssn"}},
		{"changed context value", k, "tnt_a", map[string]string{"field": "dob", "table": "people"}},
		{"extra context entry", k, "tnt_a", map[string]string{"field": "ssn", "table": "people", "x": "y"}},
		{"other data key", other, "tnt_a", ctx},
		{"other key id", renamed, "tnt_a", ctx},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.key.Open(tt.tenant, tt.ctx, ct); !errors.Is(err, ErrDecrypt) {
				t.Errorf("err = %v, want ErrDecrypt", err)
			}
		})
	}
}

func TestEnvelopeTamperingEveryByte(t *testing.T) {
	k := testDataKey(t, "key_a", 7, 0x09)
	ct, err := k.Seal(rand.Reader, "tnt_a", nil, []byte("some record"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range ct {
		bad := bytes.Clone(ct)
		bad[i] ^= 0x01
		if _, err := k.Open("tnt_a", nil, bad); err == nil {
			t.Fatalf("flipping byte %d still opened", i)
		}
	}
	for n := range len(ct) {
		if _, err := k.Open("tnt_a", nil, ct[:n]); err == nil {
			t.Fatalf("truncation to %d bytes still opened", n)
		}
	}
}

func TestParseCiphertextRejectsMalformed(t *testing.T) {
	k := testDataKey(t, "key_a", 1, 0x01)
	good, _ := k.Seal(rand.Reader, "t", nil, nil)
	tests := map[string][]byte{
		"empty":          nil,
		"wrong version":  append([]byte{2}, good[1:]...),
		"zero id length": append([]byte{1, 0}, good[2:]...),
		"id too long":    append([]byte{1, 200}, good[2:]...),
		"id past end":    append([]byte{1, 64}, good[2:20]...),
		"non-ascii id":   append([]byte{1, 5, 0xff}, good[3:]...),
		"short":          good[:minCiphertext-1],
	}
	for name, b := range tests {
		if _, err := ParseCiphertext(b); !errors.Is(err, ErrMalformedCiphertext) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestCheckContextLimits(t *testing.T) {
	big := map[string]string{}
	for i := range MaxContextPairs + 1 {
		big[strings.Repeat("k", i+1)] = "v"
	}
	for name, ctx := range map[string]map[string]string{
		"too many":   big,
		"empty key":  {"": "v"},
		"long key":   {strings.Repeat("k", MaxContextKeyLen+1): "v"},
		"long value": {"k": strings.Repeat("v", MaxContextValueLen+1)},
	} {
		var ve *models.ValidationError
		if err := CheckContext(ctx); !errors.As(err, &ve) || ve.Field != "context" {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func FuzzParseCiphertext(f *testing.F) {
	k, _ := NewDataKey("key_fuzz", 1, bytes.Repeat([]byte{1}, 32))
	good, _ := k.Seal(rand.Reader, "t", nil, []byte("x"))
	f.Add(good)
	f.Add([]byte{1, 255})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseCiphertext(b)
		if err == nil && (len(h.KeyID) == 0 || len(h.KeyID) > maxKeyIDLen) {
			t.Fatalf("accepted key id of length %d", len(h.KeyID))
		}
		_, _ = k.Open("t", nil, b)
	})
}

func TestNewDataKeyZeroesRawKey(t *testing.T) {
	raw := bytes.Repeat([]byte{0x5a}, 32)
	k, err := NewDataKey("key_a", 1, raw)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw, make([]byte, 32)) {
		t.Error("the raw data key outlived the derivation")
	}
	ct, _ := k.Seal(rand.Reader, "t", nil, []byte("still works"))
	k.Destroy() // a request holding the key while it is evicted must still finish correctly
	if pt, err := k.Open("t", nil, ct); err != nil || string(pt) != "still works" {
		t.Errorf("key evicted mid-request: %q %v", pt, err)
	}
}
