package dataapi

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/labstack/echo/v4"

	"keyport/handlers"
)

// The hot calls (encrypt, decrypt, their batches, rewrap) read the body
// into a pooled buffer and decode their fixed request shapes by hand, and
// answer from a pooled buffer with one Write and a Content-Length. The
// hand decoder takes only the plain form (exact field names, strings
// without escapes, ASCII); anything else (an escape, a field name in
// another case, null, a number, a syntax error, an unknown field, trailing
// data) goes to handlers.DecodeJSON over the same bytes, so every refusal
// is the standard decoder's, word for word.

// bufPool holds request and response buffers. Both may hold plaintext:
// they are cleared before they go back.
var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooled keeps a rare large batch from pinning its buffer.
const maxPooled = 256 << 10

func getBuf() *bytes.Buffer { return bufPool.Get().(*bytes.Buffer) }

func putBuf(b *bytes.Buffer) {
	if b.Cap() > maxPooled {
		return
	}
	// Plaintext or its base64 must not linger: the body, and after it the
	// bytes decoded from it (at most as long), are cleared; the rest was
	// cleared before.
	clear(b.Bytes()[:min(b.Cap(), 2*b.Len())])
	b.Reset()
	bufPool.Put(b)
}

// errReader returns err once its bytes are spent: a body whose reading
// failed is replayed to the standard decoder with the same failure.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// decodeBody decodes the request body into v: by parse (the fast path)
// when it takes the body, else by handlers.DecodeJSON over the same bytes.
// buf holds the body and, after it, the bytes the fast path decodes (v's
// byte slices point there): the caller puts buf back only when done with v.
func decodeBody[T any](c echo.Context, buf *bytes.Buffer, v *T, parse func(body, spare []byte) bool) error {
	req := c.Request()
	if ct := header(req.Header, "Content-Type"); ct != "" && !hasPrefix(ct, "application/json") {
		return handlers.DecodeJSON(c, new(T)) // the standard refusal
	}
	if n := int(req.ContentLength); n > 0 { // at most the body limit: the middleware refused larger
		buf.Grow(n + n*3/4 + bytes.MinRead) // the body, then what its base64 decodes to
	}
	_, err := buf.ReadFrom(req.Body)
	if err == nil && parse(buf.Bytes(), buf.AvailableBuffer()) {
		return nil
	}
	var body io.Reader = bytes.NewReader(buf.Bytes())
	if err != nil {
		body = io.MultiReader(body, errReader{err})
	}
	req.Body = io.NopCloser(body)
	// Decoded into a value of its own, copied to v: v, which the fast path
	// fills, then need not live on the heap.
	p := new(T)
	err = handlers.DecodeJSON(c, p)
	*v = *p
	return err
}

