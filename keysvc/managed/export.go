package managed

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"strconv"
	"strings"

	jose "github.com/go-jose/go-jose/v4"

	"keyport/keysvc"
	"keyport/models"
)

// Export formats.
const (
	ExportRSA = "rsa" // wrapped to the tenant's RSA public key
	ExportJWE = "jwe" // a JWE (RFC 7516) protected by a passphrase
)

// Export limits: RSA keys below 2048 bits are refused (3072+ is
// recommended on the page) and so are keys above 8192 bits, whose cost
// grows with the cube of the size (a 262,144-bit key took ~10 s of CPU
// per export); the public exponent must be 65537, the only one KMS and
// every common tool generate. Passphrases are at least 16 characters, and
// the PBKDF2 count is OWASP's figure for PBKDF2-HMAC-SHA512 with margin
// (go-jose and jwcrypto accept it).
const (
	MinExportRSABits  = 2048
	MaxExportRSABits  = 8192
	ExportRSAExponent = 65537
	maxExportPEMLen   = 16 << 10 // an 8192-bit key's PEM is under 1.5 KiB
	MinPassphraseLen  = 16
	exportPBES2Count  = 310000
	jweContentTypeJWK = "jwk+json"
)

// ExportInput is the export form.
type ExportInput struct {
	Format       string
	MaterialID   string // "" = the active material
	PublicKeyPEM string // ExportRSA: PEM "PUBLIC KEY" (or "RSA PUBLIC KEY")
	Algorithm    string // ExportRSA: WrapOAEPSHA256 (default) or WrapRSAAESKWP256
	Passphrase   string // ExportJWE
	ApprovalID   string // when the provider requires a second admin's approval
}

// String leaves the passphrase out of logs.
func (in ExportInput) String() string {
	return "keysvc.ExportInput{format: " + in.Format + ", material: " + in.MaterialID + "}"
}

// LogValue keeps the passphrase out of slog too: the JSON handler would
// otherwise marshal every field, ignoring String.
func (in ExportInput) LogValue() slog.Value { return slog.StringValue(in.String()) }

// ExportFile is an exported material, ready to download. Body is the only
// place keyport ever puts key material outside its seal.
type ExportFile struct {
	Name        string
	ContentType string
	Body        []byte
	Fingerprint string
	Version     int
}

// String leaves the body out of logs: wrapped as it is, a passphrase file
// in a log could be attacked offline.
func (f ExportFile) String() string { return "keysvc.ExportFile{name: " + f.Name + "}" }

// LogValue leaves the body out of slog too.
func (f ExportFile) LogValue() slog.Value { return slog.StringValue(f.String()) }

