// Package kwp implements AES Key Wrap with Padding (KWP, RFC 5649 / NIST SP
// 800-38F). AWS KMS uses it inside the RSA_AES_KEY_WRAP_* import wrapping
// algorithms, and the standard library has no implementation of it.
package kwp

import (
	"crypto/aes"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrUnwrap is returned by Unwrap for any ciphertext that does not
// authenticate. Callers get no hint of which check failed, so the error cannot
// serve as a padding oracle.
var ErrUnwrap = errors.New("kwp: unwrap failed")

// aivPrefix is the fixed high half of the alternative initial value (RFC 5649
// section 3); the low half carries the plaintext length.
var aivPrefix = [4]byte{0xA6, 0x59, 0x59, 0xA6}

// maxPlaintext keeps the 32-bit message length indicator meaningful.
const maxPlaintext = 1<<32 - 1

// Wrap wraps plaintext (1 to 2^32-1 bytes) under kek, an AES key of 16, 24 or
// 32 bytes. The result is 8 bytes longer than plaintext padded to a multiple
// of 8.
func Wrap(kek, plaintext []byte) ([]byte, error) {
	if len(plaintext) == 0 || uint64(len(plaintext)) > maxPlaintext {
		return nil, fmt.Errorf("kwp: plaintext length %d out of range", len(plaintext))
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("kwp: %w", err)
	}
	padded := (len(plaintext) + 7) &^ 7
	out := make([]byte, 8+padded)
	copy(out[:4], aivPrefix[:])
	binary.BigEndian.PutUint32(out[4:8], uint32(len(plaintext)))
	copy(out[8:], plaintext) // the tail stays zero: that is the padding

	if padded == 8 {
		// A single semiblock is encrypted as one AES block (RFC 5649 4.1).
		block.Encrypt(out, out)
		return out, nil
	}
	n := padded / 8
	var b [16]byte
	for j := 0; j < 6; j++ {
		for i := 1; i <= n; i++ {
			copy(b[:8], out[:8])
			copy(b[8:], out[8*i:8*i+8])
			block.Encrypt(b[:], b[:])
			t := uint64(n*j + i)
			binary.BigEndian.PutUint64(out[:8], binary.BigEndian.Uint64(b[:8])^t)
			copy(out[8*i:8*i+8], b[8:])
		}
	}
	return out, nil
}

// Unwrap reverses Wrap. It fails with ErrUnwrap unless the integrity check,
// length indicator and zero padding all verify.
func Unwrap(kek, ciphertext []byte) ([]byte, error) {
	if len(ciphertext) < 16 || len(ciphertext)%8 != 0 {
		return nil, ErrUnwrap
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("kwp: %w", err)
	}
	buf := make([]byte, len(ciphertext))
	copy(buf, ciphertext)
	n := len(buf)/8 - 1
	if n == 1 {
		block.Decrypt(buf, buf)
	} else {
		var b [16]byte
		for j := 5; j >= 0; j-- {
			for i := n; i >= 1; i-- {
				t := uint64(n*j + i)
				binary.BigEndian.PutUint64(b[:8], binary.BigEndian.Uint64(buf[:8])^t)
				copy(b[8:], buf[8*i:8*i+8])
				block.Decrypt(b[:], b[:])
				copy(buf[:8], b[:8])
				copy(buf[8*i:8*i+8], b[8:])
			}
		}
	}
	ok := subtle.ConstantTimeCompare(buf[:4], aivPrefix[:])
	mli := int(binary.BigEndian.Uint32(buf[4:8]))
	body := buf[8:]
	// The length must fall in the last semiblock, and every pad byte be zero.
	if ok != 1 || mli <= 8*(n-1) || mli > 8*n {
		return nil, ErrUnwrap
	}
	var pad byte
	for _, c := range body[mli:] {
		pad |= c
	}
	if pad != 0 {
		return nil, ErrUnwrap
	}
	return body[:mli], nil
}
