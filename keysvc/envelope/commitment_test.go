package envelope

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"testing"
)

// These tests build ciphertexts whose AES-GCM tag is valid, so the only
// thing that refuses them is the key commitment: delete the commitment
// check in OpenParsed and they fail. (The tampering tests cannot show that:
// the header, commitment included, is associated data, so GCM alone already
// refuses a flipped commitment byte.)

// recordAEAD rebuilds the record cipher NewDataKey derives from raw.
func recordAEAD(tb testing.TB, raw []byte) (cipher.AEAD, []byte) {
	tb.Helper()
	encKey, err := hkdf.Key(sha256.New, raw, nil, "keyport record v1 encrypt", 32)
	if err != nil {
		tb.Fatal(err)
	}
	block, err := aes.NewCipher(encKey)
	if err != nil {
		tb.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		tb.Fatal(err)
	}
	return aead, encKey
}

// TestOpenRefusesAlteredCommitment: a ciphertext sealed under k's record key
// but carrying another data key's commitment (GCM-valid, since the forger
// authenticated the altered header) must not open.
func TestOpenRefusesAlteredCommitment(t *testing.T) {
	raw := bytes.Repeat([]byte{0x11}, 32)
	aead, _ := recordAEAD(t, raw)
	k := testDataKey(t, "key_a", 1, 0x11)
	other := testDataKey(t, "key_a", 1, 0x22)

	nonce := bytes.Repeat([]byte{0x05}, nonceSize)
	hdr := other.header(nonce) // k's id and version, other's commitment
	ct := aead.Seal(bytes.Clone(hdr), nonce, []byte("forged record"), associatedData(hdr, "tnt_a", nil))

	if _, err := k.Open("tnt_a", nil, ct); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("a GCM-valid ciphertext with an altered commitment: err = %v, want ErrDecrypt", err)
	}
}

// TestOpenRefusesCiphertextValidUnderTwoKeys is the "invisible salamanders"
// attack on non-committing AES-GCM: one ciphertext whose tag is valid under
// two data keys, so it would open to two different plaintexts. It carries
// keyB's commitment; keyB opens it, keyA must refuse it.
func TestOpenRefusesCiphertextValidUnderTwoKeys(t *testing.T) {
	rawA, rawB := bytes.Repeat([]byte{0xa1}, 32), bytes.Repeat([]byte{0xb2}, 32)
	aeadA, encA := recordAEAD(t, rawA)
	aeadB, encB := recordAEAD(t, rawB)
	keyA := testDataKey(t, "key_x", 4, 0xa1)
	keyB := testDataKey(t, "key_x", 4, 0xb2)

	nonce := bytes.Repeat([]byte{0x09}, nonceSize)
	hdr := keyB.header(nonce)
	ad := associatedData(hdr, "tnt_a", nil)
	c1 := bytes.Repeat([]byte{0x3c}, 16)
	c2 := collidingBlock(t, aeadA, encA, aeadB, encB, nonce, ad, c1)
	sealed := append(append(bytes.Clone(c1), c2...), gcmTag(t, aeadA, nonce, ad, append(bytes.Clone(c1), c2...))...)
	if tb := gcmTag(t, aeadB, nonce, ad, append(bytes.Clone(c1), c2...)); !bytes.Equal(tb, sealed[32:]) {
		t.Fatal("test construction: the tags under the two keys differ")
	}
	ct := append(bytes.Clone(hdr), sealed...)

	ptB, err := keyB.Open("tnt_a", nil, ct)
	if err != nil {
		t.Fatalf("keyB should open its own ciphertext: %v", err)
	}
	// Show the collision is real: raw GCM under keyA's record key accepts it.
	ptA, err := aeadA.Open(nil, nonce, sealed, ad)
	if err != nil || bytes.Equal(ptA, ptB) {
		t.Fatalf("test construction: GCM under keyA: %v (same plaintext: %v)", err, bytes.Equal(ptA, ptB))
	}
	if pt, err := keyA.Open("tnt_a", nil, ct); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("a ciphertext committed to keyB opened under keyA (%d bytes, err %v): GCM is not key-committing, the commitment check must refuse it", len(pt), err)
	}
}

