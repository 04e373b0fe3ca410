package dataapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"keyport/handlers"
)

// stdDecode is handlers.DecodeJSON's decoding: unknown fields refused,
// nothing but whitespace after the value.
func stdDecode(b []byte, v any) bool {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if dec.Decode(v) != nil {
		return false
	}
	return len(bytes.TrimLeft(b[dec.InputOffset():], " \t\r\n")) == 0
}

var codecSeeds = []string{
	`{"key_id":"key_1","plaintext":"eA==","context":{"f":"v"}}`,
	`{"ciphertext":"AQID","context":{"f":"v","g":"w"},"tenant":"tnt_1"}`,
	`{"items":[{"key_id":"k","plaintext":"eA=="},{"key_id":"k2"}]}`,
	`{"items":[{"ciphertext":"AQID"},{"ciphertext":"AAAA","context":{}}]}`,
	` { "key_id" : "k" , "plaintext" : "" } `, `{}`, `{"items":[]}`, `{"items":null}`,
	`{"Key_ID":"k"}`, `{"key_id":"k","key_id":"k2"}`, `{"context":{"a":"1"},"context":{"b":"2"}}`,
	// Base64 the fast decoder scans without checking each byte: raw line
	// breaks (which base64 skips, JSON refuses), escapes, other bytes.
	"{\"plaintext\":\"eA\n==\"}", "{\"ciphertext\":\"AQ\rID\"}", `{"plaintext":"e\u0041=="}`, `{"ciphertext":"AQ\"ID"}`,
	"{\"plaintext\":\"eA\t==\"}", "{\"plaintext\":\"eA\xc3\xa9==\"}", `{"plaintext":"eA\/=="}`,
	`{"items":[{"key_id":"a"}],"items":[{"plaintext":"eA=="}]}`,
	`{"key_id":"k\u0041"}`, `{"key_id":"é"}`, `{"plaintext":"***"}`, `{"plaintext":"eA"}`, `{"plaintext":null}`,
	`{"key_id":"k"} {}`, `{"key_id":"k"} `, `{"key_id":1}`, `{"x":"y"}`, `[]`, `null`, ``, `{`, `{"key_id":"k",}`,
	"{\"key_id\":\"a\tb\"}", `{"context":{"a":1}}`, `{"context":null}`,
}

// FuzzFastDecode: whenever the hand decoder takes a body, encoding/json
// takes it too and decodes the same values.
func FuzzFastDecode(f *testing.F) {
	for _, s := range codecSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var fe, se EncryptItem
		if parseEncrypt(&fe)(b, nil) {
			if !stdDecode(b, &se) || !reflect.DeepEqual(norm(fe), norm(se)) {
				t.Fatalf("encrypt %q: fast %+v, std %+v", b, fe, se)
			}
		}
		var fd, sd DecryptItem
		if parseDecrypt(&fd)(b, nil) {
			if !stdDecode(b, &sd) || !reflect.DeepEqual(normD(fd), normD(sd)) {
				t.Fatalf("decrypt %q: fast %+v, std %+v", b, fd, sd)
			}
		}
		var fb []EncryptItem
		var sb struct{ Items []EncryptItem }
		if parseBatch(&fb, (*scanner).encryptItem)(b, make([]byte, 0, 64)) {
			if !stdDecode(b, &sb) || len(fb) != len(sb.Items) {
				t.Fatalf("batch %q: fast %+v, std %+v", b, fb, sb.Items)
			}
			for i := range fb {
				if !reflect.DeepEqual(norm(fb[i]), norm(sb.Items[i])) {
					t.Fatalf("batch %q item %d: fast %+v, std %+v", b, i, fb[i], sb.Items[i])
				}
			}
		}
	})
}

// norm makes empty and nil byte slices alike: the handlers only look at
// their length.
func norm(it EncryptItem) EncryptItem {
	if len(it.Plaintext) == 0 {
		it.Plaintext = nil
	}
	return it
}

func normD(it DecryptItem) DecryptItem {
	if len(it.Ciphertext) == 0 {
		it.Ciphertext = nil
	}
	return it
}

// The hand encoder writes what encoding/json's Encoder writes.
func TestAppendResultMatchesEncodingJSON(t *testing.T) {
	detail := &handlers.APIErrorDetail{Code: "key_not_found", Message: `No key "k" <here> & there` + "\n\u2028é"}
	encs := []EncryptResult{
		{Ciphertext: []byte{1, 2, 3, 250}, KeyID: "key_abc", KeyVersion: 7},
		{Error: detail}, {KeyID: "k<>&\"\\"}, {KeyVersion: -3}, {},
	}
	decs := []DecryptResult{
		{Plaintext: []byte(strings.Repeat("x", 300)), KeyID: "key_abc", KeyVersion: 1},
		{Plaintext: []byte{}, KeyID: "key_abc"}, {Error: detail},
	}
	for _, r := range encs {
		var want bytes.Buffer
		json.NewEncoder(&want).Encode(r)
		if got := string(appendEncrypt(nil, &r)) + "\n"; got != want.String() {
			t.Errorf("encrypt result %+v:\n got %s\nwant %s", r, got, want.String())
		}
	}
	for _, r := range decs {
		var want bytes.Buffer
		json.NewEncoder(&want).Encode(r)
		if got := string(appendDecrypt(nil, &r)) + "\n"; got != want.String() {
			t.Errorf("decrypt result %+v:\n got %s\nwant %s", r, got, want.String())
		}
	}
}

// appendBase64 is base64.StdEncoding.AppendEncode, for every length up to
// a few blocks past the 8-byte loads and every byte value, after a prefix.
func TestAppendBase64(t *testing.T) {
	src := make([]byte, 300)
	for i := range src {
		src[i] = byte(i*7 + i/256)
	}
	for n := 0; n <= len(src); n++ {
		v := src[len(src)-n:]
		want := base64.StdEncoding.AppendEncode([]byte("x"), v)
		if got := appendBase64([]byte("x"), v); !bytes.Equal(got, want) {
			t.Fatalf("%d bytes: %s, want %s", n, got, want)
		}
	}
}

// appendString writes what encoding/json writes for every single byte.
func TestAppendStringByte(t *testing.T) {
	for c := range 256 {
		s := "a" + string([]byte{byte(c)}) + "b"
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); !bytes.Equal(got, want) {
			t.Errorf("byte %#x: %s, want %s", c, got, want)
		}
	}
}
