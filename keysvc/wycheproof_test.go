package keysvc_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"testing"

	"github.com/c2sp/wycheproof"

	"keyport/keysvc/kwp"
)

// Known-answer vectors from Project Wycheproof, read from the Go module
// github.com/c2sp/wycheproof (a test-only dependency: it embeds the JSON of
// testvectors_v1), run against the standard library exactly as keyport
// uses it:
//
//   - AES-256-GCM through cipher.NewGCM: 96-bit random nonces and 128-bit
//     tags, the record envelope's only parameters (envelope.go). Excluded:
//     128- and 192-bit keys (keyport's data keys are 256-bit), other nonce
//     sizes (keyport never makes them; Go's NewGCM refuses them) and other
//     tag sizes (keyport never truncates tags).
//   - RSA-OAEP with SHA-256 and MGF1-SHA-256 (KMS's RSAES_OAEP_SHA_256,
//     which tenant imports and exports use) with 2048-, 3072- and 4096-bit
//     keys, the sizes KMS import wrapping keys come in. Excluded: the SHA-1,
//     SHA-224, SHA-384 and SHA-512 files, mixed MGF1 hashes and three-prime
//     keys (keyport neither makes nor accepts them).
//
//   - AES-KWP (RFC 5649) through keysvc/kwp, which wraps imported key
//     material (RSA_AES_KEY_WRAP_SHA_256): every vector, all key sizes;
//     nothing is excluded.

// wpFile is the part of a Wycheproof file these tests read.
type wpFile struct {
	Algorithm  string    `json:"algorithm"`
	TestGroups []wpGroup `json:"testGroups"`
}

type wpGroup struct {
	KeySize         int      `json:"keySize"`
	IVSize          int      `json:"ivSize"`
	TagSize         int      `json:"tagSize"`
	SHA             string   `json:"sha"`
	MGFSHA          string   `json:"mgfSha"`
	PrivateKeyPKCS8 wpHex    `json:"privateKeyPkcs8"`
	Tests           []wpTest `json:"tests"`
}

type wpTest struct {
	TCID    int      `json:"tcId"`
	Comment string   `json:"comment"`
	Flags   []string `json:"flags"`
	Key     wpHex    `json:"key"`
	IV      wpHex    `json:"iv"`
	AAD     wpHex    `json:"aad"`
	Msg     wpHex    `json:"msg"`
	CT      wpHex    `json:"ct"`
	Tag     wpHex    `json:"tag"`
	Label   wpHex    `json:"label"`
	Result  string   `json:"result"` // valid, invalid or acceptable
}

// wpHex is a hex string in the JSON.
type wpHex []byte

func (h *wpHex) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := hex.DecodeString(s)
	*h = v
	return err
}

func loadWycheproof(tb testing.TB, name string) wpFile {
	tb.Helper()
	raw, err := fs.ReadFile(wycheproof.TestVectors, name)
	if err != nil {
		tb.Fatalf("wycheproof vectors: %v", err)
	}
	var f wpFile
	if err := json.Unmarshal(raw, &f); err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	return f
}

// wpTally counts vectors run and skipped (with why).
type wpTally struct {
	pass    int
	skipped map[string]int
}

func (w *wpTally) skip(why string, n int) {
	if w.skipped == nil {
		w.skipped = map[string]int{}
	}
	w.skipped[why] += n
}

func (w *wpTally) skips() int {
	n := 0
	for _, v := range w.skipped {
		n += v
	}
	return n
}

func wycheproofGCM(t *testing.T) *wpTally {
	tally := &wpTally{}
	f := loadWycheproof(t, "aes_gcm_test.json")
	for _, g := range f.TestGroups {
		switch {
		case g.KeySize != 256:
			tally.skip("key size not 256", len(g.Tests))
			continue
		case g.IVSize != 96:
			tally.skip("nonce not 96-bit", len(g.Tests))
			continue
		case g.TagSize != 128:
			tally.skip("tag not 128-bit", len(g.Tests))
			continue
		}
		for _, tc := range g.Tests {
			t.Run(fmt.Sprintf("aes-gcm/%d", tc.TCID), func(t *testing.T) {
				block, err := aes.NewCipher(tc.Key)
				if err != nil {
					t.Fatal(err)
				}
				aead, err := cipher.NewGCM(block)
				if err != nil {
					t.Fatal(err)
				}
				sealed := append(bytes.Clone(tc.CT), tc.Tag...)
				pt, err := aead.Open(nil, tc.IV, sealed, tc.AAD)
				switch tc.Result {
				case "valid":
					if err != nil || !bytes.Equal(pt, tc.Msg) {
						t.Fatalf("%s: open failed or differs: %v", tc.Comment, err)
					}
					if got := aead.Seal(nil, tc.IV, tc.Msg, tc.AAD); !bytes.Equal(got, sealed) {
						t.Fatalf("%s: seal differs", tc.Comment)
					}
				case "invalid":
					if err == nil {
						t.Fatalf("%s (%v): an invalid ciphertext opened", tc.Comment, tc.Flags)
					}
				}
				tally.pass++
			})
		}
	}
	return tally
}