// header is h.Get(key) for a key already in canonical form: no
// canonicalising on the way.
func header(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

// scanner walks a JSON body in the plain form; every method returns false
// where the body leaves it (the caller then falls back).
type scanner struct {
	b []byte
	i int

	// A batch's items mostly repeat their key and context: the previous
	// item's are reused (never changed: a second "context" in one item is
	// left to encoding/json). Decoded bytes go to arena, the pooled
	// buffer's room after the body.
	lastKeyID  string
	lastCtxRaw []byte
	lastCtx    map[string]string
	given      *seen // what newScanner started from
	arena      []byte
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// next skips whitespace and consumes c if it comes next.
func (s *scanner) next(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str reads a string of printable ASCII without escapes and returns its
// contents (a slice of the body).
func (s *scanner) str() ([]byte, bool) {
	v, ok := s.rawStr()
	if !ok {
		return nil, false
	}
	for _, c := range v {
		if !plainByte[c] {
			return nil, false
		}
	}
	return v, true
}

// plainByte holds the bytes str takes: printable ASCII but the backslash
// (an escape) and the quote (the end).
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '\\' && c != '"'
	}
	return t
}()

// rawStr reads a string up to the next quote, its bytes unchecked: the
// caller refuses the string if they hold anything but the plain form.
func (s *scanner) rawStr() ([]byte, bool) {
	if !s.next('"') {
		return nil, false
	}
	n := bytes.IndexByte(s.b[s.i:], '"')
	if n < 0 {
		return nil, false
	}
	v := s.b[s.i : s.i+n]
	s.i += n + 1
	return v, true
}

// end reports whether only whitespace is left.
func (s *scanner) end() bool {
	s.ws()
	return s.i == len(s.b)
}

// object reads {"name": value, ...}, calling field for each name; field
// reads the value.
func (s *scanner) object(field func(name []byte) bool) bool {
	if !s.next('{') {
		return false
	}
	if s.next('}') {
		return true
	}
	for {
		name, ok := s.str()
		if !ok || !s.next(':') || !field(name) {
			return false
		}
		if s.next('}') {
			return true
		}
		if !s.next(',') {
			return false
		}
	}
}

// b64 reads a string holding standard base64, as encoding/json decodes
// a []byte.
func (s *scanner) b64() ([]byte, bool) {
	// The base64 decoder refuses every byte str would but the line breaks
	// it skips (a raw one is invalid JSON): only those are looked for
	// here, not each byte twice.
	v, ok := s.rawStr()
	if !ok || bytes.IndexByte(v, '\n') >= 0 || bytes.IndexByte(v, '\r') >= 0 {
		return nil, false
	}
	n := base64.StdEncoding.DecodedLen(len(v))
	if cap(s.arena)-len(s.arena) < n {
		s.arena = make([]byte, 0, max(n, min(len(s.b), 64<<10)))
	}
	start := len(s.arena)
	dst := s.arena[start : start+n]
	n, err := base64.StdEncoding.Decode(dst, v)
	if err != nil {
		return nil, false
	}
	s.arena = s.arena[:start+n]
	return dst[:n:n], true // full: an append never reaches the next item's bytes
}

// keyID reads a key id, reusing the previous item's string when equal.
func (s *scanner) keyID() (string, bool) {
	v, ok := s.str()
	if !ok {
		return "", false
	}
	if string(v) != s.lastKeyID {
		s.lastKeyID = string(v)
	}
	return s.lastKeyID, true
}

// context reads {"k": "v", ...} into *m. A context written exactly as the
// previous item's shares its map (the data plane only reads contexts). A
// second context in one item merges into the first in encoding/json:
// left to it, so a shared map is never written.
func (s *scanner) context(m *map[string]string) bool {
	if *m != nil {
		return false
	}
	s.ws()
	if s.lastCtx != nil && bytes.HasPrefix(s.b[s.i:], s.lastCtxRaw) {
		s.i += len(s.lastCtxRaw)
		*m = s.lastCtx
		return true
	}
	start := s.i
	ctx := make(map[string]string, 1)
	ok := s.object(func(k []byte) bool {
		v, ok := s.str()
		if ok {
			ctx[string(k)] = string(v)
		}
		return ok
	})
	if ok {
		*m, s.lastCtx, s.lastCtxRaw = ctx, ctx, s.b[start:s.i]
	}
	return ok
}

func (s *scanner) encryptItem(it *EncryptItem) bool {
	return s.object(func(name []byte) bool {
		var ok bool
		var v []byte
		switch string(name) {
		case "key_id":
			it.KeyID, ok = s.keyID()
		case "plaintext":
			it.Plaintext, ok = s.b64()
		case "context":
			ok = s.context(&it.Context)
		case "tenant":
			v, ok = s.str()
			it.Tenant = string(v)
		}
		return ok
	})
}

func (s *scanner) decryptItem(it *DecryptItem) bool {
	return s.object(func(name []byte) bool {
		var ok bool
		var v []byte
		switch string(name) {
		case "ciphertext":
			it.Ciphertext, ok = s.b64()
		case "context":
			ok = s.context(&it.Context)
		case "tenant":
			v, ok = s.str()
			it.Tenant = string(v)
		}
		return ok
	})
}

// items reads {"items": [item, ...]}.
func items[I any](s *scanner, out *[]I, item func(*scanner, *I) bool) bool {
	seen := false // a second "items" merges in encoding/json: left to it
	return s.object(func(name []byte) bool {
		if string(name) != "items" || seen || !s.next('[') {
			return false
		}
		seen = true
		*out = make([]I, 0, 8)
		if s.next(']') {
			return true
		}
		for {
			var it I
			if !item(s, &it) {
				return false
			}
			*out = append(*out, it)
			if s.next(']') {
				return true
			}
			if !s.next(',') {
				return false
			}
		}
	})
}

// seen is what the fast decoder read last, handed to the requests after
// it: services send the same key id and context again and again, and
// those then share the string and the map (the data plane only reads
// contexts) instead of allocating their own.
type seen struct {
	keyID  string
	ctxRaw []byte // a copy: the body's buffer goes back to the pool
	ctx    map[string]string
}

var lastSeen atomic.Pointer[seen]

// maxSeenContext keeps a large context from being held between requests.
const maxSeenContext = 1 << 10

// newScanner scans b (decoded bytes go to spare), starting from what the
// last request read.
func newScanner(b, spare []byte) scanner {
	s := scanner{b: b, arena: spare}
	if g := lastSeen.Load(); g != nil {
		s.lastKeyID, s.lastCtxRaw, s.lastCtx, s.given = g.keyID, g.ctxRaw, g.ctx, g
	}
	return s
}

// remember hands what s read last to the requests after it, when that is
// not what s was given.
func (s *scanner) remember() {
	if g := s.given; g != nil && s.lastKeyID == g.keyID && bytes.Equal(s.lastCtxRaw, g.ctxRaw) {
		return
	}
	if len(s.lastCtxRaw) > maxSeenContext {
		return
	}
	lastSeen.Store(&seen{keyID: s.lastKeyID, ctxRaw: bytes.Clone(s.lastCtxRaw), ctx: s.lastCtx})
}

func parseEncrypt(it *EncryptItem) func(body, spare []byte) bool {
	return func(b, spare []byte) bool {
		s := newScanner(b, spare)
		if !s.encryptItem(it) || !s.end() {
			*it = EncryptItem{}
			return false
		}
		s.remember()
		return true
	}
}

func parseDecrypt(it *DecryptItem) func(body, spare []byte) bool {
	return func(b, spare []byte) bool {
		s := newScanner(b, spare)
		if !s.decryptItem(it) || !s.end() {
			*it = DecryptItem{}
			return false
		}
		s.remember()
		return true
	}
}

func parseBatch[I any](out *[]I, item func(*scanner, *I) bool) func(body, spare []byte) bool {
	return func(b, spare []byte) bool {
		s := newScanner(b, spare)
		if !items(&s, out, item) || !s.end() {
			*out = nil
			return false
		}
		s.remember()
		return true
	}
}

// Answers.

var (
	jsonContentType = []string{echo.MIMEApplicationJSON}
	noStore         = []string{"no-store"}
)

// writeBody answers 200 with the JSON in buf (one Write, with its length).
func writeBody(c echo.Context, buf *bytes.Buffer) error {
	res := c.Response()
	h := res.Header()
	h["Content-Type"] = jsonContentType
	h["Content-Length"] = []string{strconv.Itoa(buf.Len())}
	res.WriteHeader(http.StatusOK)
	_, err := res.Write(buf.Bytes())
	return err
}

// appendString appends s as encoding/json does (HTML-safe escapes
// included): by hand when nothing needs escaping, else through json.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if !plainOut[s[i]] {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// plainOut holds the bytes encoding/json writes as they are in a string:
// printable ASCII but the quote, the backslash and the HTML-escaped three.
var plainOut = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = strings.IndexByte(`"\<>&`, byte(c)) < 0
	}
	return t
}()

