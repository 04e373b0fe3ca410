package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"keyport/keysvc"
	"keyport/keysvc/managed"
	"keyport/models"
	"keyport/web/mailcatcher"
)

// TestScheduledRenewalEndToEnd is the automatic renewal of a key keyport
// made (Cryptomathic's "automatic key renewal", with its notice email),
// with nothing but the clock moving: a policy saved on the key's page,
// the notice due and mailed over SMTP, then the rotation due and run by
// the scheduler through the real job path against kmslocal. The renewal
// makes a new EXTERNAL KMS key with new material, moves the alias to it
// and leaves the old key enabled, and the owner is told by email.
func TestScheduledRenewalEndToEnd(t *testing.T) {
	s := newStack(t, nil)
	s.Managed.AttachWorker(s.Jobs)
	s.Rot.SetRotator(models.ModeGenerated, s.Managed)
	s.Managed.PreferWrappingKeySpec("RSA_2048")
	ctx := context.Background()
	b := newBrowser(t)
	s.signIn(t, b, dana)
	tenant, owner := s.tenantOf(t, dana), s.userID(t, dana)

	by := keysvc.RequestBy{UserID: owner}
	conn, err := s.Keys.CreateConnection(ctx, tenant, by, keysvc.ConnectionInput{Name: "prod", AccountID: awsTenantAcct,
		DefaultRegion: awsRegion, Kind: "access_key", AccessKeyID: awsUserAKID, Secret: awsUserSecret})
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Managed.CreateStore(ctx, tenant, by, managed.StoreInput{Name: "main", ConnectionID: conn.ID})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Managed.CreateGeneratedKey(ctx, tenant, by, managed.CreateKeyInput{StoreID: st.ID, Name: "payments", ValidDays: 365})
	if err != nil || !r.Done() {
		t.Fatalf("create key: %v %+v", err, r)
	}
	keyID := r.Key.ID
	mk, err := s.DB.GetManagedKey(ctx, tenant, keyID)
	if err != nil {
		t.Fatal(err)
	}
	oldARN := activeKMSKey(t, s, tenant, keyID)

	// The policy, on the key's rotation page: every 30 days, automatic,
	// a notice 7 days before.
	rotURL := s.URL + "/keys/" + keyID + "/rotation"
	_, page := b.get(t, rotURL)
	res, _ := b.post(t, rotURL, url.Values{"csrf_token": {csrfToken(t, page)}, "period_days": {"30"}, "notice_days": {"7"},
		"automatic": {"true"}, "window_start_hour": {"3"}, "window_hours": {"2"}}, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("save policy: %d", res.StatusCode)
	}

	wait := func(subject string) mailcatcher.Message {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		m, err := s.Mail.WaitFor(wctx, func(m mailcatcher.Message) bool { return m.Subject == subject })
		if err != nil {
			t.Fatalf("no email %q: %v", subject, err)
		}
		return m
	}
	run := func() {
		t.Helper()
		s.Jobs.Tick(ctx)
		if _, err := s.Jobs.RunDue(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Jobs.RunDue(ctx); err != nil { // the emails the first pass queued
			t.Fatal(err)
		}
	}

	// 24 days on: the notice is due and mailed; nothing is renewed yet.
	s.Clock.Advance(24 * 24 * time.Hour)
	run()
	if m := wait("Key payments rotates in 7 days"); len(m.To) != 1 || m.To[0] != dana.Email {
		t.Errorf("notice sent to %v", m.To)
	}
	if got := activeKMSKey(t, s, tenant, keyID); got != oldARN {
		t.Fatalf("renewed before the rotation was due: %s", got)
	}

	// Past the due date and its window: the scheduler renews.
	s.Clock.Advance(7 * 24 * time.Hour)
	run()
	k, err := s.DB.GetKey(ctx, tenant, keyID)
	if err != nil || k.CurrentVersion != 2 || k.State != models.StateEnabled {
		t.Fatalf("key after the scheduled renewal: %+v %v", k, err)
	}
	newARN := activeKMSKey(t, s, tenant, keyID)
	if newARN == oldARN || newARN == "" {
		t.Fatalf("the renewal made no new KMS key: %s", newARN)
	}
	admin := kms.NewFromConfig(s.KMS.AWSConfig(awsRegion, awsAdminAKID, awsAdminSecret))
	viaAlias, err := admin.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(mk.AliasName)})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(viaAlias.KeyMetadata.Arn); got != newARN {
		t.Errorf("alias %s names %s, want the new key %s", mk.AliasName, got, newARN)
	}
	if viaAlias.KeyMetadata.Origin != "EXTERNAL" {
		t.Errorf("the new KMS key's origin is %s, want EXTERNAL", viaAlias.KeyMetadata.Origin)
	}
	old, err := admin.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(oldARN)})
	if err != nil || old.KeyMetadata.KeyState != "Enabled" {
		t.Errorf("the old KMS key after the renewal: %+v %v (it stays enabled)", old, err)
	}
	m := wait("Key payments was rotated to version 2")
	if !strings.Contains(m.Text, "payments") || !strings.Contains(m.Text, "This rotation was a renewal") || strings.Contains(m.Text, "nothing to undo") {
		t.Errorf("rotated email:\n%s", m.Text)
	}
	ops, err := s.DB.KeyOperations(ctx, tenant, keyID, 10)
	if err != nil || len(ops) == 0 || ops[0].Kind != models.OpRenew || ops[0].State != models.OpDone || ops[0].Actor != "system" {
		t.Fatalf("the renewal was not a scheduled operation: %+v %v", ops, err)
	}
	acts := strings.Join(s.auditActions(t, tenant), " ")
	for _, a := range []string{"key.rotation_policy_set", "key.renew_completed"} {
		if !strings.Contains(acts, a) {
			t.Errorf("no audit event %s", a)
		}
	}
}
