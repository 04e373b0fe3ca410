package web_test

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"keyport/handlers/notice"
	"keyport/keysvc"
	"keyport/keysvc/kmslocal"
	"keyport/keysvc/mailer"
	"keyport/keysvc/managed"
	"keyport/models"
	"keyport/web/devidp"
	"keyport/web/mailcatcher"
)

var (
	dora = devidp.Identity{Email: "dora@deadends.test", Name: "Dora Admin", EmailVerified: true}
	aud  = devidp.Identity{Email: "aud@deadends.test", Name: "Aud Auditor", EmailVerified: true}
)

// stackApprovalMail makes the stack's managed service email approvals
// through an outbox to the stack's mail catcher, as cmd/keyport does.
func stackApprovalMail(t *testing.T, s *stack) {
	t.Helper()
	mhost, mport, _ := net.SplitHostPort(s.Mail.Addr())
	port, _ := strconv.Atoi(mport)
	ml, err := mailer.New(mailer.Config{Host: mhost, Port: port, TLS: mailer.NoTLS, From: "keyport <keyport@keyport.test>"})
	if err != nil {
		t.Fatal(err)
	}
	s.Managed.SetApprovalMail(mailer.NewOutbox(s.DB, s.Seal, ml, "keyport.test"), notice.Renderer{BaseURL: s.URL})
}