// gcmTag is the tag aead gives ciphertext c (CTR output) under nonce and ad:
// seal the plaintext that encrypts to c.
func gcmTag(tb testing.TB, aead cipher.AEAD, nonce, ad, c []byte) []byte {
	tb.Helper()
	ks := aead.Seal(nil, nonce, make([]byte, len(c)), ad)[:len(c)]
	pt := make([]byte, len(c))
	for i := range c {
		pt[i] = c[i] ^ ks[i]
	}
	out := aead.Seal(nil, nonce, pt, ad)
	if !bytes.Equal(out[:len(c)], c) {
		tb.Fatal("gcmTag: keystream mismatch")
	}
	return out[len(c):]
}

// collidingBlock picks the second ciphertext block x so that c1||x has the
// same GCM tag under both keys. The tag is GHASH_H(ad, c) xor E_K(J0), and
// x enters GHASH as x*H^2 (only the length block follows it), so
// tag_K(c1||x) = tag_K(c1||0) + x*H_K^2 and the two tags agree for
// x = (tagA(c1||0) + tagB(c1||0)) / (H_A^2 + H_B^2) in GF(2^128).
func collidingBlock(tb testing.TB, aeadA cipher.AEAD, encA []byte, aeadB cipher.AEAD, encB, nonce, ad, c1 []byte) []byte {
	tb.Helper()
	zero := append(bytes.Clone(c1), make([]byte, 16)...)
	g := gfXor(gfFrom(gcmTag(tb, aeadA, nonce, ad, zero)), gfFrom(gcmTag(tb, aeadB, nonce, ad, zero)))
	hA, hB := ghashKey(tb, encA), ghashKey(tb, encB)
	d := gfXor(gfMul(hA, hA), gfMul(hB, hB))
	return gfMul(g, gfInv(d)).bytes()
}

func ghashKey(tb testing.TB, key []byte) gf128 {
	block, err := aes.NewCipher(key)
	if err != nil {
		tb.Fatal(err)
	}
	h := make([]byte, 16)
	block.Encrypt(h, h)
	return gfFrom(h)
}

// gf128 is an element of GCM's field, in GCM's bit order (the first bit of
// the block is the coefficient of x^0).
type gf128 struct{ hi, lo uint64 }

func gfFrom(b []byte) gf128 {
	return gf128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:16])}
}

func (a gf128) bytes() []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b, a.hi)
	binary.BigEndian.PutUint64(b[8:], a.lo)
	return b
}

func gfXor(a, b gf128) gf128 { return gf128{a.hi ^ b.hi, a.lo ^ b.lo} }

// gfMul is NIST SP 800-38D, Algorithm 1.
func gfMul(x, y gf128) gf128 {
	var z gf128
	v := y
	for i := range 128 {
		var bit uint64
		if i < 64 {
			bit = x.hi >> (63 - i) & 1
		} else {
			bit = x.lo >> (127 - i) & 1
		}
		if bit == 1 {
			z = gfXor(z, v)
		}
		lsb := v.lo & 1
		v.lo = v.lo>>1 | v.hi<<63
		v.hi >>= 1
		if lsb == 1 {
			v.hi ^= 0xe1 << 56
		}
	}
	return z
}

// gfInv is a^(2^128-2).
func gfInv(a gf128) gf128 {
	one := gf128{hi: 1 << 63}
	r, p := one, a
	// 2^128-2 = 0b111...110: every bit but bit 0 set.
	for i := range 128 {
		if i > 0 {
			r = gfMul(r, p)
		}
		p = gfMul(p, p)
	}
	return r
}
