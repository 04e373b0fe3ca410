package managed

import (
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"keyport/keysvc"
)

// MinPassphraseBits is the strength a JWE export passphrase must reach by
// PassphraseBits' estimate. With PBKDF2 at 310,000 iterations, 64 bits
// put an offline guesser at well over 10^18 PBKDF2 iterations per percent
// of the space: out of reach for anyone who copies the export file.
const MinPassphraseBits = 64

// commonPassphraseParts are pieces people reach for when asked for a long
// passphrase; each counts as one character wherever it appears. A short
// list on purpose: the estimate is meant to stop the obvious, not to be a
// cracking dictionary.
var commonPassphraseParts = []string{
	"password", "passphrase", "passwort", "qwertyuiop", "qwerty", "azerty", "asdfgh", "zxcvbn",
	"letmein", "welcome", "iloveyou", "admin", "secret", "keyport", "monkey", "dragon",
	"football", "baseball", "sunshine", "princess", "master", "changeme", "trustno1",
	"abc123", "123456", "654321", "111111", "000000",
}

// PassphraseBits estimates a passphrase's entropy in bits, conservatively
// for the usual shapes of weak passphrases: the alphabet is the union of
// the character classes used, and a character adds nothing when it
// repeats or continues a sequence of the previous one ("aaaa", "abcd",
// "9876"), when it starts a three-character run seen earlier
// ("passpass..."), or when it lies inside a common password fragment.
// It is no zxcvbn: random words score by their letters, which overrates
// them a little; the 16-character minimum and the PBKDF2 cost carry the
// rest.
func PassphraseBits(passphrase string) float64 {
	lower := strings.ToLower(passphrase)
	runes := []rune(lower)
	skip := make([]bool, len(runes))
	for _, part := range commonPassphraseParts {
		pr := []rune(part)
		for i := 0; i+len(pr) <= len(runes); i++ {
			if string(runes[i:i+len(pr)]) == part {
				for j := i + 1; j < i+len(pr); j++ {
					skip[j] = true
				}
			}
		}
	}
	seen := map[string]bool{}
	effective := 0
	for i, r := range runes {
		if i+3 <= len(runes) {
			tri := string(runes[i : i+3])
			if seen[tri] {
				skip[i], skip[i+1], skip[i+2] = true, true, true
			}
			seen[tri] = true
		}
		if i > 0 {
			if d := r - runes[i-1]; d >= -1 && d <= 1 {
				skip[i] = true
			}
		}
		if !skip[i] {
			effective++
		}
	}
	return float64(effective) * math.Log2(float64(passphrasePool(passphrase)))
}

// passphrasePool is the size of the alphabet the passphrase draws from:
// the sum of the classes it uses.
func passphrasePool(passphrase string) int {
	var lower, upper, digit, symbol, other bool
	for _, r := range passphrase {
		switch {
		case r >= 'a' && r <= 'z':
			lower = true
		case r >= 'A' && r <= 'Z':
			upper = true
		case r >= '0' && r <= '9':
			digit = true
		case r < utf8.RuneSelf && unicode.IsPrint(r):
			symbol = true
		default:
			other = true
		}
	}
	pool := 0
	for _, c := range []struct {
		used bool
		size int
	}{{lower, 26}, {upper, 26}, {digit, 10}, {symbol, 33}, {other, 100}} {
		if c.used {
			pool += c.size
		}
	}
	return max(pool, 2)
}

// checkPassphrase refuses a JWE export passphrase that is short or easy to
// guess. The message never quotes the passphrase.
func checkPassphrase(passphrase string) error {
	if utf8.RuneCountInString(passphrase) < MinPassphraseLen {
		return &keysvc.ValidationError{Field: "passphrase", Message: "must be at least 16 characters"}
	}
	if bits := PassphraseBits(passphrase); bits < MinPassphraseBits {
		return &keysvc.ValidationError{Field: "passphrase", Message: "is too easy to guess (about " + strconv.Itoa(int(bits)) +
			" bits by keyport's estimate; it needs " + strconv.Itoa(MinPassphraseBits) + "): avoid repeats, sequences and common words; " +
			"use four or more random words, or let a password manager generate it"}
	}
	return nil
}