// addMemberNow makes id a member of tenant with role, invited by nobody.
func (s *stack) addMemberNow(t *testing.T, tenant string, id devidp.Identity, role models.Role) string {
	t.Helper()
	ctx := context.Background()
	u, _, err := s.DB.UpsertOIDCUser(ctx, s.IdP.Issuer(), devidp.Subject(id.Email), id.Email, id.Name)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DB.AddMember(ctx, tenant, u.ID, role, "", models.AuditInput{Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// TestImportKeyReachable: issue 14 item 5. The import-your-own-key page
// is linked from the Keys page and the Key stores page for those who can
// import; an auditor sees no link.
func TestImportKeyReachable(t *testing.T) {
	s := lifecycleStack(t)
	b := newBrowser(t)
	s.signIn(t, b, erin)
	link := `href="/import-requests"`
	for _, p := range []string{"/keys", "/stores"} {
		if _, page := b.get(t, s.URL+p); !strings.Contains(page, `data-testid="import-key-link"`) || !strings.Contains(page, link) ||
			!strings.Contains(page, "create one first") {
			t.Errorf("%s without a store: no import link saying a store comes first", p)
		}
	}
	s.newStoreAndKey(t, b, "payments")
	for _, p := range []string{"/keys", "/stores"} {
		_, page := b.get(t, s.URL+p)
		if !strings.Contains(page, link) || strings.Contains(page, "create one first") {
			t.Errorf("%s: no import link", p)
		}
	}
	// The link leads to the page that makes import requests.
	if res, page := b.get(t, s.URL+"/import-requests"); res.StatusCode != http.StatusOK || !strings.Contains(page, `data-testid="import-request-form"`) {
		t.Fatalf("import page: %d", res.StatusCode)
	}
	s.addMemberNow(t, s.tenantOf(t, erin), aud, models.RoleAuditor)
	ab := newBrowser(t)
	s.signIn(t, ab, aud)
	for _, p := range []string{"/keys", "/stores"} {
		if _, page := ab.get(t, s.URL+p); strings.Contains(page, `data-testid="import-key-link"`) {
			t.Errorf("%s offers an auditor the import link", p)
		}
	}
}

// TestApprovalNeedsApproverAndMailsThem: issue 14 item 5. Asking for an
// approval when nobody could decide it is refused with a message saying
// who could and what to do; once an admin can, the request is made and
// that admin (not only the owners) gets the email through the mail
// catcher, and can approve.
func TestApprovalNeedsApproverAndMailsThem(t *testing.T) {
	s := lifecycleStack(t)
	stackApprovalMail(t, s)
	ctx := context.Background()
	b := newBrowser(t)
	s.signIn(t, b, erin)
	tenant := s.tenantOf(t, erin)
	_, keyID := s.newStoreAndKey(t, b, "guarded")
	if err := s.Managed.SetApprovalSettings(ctx, keysvc.RequestBy{UserID: "operator"},
		managed.ApprovalSettings{Export: true, ApproverMinAge: managed.DefaultApproverMinAge}); err != nil {
		t.Fatal(err)
	}
	ask := func() (*http.Response, string) {
		r, page := b.get(t, s.URL+"/keys/"+keyID)
		if !strings.Contains(page, "csrf_token") {
			t.Fatalf("key page %d %s:\n%s", r.StatusCode, r.Request.URL, page)
		}
		return b.post(t, s.URL+"/keys/"+keyID+"/approvals", url.Values{"csrf_token": {csrfToken(t, page)}, "action": {"export"}}, nil)
	}
	res, page := ask()
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "Nobody can approve this request") ||
		!strings.Contains(page, "Invite another admin first") {
		t.Fatalf("alone: %d\n%s", res.StatusCode, page)
	}
	s.addMemberNow(t, tenant, dora, models.RoleAdmin)
	res, page = ask()
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "dora@deadends.test (admin): joined less than 24 hours ago") {
		t.Fatalf("with a new admin: %d\n%s", res.StatusCode, page)
	}
	if as, _ := s.DB.OpenApprovals(ctx, tenant); len(as) != 0 {
		t.Fatalf("refused requests were recorded: %d", len(as))
	}

	s.Clock.Advance(managed.DefaultApproverMinAge + time.Minute)
	s.signIn(t, b, erin) // a day later: a new session
	if res, _ := ask(); res.StatusCode != http.StatusOK || res.Request.URL.Query().Get("done") != "requested" {
		t.Fatalf("request with a possible approver: %d %s", res.StatusCode, res.Request.URL)
	}
	if _, err := s.Jobs.RunDue(ctx); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	m, err := s.Mail.WaitFor(wctx, func(m mailcatcher.Message) bool {
		return len(m.To) == 1 && m.To[0] == dora.Email && strings.HasPrefix(m.Subject, "Approval requested")
	})
	if err != nil {
		t.Fatalf("the possible approver was not emailed: %v", err)
	}
	if !strings.Contains(m.Text, "/keys/"+keyID) || !strings.Contains(m.Text, erin.Email) {
		t.Errorf("approval email does not name the requester and link the key:\n%s", m.Text)
	}

	// The approver decides on the key page.
	db := newBrowser(t)
	s.signIn(t, db, dora)
	_, kp := db.get(t, s.URL+"/keys/"+keyID)
	as, _ := s.DB.OpenApprovals(ctx, tenant)
	if len(as) != 1 || !strings.Contains(kp, `data-testid="approve"`) {
		t.Fatalf("approver's key page: %d open approvals", len(as))
	}
	res, _ = db.post(t, s.URL+"/keys/"+keyID+"/approvals/"+as[0].ID+"/decide", url.Values{"csrf_token": {csrfToken(t, kp)}, "decision": {"approve"}}, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("approve: %d", res.StatusCode)
	}
	if a, _ := s.DB.TenantApproval(ctx, tenant, as[0].ID); a.State != models.ApprovalApproved {
		t.Fatalf("approval state %s", a.State)
	}
}

var edda = devidp.Identity{Email: "edda@deadends.test", Name: "Edda Owner", EmailVerified: true}

// TestEditConnection: issue 14 item 5. A wrong IAM secret is no longer
// "delete and re-add": the edit form tests the new access key first,
// shows every check with the failure at its field, keeps the form (never
// the secret) and the old key in use; a working new key replaces the old
// one; a rename needs no test; several mistakes are reported at once.
func TestEditConnection(t *testing.T) {
	s := newStack(t, nil)
	ctx := context.Background()
	b := newBrowser(t)
	s.signIn(t, b, edda)
	tenant := s.tenantOf(t, edda)
	res, page := s.addConnection(t, b, url.Values{"name": {"prod"}, "account_id": {awsTenantAcct}, "default_region": {awsRegion},
		"kind": {"access_key"}, "access_key_id": {awsUserAKID}, "secret_access_key": {awsUserSecret}})
	if res.StatusCode != http.StatusOK || !strings.Contains(page, `data-testid="edit-connection"`) {
		t.Fatalf("connection page: %d, no edit link", res.StatusCode)
	}
	connID := lastSegment(res.Request.URL.Path)
	editURL := s.URL + "/connections/" + connID + "/edit"
	edit := func(form url.Values) (*http.Response, string) {
		t.Helper()
		_, page := b.get(t, editURL)
		if !strings.Contains(page, `data-testid="edit-connection-form"`) {
			t.Fatalf("edit page:\n%s", page)
		}
		form.Set("csrf_token", csrfToken(t, page))
		return b.post(t, editURL, form, nil)
	}

	// Two mistakes at once, each at its field.
	res, page = edit(url.Values{"name": {" "}, "access_key_id": {"AKIASTACKUSER0000002"}})
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, `data-testid="error-name"`) ||
		!strings.Contains(page, `data-testid="error-secret_access_key"`) || !strings.Contains(page, `value="AKIASTACKUSER0000002"`) {
		t.Fatalf("two mistakes: %d\n%s", res.StatusCode, page)
	}

	// A secret AWS does not accept: the test fails, the old key stays.
	wrong := "WrongSecretAccessKey00000000000000000001"
	res, page = edit(url.Values{"name": {"prod"}, "access_key_id": {awsUserAKID}, "secret_access_key": {wrong}})
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, `data-testid="error-form"`) ||
		!strings.Contains(page, "the old ones stay in use") || !strings.Contains(page, `data-testid="checks"`) ||
		!strings.Contains(page, `data-testid="error-secret_access_key"`) {
		t.Fatalf("wrong secret: %d\n%s", res.StatusCode, page)
	}
	if strings.Contains(page, wrong) || strings.Contains(page, awsUserSecret) {
		t.Fatal("the edit page shows a secret")
	}
	if !strings.Contains(page, `value="prod"`) {
		t.Error("the form lost what was typed")
	}
	if mc, _ := s.DB.GetConnection(ctx, tenant, connID); mc.AccessKeyID != awsUserAKID {
		t.Fatalf("a failed test changed the access key to %s", mc.AccessKeyID)
	}
	_, cp := b.get(t, s.URL+"/connections/"+connID)
	if res, page := b.post(t, s.URL+"/connections/"+connID+"/test", url.Values{"csrf_token": {csrfToken(t, cp)}}, nil); res.StatusCode != http.StatusOK ||
		!strings.Contains(page, "Every check passed") {
		t.Fatalf("the old key stopped working after a failed edit: %d", res.StatusCode)
	}

	// The IAM user's second access key: tested, then it replaces the first.
	newAKID, newSecret := "AKIASTACKUSER0000002", "StackUserSecretAccessKey0000000000000002"
	if err := s.KMS.AddPrincipal(kmslocalPrincipal(newAKID, newSecret)); err != nil {
		t.Fatal(err)
	}
	res, page = edit(url.Values{"name": {"prod"}, "access_key_id": {newAKID}, "secret_access_key": {newSecret}})
	if res.StatusCode != http.StatusOK || res.Request.URL.Query().Get("done") != "updated" || !strings.Contains(page, "passed every check") ||
		!strings.Contains(page, "…0002") || strings.Contains(page, newSecret) {
		t.Fatalf("rotate the secret: %d %s", res.StatusCode, res.Request.URL)
	}
	if mc, _ := s.DB.GetConnection(ctx, tenant, connID); mc.AccessKeyID != newAKID {
		t.Fatalf("access key after rotation: %s", mc.AccessKeyID)
	}

	// A rename alone.
	res, page = edit(url.Values{"name": {"production"}})
	if res.StatusCode != http.StatusOK || res.Request.URL.Query().Get("done") != "renamed" || !strings.Contains(page, "<h1>production</h1>") {
		t.Fatalf("rename: %d %s", res.StatusCode, res.Request.URL)
	}
	n := 0
	for _, a := range s.auditActions(t, tenant) {
		if strings.HasPrefix(a, "connection.updated:") {
			n++
		}
		if strings.Contains(a, newSecret) || strings.Contains(a, wrong) {
			t.Errorf("an audit event holds a secret: %s", a)
		}
	}
	if n != 2 {
		t.Errorf("%d connection.updated events, want 2 (rotation and rename)", n)
	}
}

