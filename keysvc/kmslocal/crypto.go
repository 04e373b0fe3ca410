package kmslocal

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"encoding/hex"
	"sort"
)

// Ciphertext blob layout (all of it authenticated):
//
//	"KLC" version(1)=1 | len(account)(1) account | len(keyID)(1) keyID |
//	materialID (32 bytes) | nonce (12) | AES-256-GCM ciphertext and tag
//
// The header names the key by account and id, not Region, so a ciphertext
// made under a multi-Region key decrypts under any of its replicas. The
// associated data is the header followed by the canonical encryption
// context, so any change to either fails authentication.
var blobMagic = [4]byte{'K', 'L', 'C', 1}

const (
	materialIDLen = 32
	nonceLen      = 12
)

type blobHeader struct {
	account, keyID, materialID string
	raw                        []byte // header bytes, the start of the AAD
}

func encodeContext(ctx map[string]string) []byte {
	keys := make([]string, 0, len(ctx))
	for k := range ctx {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := binary.AppendUvarint(nil, uint64(len(keys)))
	for _, k := range keys {
		out = binary.AppendUvarint(out, uint64(len(k)))
		out = append(out, k...)
		out = binary.AppendUvarint(out, uint64(len(ctx[k])))
		out = append(out, ctx[k]...)
	}
	return out
}

func gcmFor(material []byte) cipher.AEAD {
	block, err := aes.NewCipher(material)
	if err != nil {
		panic("kmslocal: key material is not an AES-256 key: " + err.Error())
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic("kmslocal: " + err.Error())
	}
	return aead
}

func (s *Server) seal(k *key, m *material, plaintext []byte, ctx map[string]string) []byte {
	mid, _ := hex.DecodeString(m.ID)
	hdr := append([]byte(nil), blobMagic[:]...)
	hdr = append(hdr, byte(len(k.Account)))
	hdr = append(hdr, k.Account...)
	hdr = append(hdr, byte(len(k.ID)))
	hdr = append(hdr, k.ID...)
	hdr = append(hdr, mid...)
	nonce := s.randBytes(nonceLen)
	aad := append(append([]byte(nil), hdr...), encodeContext(ctx)...)
	out := append(hdr, nonce...)
	return gcmFor(m.Bytes).Seal(out, nonce, plaintext, aad)
}

// parseBlob checks every length before slicing; anything malformed is an
// InvalidCiphertextException, as is a failed authentication later.
func parseBlob(b []byte) (blobHeader, []byte, []byte, bool) {
	var h blobHeader
	if len(b) < len(blobMagic)+1 || [4]byte(b[:4]) != blobMagic {
		return h, nil, nil, false
	}
	p := 4
	take := func() (string, bool) {
		if p >= len(b) {
			return "", false
		}
		n := int(b[p])
		p++
		if n == 0 || p+n > len(b) {
			return "", false
		}
		v := string(b[p : p+n])
		p += n
		return v, true
	}
	var ok bool
	if h.account, ok = take(); !ok {
		return h, nil, nil, false
	}
	if h.keyID, ok = take(); !ok {
		return h, nil, nil, false
	}
	if p+materialIDLen+nonceLen+16 > len(b) {
		return h, nil, nil, false
	}
	h.materialID = hex.EncodeToString(b[p : p+materialIDLen])
	p += materialIDLen
	h.raw = b[:p]
	return h, b[p : p+nonceLen], b[p+nonceLen:], true
}

// open decrypts a blob for the op's caller. keyID, when set, must name the
// key the blob was made under (IncorrectKeyException otherwise).
func (s *Server) open(c *call, blob []byte, ctx map[string]string, keyID, action string) (*key, *material, []byte, *apiError) {
	h, nonce, sealed, ok := parseBlob(blob)
	if !ok {
		return nil, nil, nil, errInvalidCiphertext()
	}
	if keyID != "" {
		named, aerr := s.findKey(c, keyID)
		if aerr != nil {
			return nil, nil, nil, aerr
		}
		if named.ID != h.keyID || named.Account != h.account {
			return nil, nil, nil, newError("IncorrectKeyException",
				"The key ID in the request does not identify a KMS key that can perform this operation.")
		}
	}
	ref := keyRef(c.region, h.account, h.keyID)
	if _, ok := s.st.Keys[ref]; !ok {
		if s.st.Deleted[keyARN(c.region, h.account, h.keyID)] {
			return nil, nil, nil, errNotFound("Key '%s' does not exist", keyARN(c.region, h.account, h.keyID))
		}
		return nil, nil, nil, errInvalidCiphertext()
	}
	k, aerr := s.resolveKey(c, keyARN(c.region, h.account, h.keyID), action)
	if aerr != nil {
		return nil, nil, nil, aerr
	}
	if aerr := checkUsable(k); aerr != nil {
		return nil, nil, nil, aerr
	}
	m := k.materialByID(h.materialID)
	if m == nil || m.State == matPendingRotation {
		return nil, nil, nil, errInvalidCiphertext()
	}
	if m.Bytes == nil {
		return nil, nil, nil, errInvalidState("%s is pending import.", k.ARN)
	}
	aad := append(append([]byte(nil), h.raw...), encodeContext(ctx)...)
	pt, err := gcmFor(m.Bytes).Open(nil, nonce, sealed, aad)
	if err != nil {
		return nil, nil, nil, errInvalidCiphertext()
	}
	return k, m, pt, nil
}

func checkAlgorithm(alg string) *apiError {
	if alg != "" && alg != symmetricDefault {
		return newError("InvalidKeyUsageException", "kmslocal keys support only the SYMMETRIC_DEFAULT encryption algorithm, not %s", alg)
	}
	return nil
}

// encryptingKey resolves a key for an operation that makes new ciphertext
// and returns its current material.
func (s *Server) encryptingKey(c *call, id, action string) (*key, *material, *apiError) {
	k, aerr := s.resolveKey(c, id, action)
	if aerr != nil {
		return nil, nil, aerr
	}
	if aerr := checkUsable(k); aerr != nil {
		return nil, nil, aerr
	}
	m := k.current()
	if m == nil || m.Bytes == nil {
		return nil, nil, errInvalidState("%s is pending import.", k.ARN)
	}
	return k, m, nil
}

func (s *Server) encrypt(c *call, body []byte) (any, *apiError) {
	var in struct {
		KeyId               string
		Plaintext           []byte
		EncryptionContext   map[string]string
		EncryptionAlgorithm string
	}
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	if len(in.Plaintext) < 1 || len(in.Plaintext) > 4096 {
		return nil, errValidation("1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length between 1 and 4096")
	}
	if aerr := checkAlgorithm(in.EncryptionAlgorithm); aerr != nil {
		return nil, aerr
	}
	c.encCtx = in.EncryptionContext
	k, m, aerr := s.encryptingKey(c, in.KeyId, "kms:Encrypt")
	if aerr != nil {
		return nil, aerr
	}
	return map[string]any{
		"CiphertextBlob": s.seal(k, m, in.Plaintext, in.EncryptionContext),
		"KeyId":          k.ARN, "EncryptionAlgorithm": symmetricDefault,
	}, nil
}

func (s *Server) decrypt(c *call, body []byte) (any, *apiError) {
	var in struct {
		CiphertextBlob      []byte
		EncryptionContext   map[string]string
		KeyId               string
		EncryptionAlgorithm string
		Recipient           any
	}
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	if in.Recipient != nil {
		return nil, errUnsupported("kmslocal does not support Recipient (Nitro Enclaves)")
	}
	if aerr := checkAlgorithm(in.EncryptionAlgorithm); aerr != nil {
		return nil, aerr
	}
	c.encCtx = in.EncryptionContext
	k, m, pt, aerr := s.open(c, in.CiphertextBlob, in.EncryptionContext, in.KeyId, "kms:Decrypt")
	if aerr != nil {
		return nil, aerr
	}
	return map[string]any{"Plaintext": pt, "KeyId": k.ARN, "EncryptionAlgorithm": symmetricDefault, "KeyMaterialId": m.ID}, nil
}

func (s *Server) reEncrypt(c *call, body []byte) (any, *apiError) {
	var in struct {
		CiphertextBlob                                            []byte
		SourceEncryptionContext, DestinationEncryptionContext     map[string]string
		SourceKeyId, DestinationKeyId                             string
		SourceEncryptionAlgorithm, DestinationEncryptionAlgorithm string
	}
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	for _, alg := range []string{in.SourceEncryptionAlgorithm, in.DestinationEncryptionAlgorithm} {
		if aerr := checkAlgorithm(alg); aerr != nil {
			return nil, aerr
		}
	}
	c.encCtx = in.SourceEncryptionContext
	src, sm, pt, aerr := s.open(c, in.CiphertextBlob, in.SourceEncryptionContext, in.SourceKeyId, "kms:ReEncryptFrom")
	if aerr != nil {
		return nil, aerr
	}
	c.encCtx = in.DestinationEncryptionContext
	dst, dm, aerr := s.encryptingKey(c, in.DestinationKeyId, "kms:ReEncryptTo")
	if aerr != nil {
		return nil, aerr
	}
	return map[string]any{
		"CiphertextBlob": s.seal(dst, dm, pt, in.DestinationEncryptionContext),
		"SourceKeyId":    src.ARN, "KeyId": dst.ARN,
		"SourceEncryptionAlgorithm": symmetricDefault, "DestinationEncryptionAlgorithm": symmetricDefault,
		"SourceKeyMaterialId": sm.ID, "DestinationKeyMaterialId": dm.ID,
	}, nil
}

func (s *Server) generateDataKey(c *call, body []byte) (any, *apiError) {
	return s.dataKey(c, body, "kms:GenerateDataKey", true)
}

func (s *Server) generateDataKeyWithoutPlaintext(c *call, body []byte) (any, *apiError) {
	return s.dataKey(c, body, "kms:GenerateDataKeyWithoutPlaintext", false)
}

func (s *Server) dataKey(c *call, body []byte, action string, withPlaintext bool) (any, *apiError) {
	var in struct {
		KeyId             string
		EncryptionContext map[string]string
		KeySpec           string
		NumberOfBytes     *int32
		Recipient         any
	}
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	if in.Recipient != nil {
		return nil, errUnsupported("kmslocal does not support Recipient (Nitro Enclaves)")
	}
	var n int
	switch {
	case in.KeySpec != "" && in.NumberOfBytes != nil:
		return nil, errValidation("Please specify either number of bytes or key spec, not both.")
	case in.KeySpec == "AES_256":
		n = 32
	case in.KeySpec == "AES_128":
		n = 16
	case in.KeySpec != "":
		return nil, errValidation("1 validation error detected: Value '%s' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]", in.KeySpec)
	case in.NumberOfBytes != nil:
		n = int(*in.NumberOfBytes)
		if n < 1 || n > 1024 {
			return nil, errValidation("1 validation error detected: Value '%d' at 'numberOfBytes' failed to satisfy constraint: Member must have value between 1 and 1024", n)
		}
	default:
		return nil, errValidation("Please specify either number of bytes or key spec.")
	}
	c.encCtx = in.EncryptionContext
	k, m, aerr := s.encryptingKey(c, in.KeyId, action)
	if aerr != nil {
		return nil, aerr
	}
	pt := s.randBytes(n)
	out := map[string]any{"CiphertextBlob": s.seal(k, m, pt, in.EncryptionContext), "KeyId": k.ARN, "KeyMaterialId": m.ID}
	if withPlaintext {
		out["Plaintext"] = pt
	}
	return out, nil
}

func (s *Server) generateRandom(c *call, body []byte) (any, *apiError) {
	var in struct{ NumberOfBytes *int32 }
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	if in.NumberOfBytes == nil || *in.NumberOfBytes < 1 || *in.NumberOfBytes > 1024 {
		return nil, errValidation("NumberOfBytes must be between 1 and 1024")
	}
	return map[string]any{"Plaintext": s.randBytes(int(*in.NumberOfBytes))}, nil
}
