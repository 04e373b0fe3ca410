package web_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/smtp"
	"net/url"
	"testing"

	"keyport/keysvc"
	"keyport/keysvc/managed"
	"keyport/models"
)

// realKey gives tenant A a connection keyport can use (an IAM user of the
// tenant's account in kmslocal) and a customer-managed key registered over
// it with data-key version 1, so the data API and the KMS-side routes work.
// keyParams then picks them for :conn_id and :key_id.
func (w *matrixWorld) realKey(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	c, err := w.s.Keys.CreateConnection(ctx, w.tenantA, keysvc.RequestBy{UserID: w.users[owner]}, keysvc.ConnectionInput{
		Name: "Alpha Matrix Connection", AccountID: awsTenantAcct, DefaultRegion: awsRegion, Kind: "access_key",
		AccessKeyID: awsUserAKID, Secret: awsUserSecret})
	if err != nil {
		t.Fatal(err)
	}
	arn := w.s.tenantKMSKey(t, "")
	nk := &models.NewKey{Key: models.Key{TenantID: w.tenantA, ConnectionID: c.ID, Name: "Alpha Matrix Key", Mode: models.ModeCMK,
		State: models.StateEnabled, Health: "OK"}, Regions: []models.KeyRegion{{Region: awsRegion, KMSKeyARN: arn}}}
	if err := w.s.DB.CreateKey(ctx, nk, models.AuditInput{Actor: w.users[owner], Action: "key.registered"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.Keys.RotateDataKey(ctx, w.tenantA, nk.Key.ID, w.users[owner], "register"); err != nil {
		t.Fatal(err)
	}
	// Decrypting tenant A's ciphertext shows this; nobody else may see it.
	w.secretMarkers = append(w.secretMarkers, base64.StdEncoding.EncodeToString([]byte(matrixPlaintext)))
}

const matrixPlaintext = "matrix plaintext: tenant A's secret"

// apiBody is the JSON body of a data-API request naming tenant A's key (or
// store, or ciphertext). For the permitted persona it is complete and
// valid; an upload gets a fresh import request each time.
func (w *matrixWorld) apiBody(t *testing.T, key string, params map[string]string, permitted bool) string {
	t.Helper()
	ctx := context.Background()
	keyID := params[":key_id"]
	ct := func() []byte {
		enc, err := w.s.Keys.Encrypt(ctx, w.tenantA, keyID, []byte(matrixPlaintext), map[string]string{"f": "x"})
		if err != nil {
			t.Fatal(err)
		}
		return enc.Ciphertext
	}
	w.seq++
	var v any
	switch key {
	case "POST /api/v1/encrypt":
		v = map[string]any{"key_id": keyID, "plaintext": []byte("matrix"), "context": map[string]string{"f": "x"}}
	case "POST /api/v1/encrypt/batch":
		v = map[string]any{"items": []any{map[string]any{"key_id": keyID, "plaintext": []byte("matrix")}}}
	case "POST /api/v1/decrypt", "POST /api/v1/rewrap":
		v = map[string]any{"ciphertext": ct(), "context": map[string]string{"f": "x"}}
	case "POST /api/v1/decrypt/batch", "POST /api/v1/rewrap/batch":
		v = map[string]any{"items": []any{map[string]any{"ciphertext": ct(), "context": map[string]string{"f": "x"}}}}
	case "POST /api/v1/datakey":
		v = map[string]any{"key_id": keyID}
	case "POST /api/v1/import-requests":
		v = map[string]any{"store_id": params[":store_id"], "key_name": fmt.Sprintf("api import %d", w.seq)}
	case "POST /api/v1/import-requests/:request_id/upload":
		if !permitted {
			v = map[string]any{"import_token": "kpi_not-a-real-token", "wrapped_key": base64.StdEncoding.EncodeToString([]byte("x"))}
			break
		}
		id, token, wrapped := w.freshImport(t, params[":store_id"])
		params[":request_id"] = id
		v = map[string]any{"import_token": token, "wrapped_key": wrapped}
	case "GET /api/v1/keys/:key_id":
		return ""
	case "POST /api/v1/keys/:key_id/rotate":
		v = map[string]any{}
	default:
		t.Fatalf("no data-API body for %s", key)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// freshImport makes an import request of tenant A and wraps fresh key
// material to its public key; it returns the request id, its token and the
// wrapped material.
func (w *matrixWorld) freshImport(t *testing.T, storeID string) (string, string, string) {
	t.Helper()
	w.seq++
	r, err := w.s.Managed.CreateImportRequest(context.Background(), w.tenantA, keysvc.RequestBy{UserID: w.users[owner]}, storeID,
		fmt.Sprintf("matrix import %d", w.seq))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode([]byte(r.Request.PublicKeyPEM))
	pk, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	material := make([]byte, 32)
	rand.Read(material)
	wrapped, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pk.(*rsa.PublicKey), material, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r.Request.ID, r.Token, base64.StdEncoding.EncodeToString(wrapped)
}

// fixtures make a permitted cell's request one that can succeed: the right
// kind of key, complete forms, fresh objects where the action uses them up.
var fixtures = map[string]func(t *testing.T, w *matrixWorld, params map[string]string, form url.Values){
	"GET /dev/mail/:id": func(t *testing.T, w *matrixWorld, params map[string]string, form url.Values) {
		if len(w.s.Mail.Messages()) == 0 {
			msg := "From: keyport@keyport.test\r\nTo: dev@example.net\r\nSubject: matrix\r\n\r\nhello\r\n"
			if err := smtp.SendMail(w.s.Mail.Addr(), nil, "keyport@keyport.test", []string{"dev@example.net"}, []byte(msg)); err != nil {
				t.Fatal(err)
			}
		}
		params[":id"] = w.s.Mail.Messages()[0].ID
	},
	"POST /connections": func(t *testing.T, w *matrixWorld, params map[string]string, form url.Values) {
		w.seq++
		form.Set("name", fmt.Sprintf("matrix connection %d", w.seq))
		form.Set("account_id", awsTenantAcct)
		form.Set("default_region", awsRegion)
		form.Set("kind", "access_key")
		form.Set("access_key_id", awsUserAKID)
		form.Set("secret_access_key", awsUserSecret)
	},
	"POST /stores/:store_id/rename": func(t *testing.T, w *matrixWorld, params map[string]string, form url.Values) {
		w.seq++
		form.Set("name", fmt.Sprintf("Alpha Matrix Store %d", w.seq))
	},
	"POST /stores/:store_id/keys": func(t *testing.T, w *matrixWorld, params map[string]string, form url.Values) {
		w.seq++
		form.Set("name", fmt.Sprintf("matrix made %d", w.seq))
		form.Set("valid_days", "90")
	},
	"POST /keys/:key_id/min-decryption-version": func(t *testing.T, w *matrixWorld, params map[string]string, form url.Values) {
		form.Set("min_decryption_version", "1")
	},
	// The lifecycle of a key whose material keyport made: a fresh one per
	// cell, so one cell's renewal or deletion is not the next one's state.
	"POST /keys/:key_id/renew":           generatedKey,
	"POST /keys/:key_id/rotate-material": generatedKey,
	"POST /keys/:key_id/reupload":        generatedKey,
	"POST /keys/:key_id/deactivate":      generatedKey,
	"POST /keys/:key_id/drift":           generatedKey,
	"GET /keys/:key_id/delete":           generatedKey,
	"GET /keys/:key_id/export":           generatedKey,
	"POST /keys/:key_id/delete": func(t *testing.T, w *matrixWorld, params map[string]string, form url.Values) {
		generatedKey(t, w, params, form)
		form.Set("window_days", "7")
		form.Set("acknowledge", "true")
	},
	"POST /keys/:key_id/export": func(t *testing.T, w *matrixWorld, params map[string]string, form url.Values) {
		generatedKey(t, w, params, form)
		form.Set("format", "jwe")
		form.Set("passphrase", "a matrix passphrase of a decent length, 2026")
	},
	"POST /keys/:key_id/approvals": func(t *testing.T, w *matrixWorld, params map[string]string, form url.Values) {
		generatedKey(t, w, params, form)
		form.Set("action", "export")
	},
}

// generatedKey puts a fresh key whose material keyport generated, in
// tenant A's store, in :key_id.
func generatedKey(t *testing.T, w *matrixWorld, params map[string]string, form url.Values) {
	t.Helper()
	w.seq++
	r, err := w.s.Managed.CreateGeneratedKey(context.Background(), w.tenantA, keysvc.RequestBy{UserID: w.users[owner]},
		managed.CreateKeyInput{StoreID: params[":store_id"], Name: fmt.Sprintf("matrix generated %d", w.seq), ValidDays: 90})
	if err != nil || !r.Done() {
		t.Fatalf("generated key: %v", err)
	}
	params[":key_id"] = r.Key.ID
}

// notYetStrict are routes whose permitted cells still only have to avoid
// a refusal (401/403/404, or the sign-in redirect), not succeed: their
// fixtures are not built yet (issue 17 #30, left for a follow-up). Shrink
// this list; never grow it.
var notYetStrict = map[string]bool{
	"GET /invite":                                      true, // needs an invitation cookie from a real link
	"POST /invite/accept":                              true,
	"GET /keys/new":                                    true, // the other tenant's owner has no connection of its own
	"POST /keys":                                       true,
	"POST /audit/verify":                               true, // rate-limited per tenant: the second permitted cell gets 429
	"POST /connections/:conn_id/delete":                true,
	"POST /import-requests":                            true,
	"POST /import-requests/:request_id/upload":         true,
	"POST /keys/:key_id/activate":                      true, // needs a deactivated key
	"POST /keys/:key_id/delete/cancel":                 true, // needs a key pending deletion
	"POST /keys/:key_id/drift/reconcile":               true, // needs a drifted key
	"POST /keys/:key_id/undo":                          true, // needs a renewed key
	"POST /keys/:key_id/approvals/:approval_id/decide": true,
	"POST /keys/:key_id/rotation":                      true,
	"POST /keys/:key_id/rotation/postpone":             true,
	"POST /members/leave":                              true, // owners are the last owner
	"POST /operator/rotations/settings":                true,
	"POST /provider/tokens":                            true,
	"POST /rotations/defaults":                         true,
	"POST /stores":                                     true,
	"POST /stores/:store_id/delete":                    true,
}
