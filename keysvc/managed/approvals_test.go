package managed

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"keyport/keysvc"
	"keyport/keysvc/mailer"
	"keyport/models"
)

// member adds a user to the test tenant, invited by invitedBy ("" for
// none), and returns them as a requester.
func (e *lcEnv) member(tb testing.TB, email string, role models.Role, invitedBy string) keysvc.RequestBy {
	tb.Helper()
	ctx := context.Background()
	u, _, err := e.db.UpsertOIDCUser(ctx, "https://idp.test", "sub-"+email, email, email)
	if err != nil {
		tb.Fatal(err)
	}
	if err := e.db.AddMember(ctx, e.tenant.ID, u.ID, role, invitedBy, models.AuditInput{Actor: invitedBy}); err != nil {
		tb.Fatal(err)
	}
	return keysvc.RequestBy{UserID: u.ID, RequestID: "req-" + email}
}

// TestApprovalRules: issue 17 #3 and #24. One owner cannot approve alone
// through a mailbox they invited or one that joined just now; MFA is
// required when the provider says so; an approval is decided only under
// its own key.
func TestApprovalRules(t *testing.T) {
	e := newLCEnv(t)
	ctx := context.Background()
	keyID := e.create(t, "guarded", 0).Key.ID
	otherKey := e.create(t, "other", 0).Key.ID
	invited := e.member(t, "mine@tenant.test", models.RoleAdmin, e.owner.ID)
	veteran := e.member(t, "veteran@tenant.test", models.RoleAdmin, "")
	e.clk.Advance(48 * time.Hour)
	fresh := e.member(t, "fresh@tenant.test", models.RoleAdmin, "")
	if err := e.svc.SetApprovalSettings(ctx, e.by, ApprovalSettings{Export: true, ApproverMinAge: DefaultApproverMinAge, ApproverMFA: true}); err != nil {
		t.Fatal(err)
	}
	a, err := e.svc.RequestApproval(ctx, e.tenant.ID, e.by, keyID, models.ApprovalExport)
	if err != nil {
		t.Fatal(err)
	}
	refused := func(name string, by keysvc.RequestBy, key, want string) {
		t.Helper()
		_, err := e.svc.DecideApproval(ctx, e.tenant.ID, by, key, a.ID, true)
		var ve *models.ValidationError
		switch {
		case want == "" && err == nil:
			t.Errorf("%s: the decision was accepted", name)
		case want == "" && !errors.As(err, new(*keysvc.ValidationError)):
			t.Errorf("%s: %v, want a validation error", name, err)
		case want != "" && (!errors.As(err, &ve) || !strings.Contains(ve.Message, want)):
			t.Errorf("%s: %v, want a refusal saying %q", name, err, want)
		}
	}
	invited.MFA, fresh.MFA = true, true
	refused("invited by the requester", invited, keyID, "invited you")
	refused("joined after the cut-off", fresh, keyID, "joined at least")
	refused("no second factor", veteran, keyID, "second factor")
	veteran.MFA = true
	refused("another key's URL", veteran, otherKey, "")
	if _, err := e.svc.Export(ctx, e.tenant.ID, e.by, keyID, ExportInput{Format: ExportJWE, Passphrase: "correct horse battery staple", ApprovalID: a.ID}); !errors.Is(err, ErrApprovalRequired) {
		t.Fatalf("export before any valid decision: %v", err)
	}
	if _, err := e.svc.DecideApproval(ctx, e.tenant.ID, veteran, keyID, a.ID, true); err != nil {
		t.Fatalf("an eligible approver: %v", err)
	}
	for _, ev := range must(e.db.ListAudit(ctx, e.tenant.ID, 20)) {
		if ev.Action == "key.approval_decided" && ev.Actor != veteran.UserID {
			t.Errorf("decision recorded for %s", ev.Actor)
		}
	}
}