// Export hands a key's material to an admin: wrapped to their RSA public
// key, or as a passphrase-protected JWE (PBES2-HS512+A256KW, A256GCM)
// whose payload is the material as a JWK. Recent sign-in and the role are
// checked by the caller; a required approval is consumed here.
func (s *Service) Export(ctx context.Context, tenantID string, by keysvc.RequestBy, keyID string, in ExportInput) (*ExportFile, error) {
	k, _, err := s.managedKey(ctx, tenantID, keyID, models.StateEnabled, models.StateDisabled, models.StatePendingDeletion)
	if err != nil {
		return nil, err
	}
	mat, err := s.exportMaterial(ctx, tenantID, keyID, in.MaterialID)
	if err != nil {
		return nil, err
	}
	var pub *rsa.PublicKey
	switch in.Format {
	case ExportRSA:
		if pub, err = ParseExportPublicKey(in.PublicKeyPEM); err != nil {
			return nil, err
		}
		if in.Algorithm == "" {
			in.Algorithm = WrapOAEPSHA256
		}
		if in.Algorithm != WrapOAEPSHA256 && in.Algorithm != WrapRSAAESKWP256 {
			return nil, &keysvc.ValidationError{Field: "algorithm", Message: "choose RSAES-OAEP-SHA-256 or RSA-OAEP + AES-KWP"}
		}
	case ExportJWE:
		if err := checkPassphrase(in.Passphrase); err != nil {
			return nil, err
		}
	default:
		return nil, &keysvc.ValidationError{Field: "format", Message: "choose RSA-wrapped or passphrase-protected"}
	}
	// The approval is checked now and spent only with the export's audit
	// record, after the file is made: a failed export leaves it usable.
	needApproval, err := s.checkApproval(ctx, tenantID, by, keyID, models.ApprovalExport, in.ApprovalID)
	if err != nil {
		return nil, err
	}
	plain, err := s.openMaterial(mat.ID, mat.Sealed, mat.Fingerprint)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	f := &ExportFile{Fingerprint: mat.Fingerprint, Version: mat.Seq}
	details := map[string]string{"format": in.Format, "material": mat.ID, "fingerprint": mat.Fingerprint}
	if pub != nil {
		if f.Body, err = s.wrapMaterial(pub, in.Algorithm, plain); err != nil {
			return nil, err
		}
		der, _ := x509.MarshalPKIXPublicKey(pub)
		sum := sha256.Sum256(der)
		details["algorithm"], details["public_key_sha256"] = in.Algorithm, hex.EncodeToString(sum[:])
		f.Name, f.ContentType = ExportFileName(k.ID, mat.Seq, ExportRSA), "application/octet-stream"
	} else {
		if f.Body, err = sealJWE(k.ID, mat, plain, in.Passphrase); err != nil {
			return nil, err
		}
		details["algorithm"] = string(jose.PBES2_HS512_A256KW) + "/" + string(jose.A256GCM)
		f.Name, f.ContentType = ExportFileName(k.ID, mat.Seq, ExportJWE), "application/jose"
	}
	ev := models.AuditInput{TenantID: tenantID, Actor: by.UserID, RequestID: by.RequestID,
		Action: "key.exported", TargetType: "key", TargetID: keyID, Details: details}
	if needApproval {
		details["approval_id"] = in.ApprovalID
		err = s.spendApproval(ctx, tenantID, by, keyID, models.ApprovalExport, in.ApprovalID, &ev)
	} else {
		_, err = s.db.AppendAudit(ctx, ev)
	}
	if err != nil {
		clear(f.Body)
		return nil, err // an export that is not on the record (or whose approval was spent meanwhile) does not happen
	}
	return f, nil
}

// exportMaterial picks the material to export: the active one by default,
// any committed one on request.
func (s *Service) exportMaterial(ctx context.Context, tenantID, keyID, materialID string) (*models.KeyMaterial, error) {
	mat, err := s.materialOf(ctx, tenantID, keyID, materialID)
	if errors.Is(err, models.ErrNotFound) || (err == nil && (len(mat.Sealed) == 0 || mat.State == models.MaterialDiscarded)) {
		return nil, &keysvc.ValidationError{Field: "material_id", Message: "choose a version of this key"}
	}
	return mat, err
}

// ParseExportPublicKey reads the tenant's RSA public key (PEM) and checks
// its size.
func ParseExportPublicKey(text string) (*rsa.PublicKey, error) {
	bad := &keysvc.ValidationError{Field: "public_key", Message: "paste an RSA public key in PEM (-----BEGIN PUBLIC KEY-----)"}
	if len(text) > maxExportPEMLen {
		return nil, bad
	}
	block, _ := pem.Decode([]byte(strings.TrimSpace(text)))
	if block == nil {
		return nil, bad
	}
	var pub *rsa.PublicKey
	switch block.Type {
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, bad
		}
		var ok bool
		if pub, ok = k.(*rsa.PublicKey); !ok {
			return nil, bad
		}
	case "RSA PUBLIC KEY":
		k, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, bad
		}
		pub = k
	default:
		return nil, bad
	}
	if bits := pub.N.BitLen(); bits < MinExportRSABits || bits > MaxExportRSABits {
		return nil, &keysvc.ValidationError{Field: "public_key", Message: "is " + strconv.Itoa(bits) + " bits; keyport accepts 2048 to 8192 (3072 or 4096 recommended)"}
	}
	if pub.E != ExportRSAExponent {
		return nil, &keysvc.ValidationError{Field: "public_key", Message: "has public exponent " + strconv.Itoa(pub.E) + "; keyport accepts only 65537"}
	}
	return pub, nil
}