func wycheproofOAEP(t *testing.T) *wpTally {
	tally := &wpTally{}
	for _, bits := range []int{2048, 3072, 4096} {
		f := loadWycheproof(t, fmt.Sprintf("rsa_oaep_%d_sha256_mgf1sha256_test.json", bits))
		for _, g := range f.TestGroups {
			if g.SHA != "SHA-256" || g.MGFSHA != "SHA-256" || g.KeySize != bits {
				tally.skip("not SHA-256/MGF1-SHA-256 at a size keyport uses", len(g.Tests))
				continue
			}
			parsed, err := x509.ParsePKCS8PrivateKey(g.PrivateKeyPKCS8)
			if err != nil {
				t.Fatalf("%d-bit key: %v", bits, err)
			}
			priv := parsed.(*rsa.PrivateKey)
			for _, tc := range g.Tests {
				t.Run(fmt.Sprintf("rsa-oaep-%d/%d", bits, tc.TCID), func(t *testing.T) {
					pt, err := rsa.DecryptOAEP(sha256.New(), nil, priv, tc.CT, tc.Label)
					switch tc.Result {
					case "valid":
						if err != nil || !bytes.Equal(pt, tc.Msg) {
							t.Fatalf("%s: decrypt failed or differs: %v", tc.Comment, err)
						}
					case "invalid":
						if err == nil {
							t.Fatalf("%s (%v): an invalid ciphertext decrypted", tc.Comment, tc.Flags)
						}
					}
					tally.pass++
				})
			}
		}
	}
	return tally
}

func wycheproofKWP(t *testing.T) *wpTally {
	tally := &wpTally{}
	f := loadWycheproof(t, "aes_kwp_test.json")
	for _, g := range f.TestGroups {
		for _, tc := range g.Tests {
			t.Run(fmt.Sprintf("aes-kwp-%d/%d", g.KeySize, tc.TCID), func(t *testing.T) {
				pt, err := kwp.Unwrap(tc.Key, tc.CT)
				switch tc.Result {
				case "valid":
					if err != nil || !bytes.Equal(pt, tc.Msg) {
						t.Fatalf("%s: unwrap failed or differs: %v", tc.Comment, err)
					}
					// KWP is deterministic: wrapping gives the vector back.
					if w, err := kwp.Wrap(tc.Key, tc.Msg); err != nil || !bytes.Equal(w, tc.CT) {
						t.Fatalf("%s: wrap differs: %v", tc.Comment, err)
					}
				case "invalid":
					if err == nil {
						t.Fatalf("%s (%v): an invalid wrapping unwrapped", tc.Comment, tc.Flags)
					}
				}
				tally.pass++
			})
		}
	}
	return tally
}

// TestWycheproof runs the vectors and prints one METRIC line.
func TestWycheproof(t *testing.T) {
	gcm := wycheproofGCM(t)
	oaep := wycheproofOAEP(t)
	kw := wycheproofKWP(t)
	fmt.Printf("METRIC wycheproof aes_gcm_pass=%d aes_gcm_skipped=%d rsa_oaep_pass=%d rsa_oaep_skipped=%d kwp_pass=%d kwp_skipped=%d source=github.com/c2sp/wycheproof\n",
		gcm.pass, gcm.skips(), oaep.pass, oaep.skips(), kw.pass, kw.skips())
	t.Logf("aes-gcm exclusions: %v; rsa-oaep exclusions: %v", gcm.skipped, oaep.skipped)
	if gcm.pass < 60 || oaep.pass < 100 || kw.pass < 200 {
		t.Errorf("too few vectors ran: aes-gcm %d, rsa-oaep %d, aes-kwp %d", gcm.pass, oaep.pass, kw.pass)
	}
}
