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
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

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
	c := w.connection(t, w.tenantA, "Alpha Matrix Connection")
	arn := w.s.tenantKMSKey(t, "")
	nk := &models.NewKey{Key: models.Key{TenantID: w.tenantA, ConnectionID: c.ID, Name: "Alpha Matrix Key", Mode: models.ModeCMK,
		State: models.StateEnabled, Health: "OK"}, Regions: []models.KeyRegion{{Region: awsRegion, KMSKeyARN: arn}}}
	if err := w.s.DB.CreateKey(ctx, nk, models.AuditInput{Actor: w.users[owner], Action: "key.registered"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.Keys.RotateDataKey(ctx, w.tenantA, nk.Key.ID, w.users[owner], "register"); err != nil {
		t.Fatal(err)
	}
	// Tenant B's own connection and store, for its owner's changes in B.
	w.connB = w.connection(t, w.tenantB, "Beta Connection").ID
	st, err := w.s.Managed.CreateStore(ctx, w.tenantB, keysvc.RequestBy{UserID: w.users[outsider]},
		managed.StoreInput{Name: "Beta Store", ConnectionID: w.connB})
	if err != nil {
		t.Fatal(err)
	}
	w.storeB = st.ID
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
var fixtures = map[string]func(t *testing.T, w *matrixWorld, p persona, params map[string]string, form url.Values){
	"GET /dev/mail/:id": func(t *testing.T, w *matrixWorld, p persona, params map[string]string, form url.Values) {
		if len(w.s.Mail.Messages()) == 0 {
			msg := "From: keyport@keyport.test\r\nTo: dev@example.net\r\nSubject: matrix\r\n\r\nhello\r\n"
			if err := smtp.SendMail(w.s.Mail.Addr(), nil, "keyport@keyport.test", []string{"dev@example.net"}, []byte(msg)); err != nil {
				t.Fatal(err)
			}
		}
		params[":id"] = w.s.Mail.Messages()[0].ID
	},
	"POST /connections": func(t *testing.T, w *matrixWorld, p persona, params map[string]string, form url.Values) {
		w.seq++
		form.Set("name", fmt.Sprintf("matrix connection %d", w.seq))
		form.Set("account_id", awsTenantAcct)
		form.Set("default_region", awsRegion)
		form.Set("kind", "access_key")
		form.Set("access_key_id", awsUserAKID)
		form.Set("secret_access_key", awsUserSecret)
	},
	// Deregistration ends a customer-managed key: a fresh one per cell.
	"GET /keys/:key_id/deregister": func(t *testing.T, w *matrixWorld, p persona, params map[string]string, form url.Values) {
		freshCMKKey(t, w, params)
	},
	"POST /keys/:key_id/deregister": func(t *testing.T, w *matrixWorld, p persona, params map[string]string, form url.Values) {
		form.Set("confirm_name", freshCMKKey(t, w, params))
	},
	"POST /connections/:conn_id/edit": func(t *testing.T, w *matrixWorld, p persona, params map[string]string, form url.Values) {
		w.seq++
		form.Set("name", fmt.Sprintf("Alpha Matrix Connection %d", w.seq))
	},
	"POST /stores/:store_id/rename": func(t *testing.T, w *matrixWorld, p persona, params map[string]string, form url.Values) {
		w.seq++
		form.Set("name", fmt.Sprintf("Alpha Matrix Store %d", w.seq))
	},
	"POST /stores/:store_id/keys": func(t *testing.T, w *matrixWorld, p persona, params map[string]string, form url.Values) {
		w.seq++
		form.Set("name", fmt.Sprintf("matrix made %d", w.seq))
		form.Set("valid_days", "90")
	},
	"POST /keys/:key_id/min-decryption-version": func(t *testing.T, w *matrixWorld, p persona, params map[string]string, form url.Values) {
		form.Set("min_decryption_version", "1")
	},
	"POST /keys/:key_id/kms-rotation": func(t *testing.T, w *matrixWorld, p persona, params map[string]string, form url.Values) {
		form.Set("kms_rotation_days", "90")
	},
	"POST /keys/:key_id/data-key": tenantDataKeyKey,
	// The lifecycle of a key whose material keyport made: a fresh one per
	// cell, so one cell's renewal or deletion is not the next one's state.
	"POST /keys/:key_id/renew":           anyGeneratedKey,
	"POST /keys/:key_id/rotate-material": anyGeneratedKey,
	"POST /keys/:key_id/reupload":        anyGeneratedKey,
	"POST /keys/:key_id/deactivate": func(t *testing.T, w *matrixWorld, p persona, params map[string]string, form url.Values) {
		anyGeneratedKey(t, w, p, params, form)
		if k, err := w.s.DB.GetKey(context.Background(), w.tenantA, params[":key_id"]); err == nil {
			form.Set("confirm_name", k.Name) // the confirmation's typed name
		}
	},
	"POST /keys/:key_id/drift":          anyGeneratedKey,
	"GET /keys/:key_id/delete":          anyGeneratedKey,
	"GET /keys/:key_id/confirm/:action": anyGeneratedKey,
	"GET /keys/:key_id/export":          anyGeneratedKey,
	"POST /keys/:key_id/delete": func(t *testing.T, w *matrixWorld, p persona, params map[string]string, form url.Values) {
		anyGeneratedKey(t, w, p, params, form)
		form.Set("window_days", "7")
		form.Set("acknowledge", "true")
	},
	"POST /keys/:key_id/export": func(t *testing.T, w *matrixWorld, p persona, params map[string]string, form url.Values) {
		anyGeneratedKey(t, w, p, params, form)
		form.Set("format", "jwe")
		form.Set("passphrase", "a matrix passphrase of a decent length, 2026")
		form.Set("passphrase_confirm", "a matrix passphrase of a decent length, 2026")
	},
	"POST /keys/:key_id/activate": func(t *testing.T, w *matrixWorld, p persona, params map[string]string, form url.Values) {
		if !generatedKey(t, w, p, params, form) {
			return
		}
		if r, err := w.s.Managed.Deactivate(context.Background(), w.tenantA, w.byOwner(), params[":key_id"]); err != nil || !r.Done() {
			t.Fatalf("deactivate: %v", err)
		}
	},
	"POST /keys/:key_id/delete/cancel": func(t *testing.T, w *matrixWorld, p persona, params map[string]string, form url.Values) {
		if !generatedKey(t, w, p, params, form) {
			return
		}
		r, err := w.s.Managed.ScheduleDeletion(context.Background(), w.tenantA, w.byOwner(), params[":key_id"], managed.DeleteInput{WindowDays: 7, Acknowledge: true})
		if err != nil || !r.Done() {
			t.Fatalf("schedule deletion: %v", err)
		}
	},
	"POST /keys/:key_id/undo": func(t *testing.T, w *matrixWorld, p persona, params map[string]string, form url.Values) {
		if !generatedKey(t, w, p, params, form) {
			return
		}
		if r, err := w.s.Managed.Renew(context.Background(), w.tenantA, w.byOwner(), params[":key_id"]); err != nil || !r.Done() {
			t.Fatalf("renew: %v", err)
		}
	},
	"POST /keys/:key_id/rotation": policyForm,
	"POST /rotations/defaults":    policyForm,
	"POST /reports/schedule": func(t *testing.T, w *matrixWorld, p persona, params map[string]string, form url.Values) {
		w.seq++
		form.Set("period", []string{"weekly", "monthly"}[w.seq%2]) // a change every time
	},
	"POST /keys/:key_id/rotation/postpone": func(t *testing.T, w *matrixWorld, p persona, params map[string]string, form url.Values) {
		form.Set("days", "1")
	},
	"POST /operator/rotations/settings": func(t *testing.T, w *matrixWorld, p persona, params map[string]string, form url.Values) {
		form.Set("max_postpone_days", "30")
	},
	"POST /provider/tokens": func(t *testing.T, w *matrixWorld, p persona, params map[string]string, form url.Values) {
		w.seq++
		form.Set("name", fmt.Sprintf("matrix token %d", w.seq))
	},
	"POST /audit/verify": func(t *testing.T, w *matrixWorld, p persona, params map[string]string, form url.Values) {
		w.s.Clock.Advance(31 * time.Second) // one verification per tenant per 30 s
	},
	// Changes that name no id act in the persona's own tenant: tenant B's
	// connection and store for its owner.
	"POST /keys": func(t *testing.T, w *matrixWorld, p persona, params map[string]string, form url.Values) {
		w.seq++
		form.Set("connection_id", w.own(p, params[":conn_id"], w.connB))
		form.Set("name", fmt.Sprintf("matrix registered %d", w.seq))
		form.Set("key_arn", w.s.tenantKMSKey(t, ""))
	},
	"POST /stores": func(t *testing.T, w *matrixWorld, p persona, params map[string]string, form url.Values) {
		w.seq++
		form.Set("connection_id", w.own(p, params[":conn_id"], w.connB))
		form.Set("name", fmt.Sprintf("matrix store %d", w.seq))
	},
	"POST /import-requests": func(t *testing.T, w *matrixWorld, p persona, params map[string]string, form url.Values) {
		w.seq++
		form.Set("store_id", w.own(p, params[":store_id"], w.storeB))
		form.Set("key_name", fmt.Sprintf("matrix import %d", w.seq))
	},
	"POST /import-requests/:request_id/upload": func(t *testing.T, w *matrixWorld, p persona, params map[string]string, form url.Values) {
		if !w.permitted { // a refused cell cannot use it up: one for all
			if w.sharedImport == nil {
				id, token, wrapped := w.freshImport(t, params[":store_id"])
				w.sharedImport = []string{id, token, wrapped}
			}
			params[":request_id"] = w.sharedImport[0]
			form.Set("import_token", w.sharedImport[1])
			form.Set("wrapped_key", w.sharedImport[2])
			return
		}
		id, token, wrapped := w.freshImport(t, params[":store_id"])
		params[":request_id"] = id
		form.Set("import_token", token)
		form.Set("wrapped_key", wrapped)
		form.Set("valid_days", "0")
	},
	// Real drift: the tenant disables the KMS key behind keyport's back;
	// reconciling enables it again.
	"POST /keys/:key_id/drift/reconcile": func(t *testing.T, w *matrixWorld, p persona, params map[string]string, form url.Values) {
		if !generatedKey(t, w, p, params, form) {
			form.Set("field", managed.DriftState)
			form.Set("action", managed.ReconcileRestore)
			return
		}
		ctx := context.Background()
		m, err := w.s.DB.ActiveMaterial(ctx, w.tenantA, params[":key_id"])
		if err != nil {
			t.Fatal(err)
		}
		cfg := w.s.KMS.AWSConfig(awsRegion, awsAdminAKID, awsAdminSecret)
		if _, err := kms.NewFromConfig(cfg).DisableKey(ctx, &kms.DisableKeyInput{KeyId: aws.String(m.KMSKeyARN)}); err != nil {
			t.Fatal(err)
		}
		form.Set("field", managed.DriftState)
		form.Set("action", managed.ReconcileRestore)
	},
	// Another member's export request, decided by an owner or admin; the
	// provider's minimum membership age is off (the stack's clock stands
	// still, so everyone joined "now").
	"POST /keys/:key_id/approvals/:approval_id/decide": func(t *testing.T, w *matrixWorld, p persona, params map[string]string, form url.Values) {
		ctx := context.Background()
		if err := w.s.Managed.SetApprovalSettings(ctx, keysvc.RequestBy{UserID: w.users[operator]}, managed.ApprovalSettings{}); err != nil {
			t.Fatal(err)
		}
		a := &models.Approval{TenantID: w.tenantA, KeyID: params[":key_id"], Action: models.ApprovalExport, RequestedBy: w.victim}
		if err := w.s.DB.CreateApproval(ctx, a, time.Hour, models.AuditInput{Actor: w.victim, Action: "key.approval_requested"}); err != nil {
			t.Fatal(err)
		}
		params[":approval_id"] = a.ID
		form.Set("decision", "approve")
	},
	// An invitation link sets its cookie and comes back to the page;
	// accepting joins the invitee to a tenant of its own (left again after).
	"GET /invite": func(t *testing.T, w *matrixWorld, p persona, params map[string]string, form url.Values) {
		_, raw := w.inviteTo(t, "someone@example.net")
		form.Set("_query", "token="+raw)
	},
	"POST /invite/accept": func(t *testing.T, w *matrixWorld, p persona, params map[string]string, form url.Values) {
		tenant, raw := w.inviteTo(t, w.emails[p])
		form.Set("_invite_token", raw)
		form.Set("_leave_tenant", tenant)
	},
	// Deleting needs something nothing depends on: a fresh one each time.
	"POST /tenant/close": func(t *testing.T, w *matrixWorld, p persona, params map[string]string, form url.Values) {
		tenant, name := w.own(p, w.tenantA, w.tenantB), w.own(p, "Alpha Matrix Tenant", "Beta")
		if c, err := w.s.Managed.Closure(context.Background(), tenant); err != nil {
			t.Fatal(err)
		} else if c != nil && w.permitted {
			if err := w.s.Managed.CancelClosure(context.Background(), tenant, keysvc.RequestBy{UserID: w.users[p]}); err != nil {
				t.Fatal(err)
			}
		}
		form.Set("confirm_name", name)
		form.Set("window_days", "7")
	},
	"POST /tenant/close/cancel": func(t *testing.T, w *matrixWorld, p persona, params map[string]string, form url.Values) {
		tenant := w.own(p, w.tenantA, w.tenantB)
		if c, err := w.s.Managed.Closure(context.Background(), tenant); err != nil {
			t.Fatal(err)
		} else if c == nil {
			name := w.own(p, "Alpha Matrix Tenant", "Beta")
			if _, err := w.s.Managed.RequestClosure(context.Background(), tenant, w.byOwner(), managed.ClosureInput{ConfirmName: name, WindowDays: 7}); err != nil {
				t.Fatal(err)
			}
		}
	},
	"POST /stores/:store_id/delete": func(t *testing.T, w *matrixWorld, p persona, params map[string]string, form url.Values) {
		w.seq++
		st, err := w.s.Managed.CreateStore(context.Background(), w.tenantA, w.byOwner(),
			managed.StoreInput{Name: fmt.Sprintf("matrix empty store %d", w.seq), ConnectionID: params[":conn_id"]})
		if err != nil {
			t.Fatal(err)
		}
		params[":store_id"] = st.ID
	},
	"POST /connections/:conn_id/delete": func(t *testing.T, w *matrixWorld, p persona, params map[string]string, form url.Values) {
		w.seq++
		params[":conn_id"] = w.connection(t, w.tenantA, fmt.Sprintf("matrix unused connection %d", w.seq)).ID
	},
	// The last owner cannot leave: give the leaving owner a co-owner
	// (reset puts both tenants back).
	"POST /members/leave": func(t *testing.T, w *matrixWorld, p persona, params map[string]string, form url.Values) {
		ctx := context.Background()
		var err error
		switch p {
		case owner:
			_, err = w.s.DB.ChangeMemberRole(ctx, w.tenantA, w.victim, models.RoleOwner, models.AuditInput{Actor: "matrix"})
		case outsider:
			err = w.s.DB.AddMember(ctx, w.tenantB, w.coOwnerB, models.RoleOwner, "", models.AuditInput{Actor: "matrix"})
		}
		if err != nil {
			t.Fatal(err)
		}
	},
	"POST /api-keys": func(t *testing.T, w *matrixWorld, p persona, params map[string]string, form url.Values) {
		w.seq++
		form.Set("name", fmt.Sprintf("matrix page key %d", w.seq))
		form.Set("role", "auditor")
		form.Set("expires_days", "30")
	},
	"POST /api-keys/:api_key_id/revoke": func(t *testing.T, w *matrixWorld, p persona, params map[string]string, form url.Values) {
		params[":api_key_id"] = w.liveAPIKey(t, w.permitted)
	},
	"POST /keys/:key_id/approvals": func(t *testing.T, w *matrixWorld, p persona, params map[string]string, form url.Values) {
		anyGeneratedKey(t, w, p, params, form)
		form.Set("action", "export")
	},
}

func anyGeneratedKey(t *testing.T, w *matrixWorld, p persona, params map[string]string, form url.Values) {
	generatedKey(t, w, p, params, form)
}

// policyForm is a complete, valid rotation policy.
func policyForm(t *testing.T, w *matrixWorld, p persona, params map[string]string, form url.Values) {
	form.Set("period_days", "90")
	form.Set("notice_days", "14")
	form.Set("window_start_hour", "2")
	form.Set("window_hours", "4")
}

func (w *matrixWorld) byOwner() keysvc.RequestBy { return keysvc.RequestBy{UserID: w.users[owner]} }

// own picks tenant A's id for tenant A's members and tenant B's for its
// owner.
func (w *matrixWorld) own(p persona, a, b string) string {
	if p == outsider {
		return b
	}
	return a
}

// connection adds an AWS connection keyport can use (an IAM user of the
// tenant's account in kmslocal) to tenant.
func (w *matrixWorld) connection(t *testing.T, tenant, name string) *models.Connection {
	t.Helper()
	c, err := w.s.Keys.CreateConnection(context.Background(), tenant, w.byOwner(), keysvc.ConnectionInput{
		Name: name, AccountID: awsTenantAcct, DefaultRegion: awsRegion, Kind: "access_key",
		AccessKeyID: awsUserAKID, Secret: awsUserSecret})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// inviteTo invites email as an auditor of a fresh tenant and returns the
// tenant and the link's raw token.
func (w *matrixWorld) inviteTo(t *testing.T, email string) (string, string) {
	t.Helper()
	ctx := context.Background()
	w.seq++
	g, err := w.s.DB.CreateTenantWithOwner(ctx, fmt.Sprintf("Gamma %d", w.seq), w.coOwnerB, models.AuditInput{Actor: "matrix"})
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	token := base64.RawURLEncoding.EncodeToString(raw)
	h := sha256.Sum256([]byte(token))
	if _, err := w.s.DB.CreateInvitation(ctx, models.NewInvitation{TenantID: g.ID, Email: email, Role: models.RoleAuditor, TokenHash: h[:],
		InvitedBy: w.coOwnerB, TTL: time.Hour}, models.AuditInput{Actor: "matrix"}); err != nil {
		t.Fatal(err)
	}
	return g.ID, token
}

// generatedKey puts a key whose material keyport generated, in tenant A's
// store, in :key_id: a fresh one for a permitted cell (reporting true), a
// shared one for a refused cell (nothing may change it).
func generatedKey(t *testing.T, w *matrixWorld, p persona, params map[string]string, form url.Values) bool {
	t.Helper()
	if !w.permitted && w.sharedGenerated != "" {
		params[":key_id"] = w.sharedGenerated
		return false
	}
	w.seq++
	r, err := w.s.Managed.CreateGeneratedKey(context.Background(), w.tenantA, keysvc.RequestBy{UserID: w.users[owner]},
		managed.CreateKeyInput{StoreID: params[":store_id"], Name: fmt.Sprintf("matrix generated %d", w.seq), ValidDays: 90})
	if err != nil || !r.Done() {
		t.Fatalf("generated key: %v", err)
	}
	params[":key_id"] = r.Key.ID
	if !w.permitted {
		w.sharedGenerated = r.Key.ID
		return false
	}
	return true
}

// freshCMKKey registers a new customer-managed key of tenant A (rows only,
// no KMS) for a cell that ends it, and returns its name.
func freshCMKKey(t *testing.T, w *matrixWorld, params map[string]string) string {
	t.Helper()
	w.seq++
	name := fmt.Sprintf("matrix registered %d", w.seq)
	arn := fmt.Sprintf("arn:aws:kms:%s:%s:key/00000000-0000-0000-0000-%012d", awsRegion, awsTenantAcct, w.seq)
	nk := &models.NewKey{Key: models.Key{TenantID: w.tenantA, ConnectionID: params[":conn_id"], Name: name, Mode: models.ModeCMK, State: models.StateEnabled},
		Regions: []models.KeyRegion{{Region: awsRegion, KMSKeyARN: arn}},
		Version: &models.DataKeyVersion{Version: 1, Reason: "register"},
		Wraps:   []models.DataKeyWrap{{Region: awsRegion, KMSKeyARN: arn, Ciphertext: []byte("matrix")}}}
	if err := w.s.DB.CreateKey(context.Background(), nk, models.AuditInput{Actor: "matrix", Action: "key.registered"}); err != nil {
		t.Fatal(err)
	}
	params[":key_id"] = nk.Key.ID
	return name
}