// kmslocalPrincipal is a second access key of the tenant's IAM user for
// keyport.
func kmslocalPrincipal(akid, secret string) kmslocal.Principal {
	return kmslocal.Principal{AccessKeyID: akid, SecretAccessKey: secret, ARN: "arn:aws:iam::" + awsTenantAcct + ":user/keyport"}
}

var fern = devidp.Identity{Email: "fern@deadends.test", Name: "Fern Owner", EmailVerified: true}

// TestDeregisterKeyThenDeleteConnection: issue 14 item 5. A registered key
// is no longer a dead end: its page offers deregistration, the
// confirmation names every data-key version that stops working and needs
// the key's name typed; afterwards keyport refuses the key at once, the
// KMS key is untouched, and the connection (refused before) can be
// deleted while the key's page and history stay.
func TestDeregisterKeyThenDeleteConnection(t *testing.T) {
	s := newFullStack(t, nil)
	ctx := context.Background()
	b := newBrowser(t)
	s.signIn(t, b, fern)
	tenant := s.tenantOf(t, fern)
	userID := s.userID(t, fern)
	res, _ := s.addConnection(t, b, url.Values{"name": {"prod"}, "account_id": {awsTenantAcct}, "default_region": {awsRegion},
		"kind": {"access_key"}, "access_key_id": {awsUserAKID}, "secret_access_key": {awsUserSecret}})
	connID := lastSegment(res.Request.URL.Path)
	arn := s.tenantKMSKey(t, "")
	keyID := registerRealKey(t, s, b, connID, "orders", arn)
	if _, err := s.Keys.RotateDataKey(ctx, tenant, keyID, userID, "manual"); err != nil {
		t.Fatal(err)
	}
	token, _, err := s.Keys.NewServiceToken(ctx, tenant, "app", "operator")
	if err != nil {
		t.Fatal(err)
	}
	code, enc := s.dataAPI(t, token, "/api/v1/encrypt", map[string]any{"key_id": keyID, "plaintext": "aGVsbG8=", "context": map[string]string{"f": "x"}})
	if code != http.StatusOK {
		t.Fatalf("encrypt: %d %v", code, enc)
	}
	decrypt := func() int {
		code, _ := s.dataAPI(t, token, "/api/v1/decrypt", map[string]any{"ciphertext": enc["ciphertext"], "context": map[string]string{"f": "x"}})
		return code
	}
	if got := decrypt(); got != http.StatusOK { // and its data key is now cached
		t.Fatalf("decrypt before: %d", got)
	}

	// Before: the connection cannot be deleted.
	_, cp := b.get(t, s.URL+"/connections/"+connID+"/delete")
	if res, page := b.post(t, s.URL+"/connections/"+connID+"/delete", url.Values{"csrf_token": {csrfToken(t, cp)}}, nil); res.StatusCode != http.StatusConflict ||
		!strings.Contains(page, "deregister, delete or move them first") {
		t.Fatalf("delete a used connection: %d", res.StatusCode)
	}

	// The key page leads to the confirmation, which names what ends.
	_, kp := b.get(t, s.URL+"/keys/"+keyID)
	if !strings.Contains(kp, `data-testid="deregister-key"`) {
		t.Fatal("key page offers no deregistration")
	}
	res, page := b.get(t, s.URL+"/keys/"+keyID+"/deregister")
	if res.StatusCode != http.StatusOK || strings.Count(page, `data-testid="deregister-version"`) != 2 || !strings.Contains(page, "version 1") ||
		!strings.Contains(page, "version 2") || !strings.Contains(page, "can no longer be decrypted through keyport") || !strings.Contains(page, arn) ||
		!strings.Contains(page, "no KMS call") {
		t.Fatalf("confirmation: %d\n%s", res.StatusCode, page)
	}
	res, page = b.post(t, s.URL+"/keys/"+keyID+"/deregister", url.Values{"csrf_token": {csrfToken(t, page)}, "confirm_name": {"order"}}, nil)
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, `data-testid="error-confirm_name"`) {
		t.Fatalf("wrong name: %d", res.StatusCode)
	}
	if k, _ := s.DB.GetKey(ctx, tenant, keyID); k.State != models.StateEnabled {
		t.Fatalf("a refused confirmation changed the key to %s", k.State)
	}
	if got := decrypt(); got != http.StatusOK {
		t.Fatalf("decrypt after a refused confirmation: %d", got)
	}
	res, page = b.post(t, s.URL+"/keys/"+keyID+"/deregister", url.Values{"csrf_token": {csrfToken(t, page)}, "confirm_name": {"orders"}}, nil)
	if res.StatusCode != http.StatusOK || res.Request.URL.Query().Get("done") != "deregistered" || !strings.Contains(page, `data-testid="deregistered"`) ||
		strings.Contains(page, `data-testid="deregister-key"`) {
		t.Fatalf("deregister: %d %s", res.StatusCode, res.Request.URL)
	}

	// keyport stops at once, from its cache too; KMS was not touched.
	if got := decrypt(); got == http.StatusOK {
		t.Error("a deregistered key still decrypts")
	}
	if code, _ := s.dataAPI(t, token, "/api/v1/encrypt", map[string]any{"key_id": keyID, "plaintext": "aGVsbG8="}); code == http.StatusOK {
		t.Error("a deregistered key still encrypts")
	}
	d, err := kms.NewFromConfig(s.KMS.AWSConfig(awsRegion, awsAdminAKID, awsAdminSecret)).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(arn)})
	if err != nil || d.KeyMetadata.KeyState != kmstypes.KeyStateEnabled {
		t.Fatalf("the KMS key after deregistration: %v %v", err, d)
	}
	found := false
	for _, a := range s.auditActions(t, tenant) {
		if strings.HasPrefix(a, "key.deregistered:") {
			found = strings.Contains(a, `"data_key_versions":"2"`) && strings.Contains(a, arn)
		}
	}
	if !found {
		t.Errorf("no key.deregistered event naming the KMS key and 2 versions: %v", s.auditActions(t, tenant))
	}

	// After: the connection goes; the key's page and record stay.
	_, cp = b.get(t, s.URL+"/connections/"+connID+"/delete")
	res, _ = b.post(t, s.URL+"/connections/"+connID+"/delete", url.Values{"csrf_token": {csrfToken(t, cp)}}, nil)
	if res.StatusCode != http.StatusOK || res.Request.URL.Query().Get("done") != "deleted" {
		t.Fatalf("delete the connection after deregistration: %d %s", res.StatusCode, res.Request.URL)
	}
	if cs, _ := s.DB.ListConnections(ctx, tenant); len(cs) != 0 {
		t.Fatalf("connections after deletion: %d", len(cs))
	}
	if res, _ := b.get(t, s.URL+"/connections/"+connID); res.StatusCode != http.StatusNotFound {
		t.Errorf("deleted connection's page: %d", res.StatusCode)
	}
	if c, err := s.DB.GetConnectionRecord(ctx, tenant, connID); err != nil || c.SecretSealed != nil || c.DeletedAt == nil {
		t.Fatalf("kept record of the connection: %v, secret kept %v", err, c != nil && c.SecretSealed != nil)
	}
	if res, page := b.get(t, s.URL+"/keys/"+keyID); res.StatusCode != http.StatusOK || !strings.Contains(page, "prod (deleted "+connID+")") {
		t.Errorf("key page after its connection went: %d", res.StatusCode)
	}
	// The name is free again.
	if res, _ := s.addConnection(t, b, url.Values{"name": {"prod"}, "account_id": {awsTenantAcct}, "default_region": {awsRegion},
		"kind": {"access_key"}, "access_key_id": {awsUserAKID}, "secret_access_key": {awsUserSecret}}); res.StatusCode != http.StatusOK {
		t.Errorf("a new connection named prod: %d", res.StatusCode)
	}
}