func appendB64(b []byte, v []byte) []byte {
	b = append(b, '"')
	b = appendBase64(b, v)
	return append(b, '"')
}

// b64Pairs holds the two characters of standard base64 for each 12 bits,
// the first in the low byte.
var b64Pairs = func() (t [1 << 12]uint16) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for v := range t {
		t[v] = uint16(alphabet[v>>6]) | uint16(alphabet[v&63])<<8
	}
	return t
}()

// appendBase64 appends v in standard base64, as
// base64.StdEncoding.AppendEncode does, 6 bytes to 8 characters at a time
// (one 8-byte load, four table reads, one 8-byte store); the last few
// bytes, and the padding, are the standard encoder's.
func appendBase64(b, v []byte) []byte {
	n := base64.StdEncoding.EncodedLen(len(v))
	b = slices.Grow(b, n)
	dst := b[len(b) : len(b)+n]
	si, di := 0, 0
	for ; len(v)-si >= 8; si, di = si+6, di+8 { // 8 bytes readable, 6 used
		x := binary.BigEndian.Uint64(v[si:])
		binary.LittleEndian.PutUint64(dst[di:], uint64(b64Pairs[x>>52])|uint64(b64Pairs[x>>40&0xfff])<<16|
			uint64(b64Pairs[x>>28&0xfff])<<32|uint64(b64Pairs[x>>16&0xfff])<<48)
	}
	base64.StdEncoding.Encode(dst[di:], v[si:]) // si is a multiple of 3: the rest encodes on its own
	return b[:len(b)+n]
}

