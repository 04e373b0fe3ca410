package managed

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
)

// TestExportFailsClosedWithoutAudit: key material leaves keyport only on
// the record. With the audit log unwritable, neither export form returns
// anything (issue 8's fail-closed rule; rotation and data-key fetches are
// covered in web/failclosed_test.go).
func TestExportFailsClosedWithoutAudit(t *testing.T) {
	e := newLCEnv(t)
	ctx := context.Background()
	keyID := e.create(t, "guarded", 0).Key.ID
	priv, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	pubPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))

	e.db.SetAuditKey(nil) // the audit log cannot be written
	for _, in := range []ExportInput{
		{Format: ExportRSA, PublicKeyPEM: pubPEM, Algorithm: WrapOAEPSHA256},
		{Format: ExportJWE, Passphrase: "correct horse battery staple"},
	} {
		f, err := e.svc.Export(ctx, e.tenant.ID, e.by, keyID, in)
		if err == nil || !strings.Contains(err.Error(), "audit") {
			t.Errorf("%s export without audit: err = %v, want an audit failure", in.Format, err)
		}
		if f != nil {
			t.Errorf("%s export without audit returned a file", in.Format)
		}
	}
}