// TestApprovalSpentOnlyOnSuccess: issue 17 #13. An export that fails
// after the approval was checked leaves the approval usable; a successful
// one spends it.
func TestApprovalSpentOnlyOnSuccess(t *testing.T) {
	e := newLCEnv(t)
	ctx := context.Background()
	keyID := e.create(t, "guarded", 0).Key.ID
	approver := e.member(t, "veteran@tenant.test", models.RoleAdmin, "")
	e.clk.Advance(DefaultApproverMinAge + time.Hour)
	if err := e.svc.SetApprovalSettings(ctx, e.by, ApprovalSettings{Export: true, ApproverMinAge: DefaultApproverMinAge}); err != nil {
		t.Fatal(err)
	}
	a, err := e.svc.RequestApproval(ctx, e.tenant.ID, e.by, keyID, models.ApprovalExport)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.DecideApproval(ctx, e.tenant.ID, approver, keyID, a.ID, true); err != nil {
		t.Fatal(err)
	}
	pass := strings.Repeat("correct horse ", 3)
	// The audit key gone, the export cannot be recorded and so fails
	// after the approval was checked.
	e.db.SetAuditKey(nil)
	if _, err := e.svc.Export(ctx, e.tenant.ID, e.by, keyID, ExportInput{Format: ExportJWE, Passphrase: pass, ApprovalID: a.ID}); err == nil {
		t.Fatal("an export that could not be recorded succeeded")
	}
	e.db.SetAuditKey(make([]byte, 32))
	if _, err := e.svc.Export(ctx, e.tenant.ID, e.by, keyID, ExportInput{Format: ExportJWE, Passphrase: pass, ApprovalID: a.ID}); err != nil {
		t.Fatalf("the approval was spent by the failed export: %v", err)
	}
	if _, err := e.svc.Export(ctx, e.tenant.ID, e.by, keyID, ExportInput{Format: ExportJWE, Passphrase: pass, ApprovalID: a.ID}); !errors.Is(err, ErrApprovalRequired) {
		t.Fatalf("second use of one approval: %v", err)
	}
}

// TestDeletionApprovalSpentOnlyOnSuccess: issue 17 #13. A deletion
// refused, or failing before the key is PENDING_DELETION, leaves its
// approval usable; the deletion that is scheduled spends it.
func TestDeletionApprovalSpentOnlyOnSuccess(t *testing.T) {
	e := newLCEnv(t)
	ctx := context.Background()
	keyID := e.create(t, "doomed", 0).Key.ID
	approver := e.member(t, "veteran@tenant.test", models.RoleAdmin, "")
	e.clk.Advance(DefaultApproverMinAge + time.Hour)
	if err := e.svc.SetApprovalSettings(ctx, e.by, ApprovalSettings{Delete: true, ApproverMinAge: DefaultApproverMinAge}); err != nil {
		t.Fatal(err)
	}
	a, err := e.svc.RequestApproval(ctx, e.tenant.ID, e.by, keyID, models.ApprovalDelete)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.DecideApproval(ctx, e.tenant.ID, approver, keyID, a.ID, true); err != nil {
		t.Fatal(err)
	}
	in := DeleteInput{WindowDays: 7, Acknowledge: true, ApprovalID: a.ID}
	// Refused: the data keys under it were not acknowledged.
	var dep *DependencyError
	if _, err := e.svc.ScheduleDeletion(ctx, e.tenant.ID, e.by, keyID, DeleteInput{WindowDays: 7, ApprovalID: a.ID}); !errors.As(err, &dep) {
		t.Fatalf("unacknowledged deletion: %v", err)
	}
	// Failed: with the audit key gone the deletion cannot be recorded, so
	// the key never becomes PENDING_DELETION.
	e.db.SetAuditKey(nil)
	if _, err := e.svc.ScheduleDeletion(ctx, e.tenant.ID, e.by, keyID, in); err == nil {
		t.Fatal("a deletion that could not be recorded succeeded")
	}
	e.db.SetAuditKey(make([]byte, 32))
	if k, _ := e.db.GetKey(ctx, e.tenant.ID, keyID); k.State != models.StateEnabled {
		t.Fatalf("state after the failed deletion = %s", k.State)
	}
	if res, err := e.svc.ScheduleDeletion(ctx, e.tenant.ID, e.by, keyID, in); err != nil || !res.Done() {
		t.Fatalf("the approval was spent by a deletion that did not happen: %v %+v", err, res)
	}
	if k, _ := e.db.GetKey(ctx, e.tenant.ID, keyID); k.State != models.StatePendingDeletion {
		t.Errorf("state after the deletion = %s", k.State)
	}
	if ok, err := e.db.UsableApproval(ctx, e.tenant.ID, a.ID, keyID, models.ApprovalDelete, e.by.UserID); ok || err != nil {
		t.Errorf("the approval is still usable after the deletion: %v %v", ok, err)
	}
}

// recordingRenderer renders approval emails plainly and remembers who
// each went to.
type recordingRenderer struct{ sent []ApprovalMail }