// jwk is the exported material as a JSON Web Key (RFC 7517, kty "oct").
type jwk struct {
	Kty string `json:"kty"`
	K   string `json:"k"`
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

// sealJWE makes the passphrase-protected export: compact JWE, key
// management PBES2-HS512+A256KW (p2c 310000, random 16-byte salt), content
// A256GCM, cty jwk+json. The JSON holding the material is zeroed after.
func sealJWE(keyID string, mat *models.KeyMaterial, plain []byte, passphrase string) ([]byte, error) {
	pw := []byte(passphrase)
	defer clear(pw)
	enc, err := jose.NewEncrypter(jose.A256GCM, jose.Recipient{Algorithm: jose.PBES2_HS512_A256KW, Key: pw, PBES2Count: exportPBES2Count},
		(&jose.EncrypterOptions{}).WithContentType(jweContentTypeJWK))
	if err != nil {
		return nil, err
	}
	payload, err := json.Marshal(jwk{Kty: "oct", K: base64.RawURLEncoding.EncodeToString(plain), Alg: "A256GCM",
		Kid: keyID + "/v" + strconv.Itoa(mat.Seq) + "/kcv-" + mat.Fingerprint})
	if err != nil {
		return nil, err
	}
	defer clear(payload)
	obj, err := enc.Encrypt(payload)
	if err != nil {
		return nil, err
	}
	out, err := obj.CompactSerialize()
	return []byte(out), err
}

// ExportFileName is the name of an export download: the key's id, the
// material version and the format's extension. The page's open commands
// name the same file, so they work on the download as saved.
func ExportFileName(keyID string, seq int, format string) string {
	ext := ".bin"
	if format == ExportJWE {
		ext = ".jwe"
	}
	return "keyport-" + strings.TrimPrefix(keyID, "key_") + "-v" + strconv.Itoa(seq) + ext
}

// JWEOpenCommand is the documented way to open the passphrase export named
// file with a common tool (Python's jwcrypto); it prints the material as hex.
func JWEOpenCommand(file string) string {
	return `pip install jwcrypto
python3 - ` + file + ` <<'EOF'
import sys, json, base64, getpass
from jwcrypto import jwe, jwk
jwe.default_max_pbkdf2_iterations = 1000000  # keyport uses 310000
t = jwe.JWE()
t.allowed_algs = ["PBES2-HS512+A256KW", "A256GCM"]
t.deserialize(open(sys.argv[1]).read())
t.decrypt(jwk.JWK.from_password(getpass.getpass("passphrase: ")))
k = json.loads(t.payload)["k"]
print(base64.urlsafe_b64decode(k + "=" * (-len(k) % 4)).hex())
EOF`
}

// RSAOpenCommand opens the RSAES-OAEP-SHA-256 export named file with openssl.
func RSAOpenCommand(file string) string {
	return `openssl pkeyutl -decrypt -inkey private.pem -in ` + file + ` -out material.bin \
  -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256
xxd -p -c 64 material.bin   # 32 bytes; shred material.bin when done`
}

// FingerprintCommand computes the fingerprint of opened material with
// openssl, to compare with the one keyport shows.
const FingerprintCommand = `head -c 16 /dev/zero | openssl enc -aes-256-ecb -nopad -K "$(xxd -p -c 64 material.bin)" | head -c 3 | xxd -p | tr a-f A-F`