// TestEditRoleConnection: a role that keyport cannot assume is refused at
// the role field with the failed check, and the old role stays in use;
// a role in another account is refused before any test.
func TestEditRoleConnection(t *testing.T) {
	s := newStack(t, nil)
	ctx := context.Background()
	b := newBrowser(t)
	s.signIn(t, b, edda)
	tenant := s.tenantOf(t, edda)
	res, _ := s.addConnection(t, b, url.Values{"name": {"role"}, "account_id": {awsTenantAcct}, "default_region": {awsRegion},
		"kind": {"assume_role"}, "role_arn": {awsRoleARN}})
	connID := lastSegment(res.Request.URL.Path)
	editURL := s.URL + "/connections/" + connID + "/edit"
	edit := func(role string) (*http.Response, string) {
		t.Helper()
		_, page := b.get(t, editURL)
		if !strings.Contains(page, `value="`+awsRoleARN+`"`) {
			t.Fatalf("edit page does not show the current role:\n%s", page)
		}
		return b.post(t, editURL, url.Values{"csrf_token": {csrfToken(t, page)}, "name": {"role"}, "role_arn": {role}}, nil)
	}
	res, page := edit("arn:aws:iam::" + awsTenantAcct + ":role/not-there")
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, `data-testid="error-role_arn"`) ||
		!strings.Contains(page, "Assume the role") || !strings.Contains(page, `data-testid="checks"`) {
		t.Fatalf("a role keyport cannot assume: %d\n%s", res.StatusCode, page)
	}
	res, page = edit("arn:aws:iam::444455556666:role/keyport-access")
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, `data-testid="error-role_arn"`) || !strings.Contains(page, "444455556666") {
		t.Fatalf("a role in another account: %d\n%s", res.StatusCode, page)
	}
	if mc, _ := s.DB.GetConnection(ctx, tenant, connID); mc.RoleARN != awsRoleARN {
		t.Fatalf("role after refused edits: %s", mc.RoleARN)
	}
}