func (r *recordingRenderer) RenderApproval(_ context.Context, m ApprovalMail) (MailContent, error) {
	r.sent = append(r.sent, m)
	return MailContent{Subject: m.Event + " " + m.Action, Text: m.Requester + " " + m.Decider}, nil
}

// TestApprovalMailsEveryOwner: issue 17 #3. Every owner hears of each
// request and each decision, through the outbox, in the same transaction.
func TestApprovalMailsEveryOwner(t *testing.T) {
	e := newLCEnv(t)
	ctx := context.Background()
	keyID := e.create(t, "guarded", 0).Key.ID
	e.member(t, "co-owner@tenant.test", models.RoleOwner, "")
	approver := e.member(t, "veteran@tenant.test", models.RoleAdmin, "")
	e.clk.Advance(DefaultApproverMinAge + time.Hour)
	r := &recordingRenderer{}
	e.svc.SetApprovalMail(mailer.NewOutbox(e.db, e.svc.sealer, nil, "keyport.test"), r)
	before := must(e.db.OutboxCounts(ctx))[models.MailPending]
	a, err := e.svc.RequestApproval(ctx, e.tenant.ID, e.by, keyID, models.ApprovalExport)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.DecideApproval(ctx, e.tenant.ID, approver, keyID, a.ID, false); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range r.sent {
		got = append(got, m.Event+":"+m.To)
	}
	want := []string{"pending:co-owner@tenant.test", "pending:owner@tenant.test", "pending:veteran@tenant.test", "denied:co-owner@tenant.test", "denied:owner@tenant.test"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("approval emails went to %v, want %v", got, want)
	}
	if n := must(e.db.OutboxCounts(ctx))[models.MailPending] - before; n != 5 {
		t.Errorf("%d approval emails in the outbox, want 5", n)
	}
	if r.sent[3].Decider != "veteran@tenant.test" || r.sent[0].Requester != "owner@tenant.test" {
		t.Errorf("emails name requester %q and decider %q", r.sent[0].Requester, r.sent[2].Decider)
	}
}

// TestApprovalNeedsAPossibleApprover: issue 14 item 5. A request nobody
// could decide is refused with who could and why nobody can yet; once
// an admin qualifies, the request is made and that admin is emailed.
func TestApprovalNeedsAPossibleApprover(t *testing.T) {
	e := newLCEnv(t)
	ctx := context.Background()
	keyID := e.create(t, "guarded", 0).Key.ID
	r := &recordingRenderer{}
	e.svc.SetApprovalMail(mailer.NewOutbox(e.db, e.svc.sealer, nil, "keyport.test"), r)
	refused := func(name string, want ...string) {
		t.Helper()
		_, err := e.svc.RequestApproval(ctx, e.tenant.ID, e.by, keyID, models.ApprovalExport)
		var ve *keysvc.ValidationError
		if !errors.As(err, &ve) || ve.Field != "approval" {
			t.Fatalf("%s: %v, want a refusal", name, err)
		}
		for _, w := range append(want, "Invite another admin first", "another owner or admin", "at least 24 hours") {
			if !strings.Contains(ve.Message, w) {
				t.Errorf("%s: %q does not say %q", name, ve.Message, w)
			}
		}
	}
	refused("alone")
	e.member(t, "auditor@tenant.test", models.RoleAuditor, "")
	e.member(t, "mine@tenant.test", models.RoleAdmin, e.owner.ID)
	refused("an auditor and an admin the owner invited", "mine@tenant.test (admin): you invited them")
	e.member(t, "fresh@tenant.test", models.RoleAdmin, "")
	refused("an admin who joined just now", "fresh@tenant.test (admin): joined less than 24 hours ago, can decide from ")
	if n := len(must(e.db.OpenApprovals(ctx, e.tenant.ID))); n != 0 || len(r.sent) != 0 {
		t.Fatalf("refused requests left %d approvals and %d emails", n, len(r.sent))
	}
	e.clk.Advance(DefaultApproverMinAge + time.Minute)
	if _, err := e.svc.RequestApproval(ctx, e.tenant.ID, e.by, keyID, models.ApprovalExport); err != nil {
		t.Fatalf("with an admin who can decide: %v", err)
	}
	var got []string
	for _, m := range r.sent {
		got = append(got, m.To)
	}
	if strings.Join(got, ",") != "fresh@tenant.test,owner@tenant.test" {
		t.Errorf("request emailed %v, want the possible approver and the owner", got)
	}
}
