package managed

// ImportCommandSet is how a tenant wraps its key for an import request of
// one wrapping, with openssl and with Node.js (after saving the public key
// as import-public.pem and the 32-byte key as key.bin).
type ImportCommandSet struct {
	Wrapping string
	OpenSSL  string
	Node     string
}

// ImportCommandsFor is the command set of a wrapping (SHA-256 for any
// value but RSAES_OAEP_SHA_1). The hash names both OAEP's digest and MGF1's.
func ImportCommandsFor(wrapping string) ImportCommandSet {
	md := "sha256"
	if wrapping == wrapOAEPSHA1 {
		md = "sha1"
	} else {
		wrapping = WrapOAEPSHA256
	}
	return ImportCommandSet{Wrapping: wrapping,
		OpenSSL: `# 1. Your 32-byte key (from your HSM or key manager, or your backup when you re-import; here freshly generated).
openssl rand 32 > key.bin
# 2. Wrap it with RSA-OAEP, ` + upper(md) + `, to this request's public key, and base64 it.
openssl pkeyutl -encrypt -pubin -inkey import-public.pem -in key.bin \
  -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:` + md + ` -pkeyopt rsa_mgf1_md:` + md + ` | base64 -w0 > wrapped.b64
# 3. Its fingerprint, to compare with the one keyport shows after the upload.
head -c 16 /dev/zero | openssl enc -aes-256-ecb -nopad -K "$(xxd -p -c 64 key.bin)" | head -c 3 | xxd -p | tr a-f A-F
# 4. Keep key.bin safe (you may need to re-import it), or shred it: shred -u key.bin`,
		Node: `// Node.js: wrap key.bin with RSA-OAEP, ` + upper(md) + `, to import-public.pem; prints the base64 to upload.
const crypto = require("crypto");
const fs = require("fs");
const wrapped = crypto.publicEncrypt({
  key: fs.readFileSync("import-public.pem", "utf8"),
  padding: crypto.constants.RSA_PKCS1_OAEP_PADDING,
  oaepHash: "` + md + `",
}, fs.readFileSync("key.bin"));
console.log(wrapped.toString("base64"));`}
}

func upper(md string) string {
	if md == "sha1" {
		return "SHA-1"
	}
	return "SHA-256"
}
