package kmslocal

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"hash"
	"time"

	"keyport/keysvc/kwp"
)

// importParams is one GetParametersForImport answer: the wrapping private
// key and the token that goes with it. They live in memory only, so a
// restart invalidates outstanding tokens (InvalidImportTokenException).
type importParams struct {
	KeyARN    string
	Algorithm string
	Private   *rsa.PrivateKey
	ValidTo   time.Time
}

// importTokenLife is how long AWS keeps a public key and import token valid.
const importTokenLife = 24 * time.Hour

var wrappingBits = map[string]int{"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}

var wrappingAlgorithms = map[string]bool{
	"RSAES_OAEP_SHA_1": true, "RSAES_OAEP_SHA_256": true,
	"RSA_AES_KEY_WRAP_SHA_1": true, "RSA_AES_KEY_WRAP_SHA_256": true,
}

// getParametersForImport takes the lock itself: RSA key generation takes
// long enough (seconds for 4096 bits under -race) that holding the lock
// through it would stall every other caller.
func (s *Server) getParametersForImport(c *call, body []byte) (any, *apiError) {
	var in struct{ KeyId, WrappingAlgorithm, WrappingKeySpec string }
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	bits, ok := wrappingBits[in.WrappingKeySpec]
	if !ok {
		return nil, errValidation("1 validation error detected: Value '%s' at 'wrappingKeySpec' failed to satisfy constraint: Member must satisfy enum value set: [RSA_2048, RSA_3072, RSA_4096]", in.WrappingKeySpec)
	}
	if !wrappingAlgorithms[in.WrappingAlgorithm] {
		return nil, errUnsupported("kmslocal does not support WrappingAlgorithm %q for symmetric key material", in.WrappingAlgorithm)
	}
	if aerr := s.wrappingOffered(in.WrappingKeySpec, in.WrappingAlgorithm); aerr != nil {
		return nil, aerr
	}
	out, aerr := s.locked(c, func() (any, *apiError) {
		k, aerr := s.importableKey(c, in.KeyId, "kms:GetParametersForImport")
		if aerr != nil {
			return nil, aerr
		}
		return k.ARN, nil
	})
	if aerr != nil {
		return nil, aerr
	}
	priv, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, newError("KMSInternalException", "generate wrapping key: %v", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return nil, newError("KMSInternalException", "encode wrapping key: %v", err)
	}
	token := append([]byte("kmslocal-import-token:"), s.randBytes(48)...)
	p := &importParams{KeyARN: out.(string), Algorithm: in.WrappingAlgorithm, Private: priv, ValidTo: c.now.Add(importTokenLife)}
	s.mu.Lock()
	s.imports[string(token)] = p
	s.mu.Unlock()
	return map[string]any{"KeyId": p.KeyARN, "ImportToken": token, "PublicKey": pub, "ParametersValidTo": tsOf(p.ValidTo)}, nil
}

// importableKey resolves a key that key material can be imported into.
func (s *Server) importableKey(c *call, id, action string) (*key, *apiError) {
	k, aerr := s.resolveKey(c, id, action)
	if aerr != nil {
		return nil, aerr
	}
	if k.Origin != originExternal {
		return nil, errUnsupported("%s has Origin %s; key material can only be imported into EXTERNAL keys", k.ARN, k.Origin)
	}
	if aerr := checkNotDeleting(k); aerr != nil {
		return nil, aerr
	}
	return k, nil
}

// unwrapMaterial undoes the client-side wrapping. RSA_AES_KEY_WRAP is
// RSA-OAEP of a fresh AES-256 key followed by AES-KWP of the material under
// that key, concatenated.
func unwrapMaterial(p *importParams, blob []byte) ([]byte, bool) {
	var h hash.Hash
	switch p.Algorithm {
	case "RSAES_OAEP_SHA_1", "RSA_AES_KEY_WRAP_SHA_1":
		h = sha1.New()
	default:
		h = sha256.New()
	}
	switch p.Algorithm {
	case "RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256":
		pt, err := rsa.DecryptOAEP(h, nil, p.Private, blob, nil)
		return pt, err == nil
	default:
		n := p.Private.Size()
		if len(blob) <= n {
			return nil, false
		}
		aesKey, err := rsa.DecryptOAEP(h, nil, p.Private, blob[:n], nil)
		if err != nil || len(aesKey) != 32 {
			return nil, false
		}
		pt, err := kwp.Unwrap(aesKey, blob[n:])
		return pt, err == nil
	}
}

func (s *Server) importKeyMaterial(c *call, body []byte) (any, *apiError) {
	var in struct {
		KeyId, ExpirationModel, ImportType    string
		ImportToken, EncryptedKeyMaterial     []byte
		ValidTo                               *awsTime
		KeyMaterialId, KeyMaterialDescription *string
	}
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	k, aerr := s.importableKey(c, in.KeyId, "kms:ImportKeyMaterial")
	if aerr != nil {
		return nil, aerr
	}
	p, ok := s.imports[string(in.ImportToken)]
	if !ok || p.KeyARN != k.ARN {
		return nil, newError("InvalidImportTokenException", "The import token is invalid or was issued for another KMS key.")
	}
	if c.now.After(p.ValidTo) {
		return nil, newError("ExpiredImportTokenException", "The import token expired at %s.", p.ValidTo.Format(time.RFC3339))
	}
	model, validTo, aerr := expiration(c.now, in.ExpirationModel, in.ValidTo)
	if aerr != nil {
		return nil, aerr
	}
	raw, ok := unwrapMaterial(p, in.EncryptedKeyMaterial)
	if !ok {
		return nil, errInvalidCiphertext()
	}
	if len(raw) != 32 {
		return nil, newError("IncorrectKeyMaterialException", "symmetric key material must be 256 bits, got %d", 8*len(raw))
	}
	id := materialID(k.ID, raw)
	if in.KeyMaterialId != nil && *in.KeyMaterialId != id {
		return nil, newError("IncorrectKeyMaterialException", "The key material does not match KeyMaterialId %s.", *in.KeyMaterialId)
	}
	m := k.materialByID(id)
	switch {
	case in.ImportType == "NEW_KEY_MATERIAL" && len(k.Materials) > 0:
		if m != nil {
			return nil, newError("IncorrectKeyMaterialException", "This key material is already associated with %s; NEW_KEY_MATERIAL needs different material.", k.ARN)
		}
		if k.isReplica() {
			return nil, errUnsupported("import new key material into the primary key %s first", keyARN(k.PrimaryRegion, k.Account, k.ID))
		}
		if old := k.pendingRotation(); old != nil {
			return nil, errInvalidState("%s already has key material pending rotation (%s).", k.ARN, old.ID)
		}
		m = &material{ID: id, State: matPendingRotation, Created: c.now}
		k.Materials = append(k.Materials, m)
	case len(k.Materials) == 0:
		m = &material{ID: id, State: matCurrent, Created: c.now}
		k.Materials = []*material{m}
	case m == nil && k.isReplica() && s.pendingOnPrimary(k, id):
		// New material reaches a replica as EXISTING_KEY_MATERIAL once the
		// primary has it pending rotation.
		m = &material{ID: id, State: matPendingRotation, Created: c.now}
		k.Materials = append(k.Materials, m)
	case m == nil:
		return nil, newError("IncorrectKeyMaterialException", "The key material is not the same key material that was previously imported into %s.", k.ARN)
	}
	m.Bytes, m.Imported, m.ExpirationModel, m.ValidTo = raw, true, model, validTo
	if in.KeyMaterialDescription != nil {
		m.Description = *in.KeyMaterialDescription
	}
	if k.State == statePendingImport && !k.missingMaterial() {
		k.State = stateEnabled
	}
	s.dirty = true
	return map[string]any{"KeyId": k.ARN, "KeyMaterialId": id}, nil
}

func (s *Server) pendingOnPrimary(k *key, id string) bool {
	p := s.st.Keys[keyRef(k.PrimaryRegion, k.Account, k.ID)]
	if p == nil {
		return false
	}
	m := p.materialByID(id)
	return m != nil && m.State == matPendingRotation
}

// expiration applies the ExpirationModel / ValidTo rules of ImportKeyMaterial.
func expiration(now time.Time, model string, validTo *awsTime) (string, *time.Time, *apiError) {
	if model == "" {
		// AWS's default is KEY_MATERIAL_EXPIRES, so a caller that names
		// no model must give ValidTo, or set KEY_MATERIAL_DOES_NOT_EXPIRE.
		model = expires
	}
	switch model {
	case doesNotExpire:
		if validTo != nil {
			return "", nil, errValidation("ValidTo must be omitted when ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE")
		}
		return model, nil, nil
	case expires:
		if validTo == nil {
			return "", nil, errValidation("ValidTo is required when ExpirationModel is KEY_MATERIAL_EXPIRES")
		}
		t := validTo.Time.UTC()
		if !t.After(now) || t.After(now.Add(365*day)) {
			return "", nil, errValidation("ValidTo must be in the future and at most 365 days from now")
		}
		return model, &t, nil
	default:
		return "", nil, errValidation("unknown ExpirationModel %q", model)
	}
}

func (s *Server) deleteImportedKeyMaterial(c *call, body []byte) (any, *apiError) {
	var in struct {
		KeyId         string
		KeyMaterialId *string
	}
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	k, aerr := s.importableKey(c, in.KeyId, "kms:DeleteImportedKeyMaterial")
	if aerr != nil {
		return nil, aerr
	}
	m := k.current()
	if in.KeyMaterialId != nil {
		m = k.materialByID(*in.KeyMaterialId)
	}
	if m == nil {
		return nil, errNotFound("no such key material for %s", k.ARN)
	}
	if m.State == matPendingRotation {
		// Material that never became part of the key can simply be dropped.
		kept := k.Materials[:0]
		for _, x := range k.Materials {
			if x != m {
				kept = append(kept, x)
			}
		}
		k.Materials = kept
	} else {
		m.Bytes, m.ValidTo = nil, nil
		k.State = statePendingImport
	}
	s.dirty = true
	return map[string]any{"KeyId": k.ARN, "KeyMaterialId": m.ID}, nil
}

// LoseKeyMaterial drops the imported material of every key with this id
// or ARN, as an AWS outage or expiry would, so tests can exercise the
// MATERIAL_EXPIRED path; the same material can be re-imported afterwards.
func (s *Server) LoseKeyMaterial(keyIDOrARN string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	found := false
	for _, k := range s.st.Keys {
		if (k.ID != keyIDOrARN && k.ARN != keyIDOrARN) || k.Origin != originExternal {
			continue
		}
		found = true
		for _, m := range k.Materials {
			m.Bytes = nil
		}
		if k.State == stateEnabled || k.State == stateDisabled {
			k.State = statePendingImport
		}
	}
	if !found {
		return fmt.Errorf("kmslocal: no EXTERNAL key %q", keyIDOrARN)
	}
	s.nextEvent = time.Time{}
	return s.saveLocked()
}