// appendResult appends one answer as encoding/json encodes EncryptResult
// and DecryptResult (data is ciphertext or plaintext, under name).
func appendResult(b []byte, name string, data []byte, keyID string, version int64, e *handlers.APIErrorDetail) []byte {
	b = append(b, '{')
	open := len(b) // nothing written yet: no comma before the next field
	if len(data) > 0 {
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, `":`...)
		b = appendB64(b, data)
	}
	if keyID != "" {
		if len(b) > open {
			b = append(b, ',')
		}
		b = append(b, `"key_id":`...)
		b = appendString(b, keyID)
	}
	if version != 0 {
		if len(b) > open {
			b = append(b, ',')
		}
		b = append(b, `"key_version":`...)
		b = strconv.AppendInt(b, version, 10)
	}
	if e != nil {
		if len(b) > open {
			b = append(b, ',')
		}
		b = append(b, `"error":{"code":`...)
		b = appendString(b, e.Code)
		b = append(b, `,"message":`...)
		b = appendString(b, e.Message)
		b = append(b, '}')
	}
	return append(b, '}')
}

func appendEncrypt(b []byte, r *EncryptResult) []byte {
	return appendResult(b, "ciphertext", r.Ciphertext, r.KeyID, r.KeyVersion, r.Error)
}

func appendDecrypt(b []byte, r *DecryptResult) []byte {
	return appendResult(b, "plaintext", r.Plaintext, r.KeyID, r.KeyVersion, r.Error)
}

// writeEncrypt and writeDecrypt answer one result, writeItems a batch as
// {"items": [...]}. All end with the newline encoding/json's Encoder
// writes. (Not one generic writer: a result reached through a function
// value would escape to the heap.)
func writeEncrypt(c echo.Context, r *EncryptResult) error {
	out := getBuf()
	defer putBuf(out)
	out.Write(appendEncrypt(out.AvailableBuffer(), r))
	out.WriteByte('\n')
	return writeBody(c, out)
}

func writeDecrypt(c echo.Context, r *DecryptResult) error {
	out := getBuf()
	defer putBuf(out)
	out.Write(appendDecrypt(out.AvailableBuffer(), r))
	out.WriteByte('\n')
	return writeBody(c, out)
}

func writeItems[R any](c echo.Context, rs []R, appendR func([]byte, *R) []byte) error {
	out := getBuf()
	defer putBuf(out)
	out.WriteString(`{"items":[`)
	for i := range rs {
		if i > 0 {
			out.WriteByte(',')
		}
		out.Write(appendR(out.AvailableBuffer(), &rs[i]))
	}
	out.WriteString("]}\n")
	return writeBody(c, out)
}
